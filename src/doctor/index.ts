import type { DataSource } from 'typeorm';
import type { Config } from '../config/schema';
import type { AsteriskPort } from '../core/asterisk-port';
import type { Clock } from '../core/clock';
import {
  type CheckResult,
  type DoctorReport,
  type DoctorService,
  overallStatus,
  type PartnerProbe,
} from '../core/diagnostics';
import { errorMessage } from '../core/errors';
import type { FederationAdmin, PeerView } from '../core/federation-admin';
import type { Logger } from '../logging/logger';
import { addressChecks, type Lookup } from './address-checks';
import { asteriskChecks } from './asterisk-checks';
import { check } from './check';
import { databaseChecks, fileChecks } from './instance-checks';

/**
 * `uuru-fed doctor`: checks what an admin must get right around the sidecar
 * and says, for each, ok / warn / fail and what to do. The admin API
 * (GET /api/admin/doctor), the panel and the CLI show the same report. One
 * file per group of checks; this runner runs the groups side by side, turns a
 * group that throws into one failed result, and places test calls only when
 * asked.
 */

export interface DoctorDeps {
  config: Config;
  db: DataSource;
  clock: Clock;
  logger: Logger;
  federation: FederationAdmin;
  asterisk: AsteriskPort;
  partners: PartnerProbe;
  /** DNS lookup for the address checks (the system resolver unless replaced). */
  lookup?: Lookup;
}

export function createDoctor(deps: DoctorDeps): DoctorService {
  const log = deps.logger.child({ component: 'doctor' });
  /** One run at a time per kind: a second caller joins the run in flight. */
  const running = new Map<boolean, Promise<DoctorReport>>();

  const group = async (
    name: string,
    run: () => Promise<CheckResult[]> | CheckResult[],
  ): Promise<CheckResult[]> => {
    try {
      return await run();
    } catch (e) {
      log.warn('a doctor check failed to run', { group: name, error: errorMessage(e) });
      return [
        check(`${name}.error`, `Checks of ${name}`, 'fail', `the check itself failed: ${errorMessage(e)}`),
      ];
    }
  };

  const testCalls = async (peers: PeerView[]): Promise<CheckResult[]> => {
    const out: CheckResult[] = [];
    // One call at a time: they all go through the same Asterisk, and a partner may limit concurrent calls.
    for (const p of peers) {
      const id = `call.${p.name}`;
      const title = `Test call through ${p.name}`;
      if (!deps.config.asterisk.enabled) {
        out.push(check(id, title, 'skip', 'Asterisk integration is switched off in this instance'));
        continue;
      }
      const r = await deps.asterisk.testCall(p.name);
      out.push(
        r.answered
          ? check(id, title, 'ok', `answered by the partner's test extension in ${r.setupMs ?? '?'} ms`)
          : check(
              id,
              title,
              'fail',
              `not answered: ${r.error ?? 'no answer'}`,
              "Look at the peer's reachability and apply state (uuru-fed peers list); ask the partner's admin whether their test extension answers.",
            ),
      );
    }
    return out;
  };

  const runOnce = async (call: boolean): Promise<DoctorReport> => {
    const startedAt = deps.clock.now();
    const peers = await deps.federation.listPeers().catch(() => [] as PeerView[]);
    const groups = await Promise.all([
      group('database', () => databaseChecks(deps.config, deps.db)),
      group('files', () => fileChecks(deps.config, deps.db)),
      group('address', () => addressChecks(deps.config, peers, deps.lookup)),
      group('asterisk', () => asteriskChecks(deps.config)),
      group('partner', () => deps.partners.checkPartners()),
    ]);
    const checks = groups.flat();
    if (call) checks.push(...(await group('call', () => testCalls(peers))));
    const report: DoctorReport = {
      status: overallStatus(checks),
      checks,
      startedAt,
      durationMs: deps.clock.now() - startedAt,
      calls: call,
    };
    log.info('doctor ran', {
      status: report.status,
      failed: checks.filter((c) => c.status === 'fail').map((c) => c.id),
      warned: checks.filter((c) => c.status === 'warn').map((c) => c.id),
    });
    return report;
  };

  return {
    run({ call }) {
      let p = running.get(call);
      if (!p) {
        p = runOnce(call).finally(() => running.delete(call));
        running.set(call, p);
      }
      return p;
    },
  };
}
