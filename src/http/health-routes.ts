import { Router } from 'express';
import type { AsteriskConnectionStatus } from '../core/asterisk-port';

/** What the health routes ask of the running sidecar (the App implements it). */
export interface AppRuntime {
  databaseStatus(): Promise<'up' | 'down' | 'connecting'>;
  asteriskStatus(): AsteriskConnectionStatus;
  /** With a Valkey server configured (config.ha.valkeyUrl): whether it answers; null without one. */
  valkeyStatus?(): Promise<'up' | 'down' | null>;
}

/** What /readyz can name as not ready. */
export type ReadinessPart = 'database' | 'ami';

/**
 * What keeps the sidecar from doing its work: the database not answering, or
 * (with Asterisk enabled) the AMI link not connected, through which every
 * trunk is applied and verified. ARI (test calls) is reported, not required.
 */
export function notReady(
  db: 'up' | 'down' | 'connecting',
  asterisk: AsteriskConnectionStatus,
): ReadinessPart[] {
  const parts: ReadinessPart[] = [];
  if (db !== 'up') parts.push('database');
  if (asterisk.enabled && asterisk.ami !== 'connected') parts.push('ami');
  return parts;
}

/**
 * /healthz (liveness): the process answers, whatever its dependencies do.
 * /readyz (readiness): 200 when the database answers and, with Asterisk
 * enabled, AMI is connected; otherwise 503 with `not_ready` naming the parts.
 * With a Valkey server (replicas, config.ha.valkeyUrl) its state is reported
 * as `valkey` but does not make a replica unready: every replica shares the one
 * server, so taking them all out of a load balancer would gain nothing, and
 * federation keeps answering without it (its rate limits count per replica
 * meanwhile); panel sessions refuse with VALKEY_UNAVAILABLE until it is back.
 */
export function healthRoutes(rt: AppRuntime): Router {
  const r = Router();
  r.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  r.get('/readyz', async (_req, res) => {
    const db = await rt.databaseStatus();
    const asterisk = rt.asteriskStatus();
    const valkey = (await rt.valkeyStatus?.()) ?? null;
    const missing = notReady(db, asterisk);
    const ready = missing.length === 0;
    res.status(ready ? 200 : 503).json({
      status: ready ? 'ready' : 'not_ready',
      ...(ready ? {} : { not_ready: missing }),
      database: db,
      asterisk,
      ...(valkey ? { valkey } : {}),
    });
  });
  return r;
}
