import type { EventEmitter } from 'node:events';
import type { Request, Response } from 'express';
import { errorMessage } from '../../core/errors';
import type { Logger } from '../../logging/logger';
import type { Job } from '../../jobs/job';
import { SingleFlight } from '../../jobs/single-flight';
import type { AdminAuth, SessionPrincipal } from '../admin/admin-auth';
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
  const [peers, outgoing, incoming, deliveries, partners] = await Promise.all([
    s.federation.listPeers(),
    s.federation.listOutgoingRequests(),
    s.federation.listIncomingRequests(),
    s.federation.listDeliveries(),
    s.federation.listPartnerHealth(),
  ]);
  return { peers, outgoing, incoming, deliveries, partners, status: s.asterisk.status() };
}

/** One open event stream. */
interface Stream {
  /** Sends a snapshot if it differs from the last one sent (coalesced). */
  push(): void;
  heartbeat(): void;
  close(): void;
}

export class PanelEvents {
  private readonly open = new Set<Stream>();

  /**
   * The periodic look at the database and the keep-alive comment, for every
   * open stream at once; the admin feature adds them to the app's JobRunner.
   */
  readonly jobs: Job[] = [
    {
      name: 'panel-snapshots',
      schedule: { everyMs: SNAPSHOT_INTERVAL_MS },
      run: async () => this.open.forEach((s) => s.push()),
    },
    {
      name: 'panel-heartbeat',
      schedule: { everyMs: HEARTBEAT_MS },
      run: async () => this.open.forEach((s) => s.heartbeat()),
    },
  ];

  constructor(
    private readonly services: AdminServices,
    private readonly auth: AdminAuth,
    private readonly changes: EventEmitter,
    private readonly logger: Logger,
  ) {}

  readonly handler = (req: Request, res: Response): void => {
    this.auth.sessionFrom(req).then(
      (principal) => this.openStream(principal, req, res),
      () => {
        if (!res.headersSent)
          res.status(503).json({ error: 'FED_UNAVAILABLE', message: 'sessions unreachable' });
      },
    );
  };

  private openStream(principal: SessionPrincipal | null, req: Request, res: Response): void {
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
    let closed = false;
    const sendSnapshot = async (): Promise<void> => {
      try {
        if (!(await this.auth.sessions.get(principal.sessionId))) {
          stream.close();
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
      } catch (e) {
        this.logger.debug('panel snapshot failed', { component: 'panel', error: errorMessage(e) });
      }
    };
    // A change announced while a snapshot is being built asks for one more after it.
    const snapshots = new SingleFlight(sendSnapshot, { rerunWhen: () => !closed });
    const stream: Stream = {
      push: () => void snapshots.trigger(),
      heartbeat: () => {
        if (!res.writableEnded) res.write(': keep-alive\n\n');
      },
      close: () => {
        closed = true;
        this.changes.off('change', stream.push);
        this.open.delete(stream);
        if (!res.writableEnded) res.end();
      },
    };
    this.changes.on('change', stream.push);
    this.open.add(stream);
    req.on('close', stream.close);
    stream.push();
  }

  closeAll(): void {
    for (const s of [...this.open]) s.close();
  }
}
