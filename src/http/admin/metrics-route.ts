import { type Request, type Response, Router } from 'express';
import type { AsteriskPort } from '../../core/asterisk-port';
import type { Clock } from '../../core/clock';
import type { PeerApplyStates } from '../../core/replicas';
import type { Metrics } from '../../core/metrics';
import type { StateGaugeSource } from '../../core/state-gauges';

/**
 * GET /metrics. Counters are fed by the layers as things happen; the gauges
 * that describe state (peers, keys, outbox, Asterisk links) are refreshed on
 * every scrape from the state-gauge port (the store reads the tables their
 * layers own) and the Asterisk port, so they are right even in a process that
 * has not seen the change itself, and the per-peer series follow the Peer rows
 * (there from the peer's creation, gone with it). This route reads no table.
 */

export async function refreshStateGauges(
  metrics: Metrics,
  state: StateGaugeSource,
  asterisk: AsteriskPort,
  clock: Clock,
  applyStates?: PeerApplyStates,
): Promise<void> {
  const snap = await state.snapshot();
  // Replicas: a peer's apply state over the live replicas' Asterisk nodes (applied only when applied on every one).
  const nodes = applyStates ? await applyStates.summarize(snap.peers.map((p) => p.id)) : null;
  await metrics.syncPeers(
    snap.peers.map((p) => ({ ...p, applyState: nodes?.get(p.id)?.applyState ?? p.applyState })),
  );
  metrics.peerKeyExpiry.reset();
  for (const p of snap.peers)
    if (p.partnerKeyExpiresAt !== null)
      metrics.peerKeyExpiry.set({ peer: p.name }, p.partnerKeyExpiresAt / 1000);
  metrics.keyExpiry.reset();
  for (const k of snap.localKeys)
    metrics.keyExpiry.set({ kid: k.kid, alg: k.alg, status: k.status }, k.expiresAt / 1000);
  metrics.outboxDepth.set(snap.outbox.depth);
  const oldest = snap.outbox.oldestCreatedAt;
  metrics.outboxOldestAge.set(oldest === null ? 0 : Math.max(0, (clock.now() - oldest) / 1000));
  const status = asterisk.status();
  metrics.setLinkState('ami', status.ami);
  metrics.setLinkState('ari', status.ari);
}

export function metricsRouter(deps: {
  metrics: Metrics;
  state: StateGaugeSource;
  asterisk: AsteriskPort;
  clock: Clock;
  applyStates?: PeerApplyStates;
}): Router {
  const r = Router();
  r.get('/metrics', async (_req: Request, res: Response) => {
    await refreshStateGauges(deps.metrics, deps.state, deps.asterisk, deps.clock, deps.applyStates);
    res.setHeader('Content-Type', deps.metrics.registry.contentType);
    res.setHeader('Cache-Control', 'no-store');
    res.send(await deps.metrics.registry.metrics());
  });
  return r;
}
