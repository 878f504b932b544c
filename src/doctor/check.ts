import type { AsteriskLinkFailure } from '../core/asterisk-port';
import { checkOf, type CheckResult, type CheckStatus } from '../core/diagnostics';

/** Why a fresh AMI or ARI login did not succeed, as the doctor's probes tell it. */
export interface LoginFailure {
  kind: AsteriskLinkFailure;
  detail: string;
}

/** Builds one check result; `fix` is null when there is nothing to do. */
export function check(
  id: string,
  title: string,
  status: CheckStatus,
  detail: string,
  fix: string | null = null,
): CheckResult {
  return checkOf(id, title)[status](detail, fix);
}

/** A check that could not run because another one failed or a feature is off. */
export function skipped(id: string, title: string, why: string): CheckResult {
  return check(id, title, 'skip', why);
}
