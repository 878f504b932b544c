import { Router } from 'express';
import type { AsteriskConnectionStatus } from '../core/asterisk-port';

/** What the health routes ask of the running sidecar (the App implements it). */
export interface AppRuntime {
  databaseStatus(): Promise<'up' | 'down' | 'connecting'>;
  asteriskStatus(): AsteriskConnectionStatus;
}

/** /healthz: the process is alive. /readyz: the DB answers; Asterisk connections are reported. */
export function healthRoutes(rt: AppRuntime): Router {
  const r = Router();
  r.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  r.get('/readyz', async (_req, res) => {
    const db = await rt.databaseStatus();
    const asterisk = rt.asteriskStatus();
    const ready = db === 'up';
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not_ready', database: db, asterisk });
  });
  return r;
}
