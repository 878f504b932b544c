import type { EventEmitter } from 'node:events';
import type { Request, Response } from 'express';
import { errorMessage } from '../../core/errors';
import type { Logger } from '../../logging/logger';
import type { AdminAuth } from '../admin/admin-auth';
import type { AdminServices } from '../admin/api-routes';
import { federationFragments, type FederationSnapshot } from './federation-page';

/**
 * GET /panel/events: server-sent events carrying freshly rendered table
 * fragments of the Federation page. A snapshot is sent on connect, whenever
 * an admin action announces a change, and otherwise when a periodic look at
 * the database finds something different (trunk state written by the
 * Asterisk layer, requests arriving from partners).
 */

export const SNAPSHOT_INTERVAL_MS = 2000;
const HEARTBEAT_MS = 15000;

export async function loadSnapshot(s: AdminServices): Promise<FederationSnapshot> {
  const [peers, outgoing, incoming, deliveries] = await Promise.all([
    s.federation.listPeers(),
    s.federation.listOutgoingRequests(),
    s.federation.listIncomingRequests(),
    s.federation.listDeliveries(),
  ]);
  return { peers, outgoing, incoming, deliveries, status: s.asterisk.status() };
}

export class PanelEvents {
  private readonly open = new Set<() => void>();

  constructor(
    private readonly services: AdminServices,
    private readonly auth: AdminAuth,
    private readonly changes: EventEmitter,
    private readonly logger: Logger,
  ) {}

  readonly handler = (req: Request, res: Response): void => {
    const principal = this.auth.sessionFrom(req);
    if (!principal) {
      res.status(401).json({ error: 'AUTH_REQUIRED', message: 'sign in to the panel first' });
      return;
    }
    res.status(200);
    res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Connection', 'keep-alive');
    res.setHeader('X-Accel-Buffering', 'no');
    res.flushHeaders();
    res.write('retry: 3000\n\n');

    let last = '';
    let busy = false;
    let again = false;
    const push = async (): Promise<void> => {
      if (busy) {
        again = true;
        return;
      }
      busy = true;
      try {
        do {
          again = false;
          if (!this.auth.sessions.get(principal.sessionId)) {
            close();
            return;
          }
          const snapshot = await loadSnapshot(this.services);
          const body = JSON.stringify({
            fragments: federationFragments(snapshot, principal.session.csrfToken),
          });
          if (body !== last && !res.writableEnded) {
            last = body;
            res.write(`event: snapshot\ndata: ${body}\n\n`);
          }
        } while (again);
      } catch (e) {
        this.logger.debug('panel snapshot failed', { component: 'panel', error: errorMessage(e) });
      } finally {
        busy = false;
      }
    };
    const onChange = () => void push();
    const poll = setInterval(() => void push(), SNAPSHOT_INTERVAL_MS);
    const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
    const close = () => {
      clearInterval(poll);
      clearInterval(heartbeat);
      this.changes.off('change', onChange);
      this.open.delete(close);
      if (!res.writableEnded) res.end();
    };
    this.changes.on('change', onChange);
    this.open.add(close);
    req.on('close', close);
    void push();
  };

  closeAll(): void {
    for (const close of [...this.open]) close();
  }
}
