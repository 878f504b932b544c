/**
 * When a partner's keys run out: the expiry of the last of its trusted
 * signing keys, epoch ms. Until then at least one key we trust can sign its
 * calls; a partner that rotates keeps moving it ahead (its next key is
 * published, and trusted through its endorsement, long before), so it comes
 * near only when rotation stops or its new key is held for an admin. Null
 * when nothing expires (a key without an expiry, or no keys: v1 partners).
 * One definition for the metric (uuru_fed_peer_key_expiry_timestamp_seconds)
 * and the "key nearing expiry" notice.
 */
export function partnerKeyExpiry(signingKeys: readonly { expiresAt?: string | null }[]): number | null {
  let last: number | null = null;
  for (const k of signingKeys) {
    if (!k.expiresAt) return null;
    const t = Date.parse(k.expiresAt);
    if (!Number.isFinite(t)) return null;
    if (last === null || t > last) last = t;
  }
  return last;
}
