/**
 * What GET /metrics shows as state gauges (peers, partner key expiry, our
 * keys, the outbox), read in one go on every scrape. The admin layer asks this
 * port; the store implements it (src/store/state-gauges.ts) on the tables the
 * protocol and the Asterisk layer own, read-only.
 */
export interface StateGaugeSnapshot {
  peers: {
    id: string;
    name: string;
    reachability: string;
    latencyMs: number | null;
    lastSeen: number | null;
    applyState: string;
    /** When the partner's last signing key expires (epoch ms), or null (v1, no expiry). */
    partnerKeyExpiresAt: number | null;
  }[];
  /** Our signing keys that are not retired. */
  localKeys: { kid: string; alg: string; status: string; expiresAt: number }[];
  /** Pending outbox items: how many, and when the oldest was queued (epoch ms). */
  outbox: { depth: number; oldestCreatedAt: number | null };
}

export interface StateGaugeSource {
  snapshot(): Promise<StateGaugeSnapshot>;
}
