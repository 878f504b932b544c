import { type Request, type Response, Router } from 'express';
import type { DataSource } from 'typeorm';
import type { AsteriskPort } from '../../core/asterisk-port';
import type { Clock } from '../../core/clock';
import type { Metrics } from '../../core/metrics';
import { OutboxEntity, PeerEntity, type Reachability } from '../../store/entities';

/**
 * GET /metrics. Counters are fed by the layers as things happen; the gauges
 * that describe state (peers, outbox, Asterisk links) are refreshed from the
 * database and the Asterisk port on every scrape, so they are right even in
 * a process that has not seen the change itself.
 */

const REACHABILITY_VALUE: Record<Reachability, number> = {
  reachable: 1,
  lagged: 0.5,
  unreachable: 0,
  unknown: -1,
  unmonitored: -1,
};

export async function refreshStateGauges(
  metrics: Metrics,
  db: DataSource,
  asterisk: AsteriskPort,
  clock: Clock,
): Promise<void> {
  const peers = await db
    .getRepository(PeerEntity)
    .find({ select: { name: true, reachability: true, latencyMs: true } });
  metrics.peerReachable.reset();
  metrics.peerLatency.reset();
  for (const p of peers) {
    metrics.peerReachable.set({ peer: p.name }, REACHABILITY_VALUE[p.reachability] ?? -1);
    if (p.latencyMs !== null) metrics.peerLatency.set({ peer: p.name }, p.latencyMs);
  }
  const outbox = await db
    .getRepository(OutboxEntity)
    .createQueryBuilder('o')
    .select('COUNT(*)', 'depth')
    .addSelect('MIN(o.createdAt)', 'oldest')
    .where('o.state = :state', { state: 'pending' })
    .getRawOne<{ depth: string | number; oldest: string | number | null }>();
  const depth = Number(outbox?.depth ?? 0);
  metrics.outboxDepth.set(depth);
  const oldest = outbox?.oldest === null || outbox?.oldest === undefined ? null : Number(outbox.oldest);
  metrics.outboxOldestAge.set(oldest === null ? 0 : Math.max(0, (clock.now() - oldest) / 1000));
  const status = asterisk.status();
  metrics.setLinkState('ami', status.ami);
  metrics.setLinkState('ari', status.ari);
}

export function metricsRouter(deps: {
  metrics: Metrics;
  db: DataSource;
  asterisk: AsteriskPort;
  clock: Clock;
}): Router {
  const r = Router();
  r.get('/metrics', async (_req: Request, res: Response) => {
    await refreshStateGauges(deps.metrics, deps.db, deps.asterisk, deps.clock);
    res.setHeader('Content-Type', deps.metrics.registry.contentType);
    res.setHeader('Cache-Control', 'no-store');
    res.send(await deps.metrics.registry.metrics());
  });
  return r;
}
