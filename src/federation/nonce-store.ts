/**
 * Replay protection: a nonce is reserved once per keyid until it expires.
 * Kept in the database (src/store/typeorm/nonce-store.ts) so that replicas
 * sharing the database refuse each other's replays too. Expired nonces are
 * deleted by the nonce-purge job (purgeExpired, every 5 minutes,
 * src/federation/index.ts).
 */
export interface NonceStore {
  /** True when the nonce was free (or its earlier reservation expired) and is now reserved until expiresAt (epoch ms); false on reuse. */
  reserve(keyId: string, nonce: string, expiresAt: number): Promise<boolean>;
  /** Deletes expired nonces; returns how many went. */
  purgeExpired(): Promise<number>;
}
