import { type Request, type Response, Router } from 'express';
import { type DataSource, Not } from 'typeorm';
import type { AsteriskPort } from '../../core/asterisk-port';
import type { Clock } from '../../core/clock';
import type { PeerApplyStates } from '../../core/replicas';
import type { Metrics } from '../../core/metrics';
import { partnerKeyExpiry } from '../../core/partner-key-expiry';
import { LocalKeyEntity, OutboxEntity, PartnerEntity, PeerEntity } from '../../store/entities';

/**
 * GET /metrics. Counters are fed by the layers as things happen; the gauges
 * that describe state (peers, keys, outbox, Asterisk links) are refreshed
 * from the database and the Asterisk port on every scrape, so they are right
 * even in a process that has not seen the change itself, and the per-peer
 * series follow the Peer rows (there from the peer's creation, gone with it).
 */

export async function refreshStateGauges(
  metrics: Metrics,
  db: DataSource,
  asterisk: AsteriskPort,
  clock: Clock,
  applyStates?: PeerApplyStates,
): Promise<void> {
  const rows = await db.getRepository(PeerEntity).find({
    select: {
      id: true,
      name: true,
      reachability: true,
      latencyMs: true,
      lastSeen: true,
      applyState: true,
      partnerServerName: true,
    },
  });
  // Replicas: a peer's apply state over the live replicas' Asterisk nodes (applied only when applied on every one).
  const nodes = applyStates ? await applyStates.summarize(rows.map((p) => p.id)) : null;
  const peers = rows.map((p) => ({ ...p, applyState: nodes?.get(p.id)?.applyState ?? p.applyState }));
  await metrics.syncPeers(peers);
  const partners = await db
    .getRepository(PartnerEntity)
    .find({ select: { serverName: true, signingKeys: true } });
  const expiryOf = new Map(partners.map((p) => [p.serverName, partnerKeyExpiry(p.signingKeys)]));
  metrics.peerKeyExpiry.reset();
  for (const p of peers) {
    const expiry = p.partnerServerName ? expiryOf.get(p.partnerServerName.toLowerCase()) : null;
    if (expiry !== null && expiry !== undefined) metrics.peerKeyExpiry.set({ peer: p.name }, expiry / 1000);
  }
  const keys = await db.getRepository(LocalKeyEntity).find({
    select: { kid: true, alg: true, status: true, expiresAt: true },
    where: { status: Not('retired') },
  });
  metrics.keyExpiry.reset();
  for (const k of keys)
    metrics.keyExpiry.set({ kid: k.kid, alg: k.alg, status: k.status }, k.expiresAt / 1000);
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
  applyStates?: PeerApplyStates;
}): Router {
  const r = Router();
  r.get('/metrics', async (_req: Request, res: Response) => {
    await refreshStateGauges(deps.metrics, deps.db, deps.asterisk, deps.clock, deps.applyStates);
    res.setHeader('Content-Type', deps.metrics.registry.contentType);
    res.setHeader('Cache-Control', 'no-store');
    res.send(await deps.metrics.registry.metrics());
  });
  return r;
}
