/**
 * The doctor's result shapes (src/doctor runs the checks; the admin API, the
 * panel and the CLI show them) and the one check a feature contributes from
 * inside its own layer: the partner round trips of the protocol core.
 */

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';

export interface CheckResult {
  /** Stable identifier for scripts, e.g. "ami", "asterisk.include.iax", "partner.berlin". */
  id: string;
  /** What was checked, in a few words. */
  title: string;
  status: CheckStatus;
  /** What was found. Never a secret. */
  detail: string;
  /** What to do about it; null when there is nothing to do. */
  fix: string | null;
}

/** The results one check can give, by status. */
export type CheckResults = Record<CheckStatus, (detail: string, fix?: string | null) => CheckResult>;

/** The results one check can give, its id and title said once: `fix` is null when there is nothing to do. */
export function checkOf(id: string, title: string): CheckResults {
  const result =
    (status: CheckStatus) =>
    (detail: string, fix: string | null = null): CheckResult => ({ id, title, status, detail, fix });
  return { ok: result('ok'), warn: result('warn'), fail: result('fail'), skip: result('skip') };
}

export interface DoctorReport {
  /** fail when any check failed, else warn when any warned, else ok. */
  status: 'ok' | 'warn' | 'fail';
  checks: CheckResult[];
  /** Epoch ms. */
  startedAt: number;
  durationMs: number;
  /** Whether test calls were placed. */
  calls: boolean;
}

/** Runs every check (test calls only when asked: they ring the partners' test extensions). */
export interface DoctorService {
  run(opts: { call: boolean }): Promise<DoctorReport>;
}

/** Each partner's descriptor and a round trip it answers, one result per peer (the protocol core's part). */
export interface PartnerProbe {
  checkPartners(): Promise<CheckResult[]>;
}

export function overallStatus(checks: readonly CheckResult[]): DoctorReport['status'] {
  if (checks.some((c) => c.status === 'fail')) return 'fail';
  if (checks.some((c) => c.status === 'warn')) return 'warn';
  return 'ok';
}
