import os from 'node:os';
import type { DataSource } from 'typeorm';
import type { Clock } from '../../core/clock';
import type { Config } from '../../config/schema';
import { DbJobLeases } from './job-leases';
import { DbLoginFailures } from './login-failures';
import { DbOutboxClaims } from './outbox-claims';
import { DbRateLimiter, DbSharedBuckets } from './rate-limits';
import { DbSessionStore } from './sessions';
import { execute } from './sql';

export { DbJobLeases, DbLoginFailures, DbOutboxClaims, DbRateLimiter, DbSessionStore, DbSharedBuckets };

/**
 * The Asterisk node this replica is bound to (config.ha.asteriskNode), else its AMI address host:port;
 * null with Asterisk off (the replica applies nothing).
 */
export function asteriskNodeName(config: Pick<Config, 'ha' | 'asterisk'>): string | null {
  if (!config.asterisk.enabled) return null;
  const { host, port } = config.asterisk.ami;
  return (config.ha.asteriskNode ?? `${host}:${port}`).slice(0, 100);
}

/** This replica's name in leases and claims: the configured one, else host name and process id. */
export function replicaName(configured: string | undefined): string {
  return (configured ?? `${os.hostname()}-${process.pid}`).slice(0, 100);
}

/**
 * Deletes what expired in the shared-state tables (ended rate-limit windows,
 * failed logins and sessions older than their longest window). A cluster job.
 */
export async function purgeSharedState(
  db: DataSource,
  clock: Clock,
  keepMs: { rateWindowMs: number; loginWindowMs: number; sessionMaxMs: number },
): Promise<number> {
  const now = clock.now();
  let n = await DbRateLimiter.purge(db, now - keepMs.rateWindowMs);
  n += await execute(db, 'DELETE FROM `login_failures` WHERE `at` <= ?', [now - keepMs.loginWindowMs]);
  n += await execute(db, 'DELETE FROM `admin_sessions` WHERE `createdAt` < ?', [now - keepMs.sessionMaxMs]);
  return n;
}

export { DbReplicas, LIVE_BEATS, liveNodes } from './replicas';
export { DbNodeLease, nodeLeaseName } from './node-lease';
export { DbPeerApplyStates, NodePeerRunRows, peersMark } from './node-states';
