import { effectiveOverlapMs } from './trunk-secret-epochs';

/**
 * Agreement key rotation flowing into a new trunk secret epoch (docs/protocol.md,
 * "Agreement key rotation"). Pure: which pair of agreement keys (ours, the
 * partner's) the root of a period derives from, and what a peer must hold
 * for the next boundary. No message is exchanged: both sides read the same
 * facts, each side's agreement keys with the moment each came into force
 * (`not_before`, published in the descriptor), and apply one rule.
 *
 * The root of period k (epochs from k * length on) derives from the pair of
 * keys in force at the middle of period k - 1 (k * length - length / 2): on
 * each side the key with the latest not_before at or before that moment,
 * never one older than the key the peering's current root came from. So a
 * key rotated on either side reaches the trunk at the first boundary at least
 * half an epoch after it came into force; the half epoch leaves the partner
 * time to refetch our descriptor and both sides time to write the new root
 * before the boundary's overlap starts (an overlap is at most a third of an
 * epoch). Around that boundary the usual three steps hold: the new period's
 * secret (from the new keys) is accepted from boundary - overlap, sent from
 * the boundary, and the old one is gone from boundary + overlap.
 */

/** One side's agreement key as both sides know it: its id and when it came into force (null: not published). */
export interface DatedKey {
  kid: string;
  notBefore: number | null;
}

/** The moment whose keys a period's root derives from: the middle of the period before. */
export function keyReferenceMoment(period: number, epochMs: number): number {
  return period * epochMs - Math.floor(epochMs / 2);
}

/**
 * The key of one side in force at `at`: the latest, by not_before then kid,
 * among those in force by then and later in that order than the floor (the
 * key of the current root); the floor itself when none is, or when the floor
 * is unknown. Keys without a not_before never come into force here.
 */
export function keyInForce(keys: readonly DatedKey[], floorKid: string, at: number): string {
  const floor = keys.find((k) => k.kid === floorKid);
  if (!floor) return floorKid;
  let best = { kid: floor.kid, notBefore: floor.notBefore ?? Number.NEGATIVE_INFINITY };
  for (const k of keys) {
    if (k.notBefore === null || k.notBefore > at) continue;
    if (k.notBefore > best.notBefore || (k.notBefore === best.notBefore && k.kid > best.kid))
      best = { kid: k.kid, notBefore: k.notBefore };
  }
  return best.kid;
}

/** What a peer on epochs holds about its root's keys (src/core/records.ts, Peer). */
export interface RootKeys {
  secretEpochSeconds: number;
  /** Our agreement key and the partner's that the current root derives from. */
  agreementKid: string;
  partnerAgreementKid: string;
  /** A root written for a coming (or just passed) boundary, with its keys; null: none. */
  nextSecretFrom: number | null;
  nextAgreementKid: string | null;
  nextPartnerAgreementKid: string | null;
}

/** What the key-epochs job does for one peer at a moment. */
export type RootPlan =
  /** Nothing to change. */
  | { kind: 'keep' }
  /** The next root's overlap is over: it becomes the root. */
  | { kind: 'fold' }
  /** Write (or rewrite) the root of the period starting at `from`, derived from this pair. */
  | { kind: 'next'; from: number; agreementKid: string; partnerAgreementKid: string }
  /** A next root written earlier is no longer what the keys say (before its overlap started): drop it. */
  | { kind: 'drop' };

/**
 * The period whose root the job settles now: the next one from the middle of
 * the current period on (its reference moment has passed), else the current
 * one (a side that was down across a boundary catches up at once).
 */
export function targetPeriod(epochMs: number, now: number): number {
  const current = Math.floor(now / epochMs);
  return now >= keyReferenceMoment(current + 1, epochMs) ? current + 1 : current;
}

/**
 * One step for a peer: fold a finished next root, or settle the root of the
 * target period from both sides' dated keys. A next root is never changed
 * once its overlap has started (both sides may already accept or send it).
 */
export function planRoot(
  p: RootKeys,
  own: readonly DatedKey[],
  partner: readonly DatedKey[],
  now: number,
  overlapMs: number,
): RootPlan {
  const len = p.secretEpochSeconds * 1000;
  const w = effectiveOverlapMs(len, overlapMs);
  if (p.nextSecretFrom !== null && now >= p.nextSecretFrom + w) return { kind: 'fold' };
  if (p.nextSecretFrom !== null && now >= p.nextSecretFrom - w) return { kind: 'keep' };
  const period = targetPeriod(len, now);
  const at = keyReferenceMoment(period, len);
  const ownKid = keyInForce(own, p.agreementKid, at);
  const partnerKid = keyInForce(partner, p.partnerAgreementKid, at);
  const from = period * len;
  if (ownKid === p.agreementKid && partnerKid === p.partnerAgreementKid)
    return p.nextSecretFrom === null ? { kind: 'keep' } : { kind: 'drop' };
  if (p.nextSecretFrom === from && p.nextAgreementKid === ownKid && p.nextPartnerAgreementKid === partnerKid)
    return { kind: 'keep' };
  return { kind: 'next', from, agreementKid: ownKid, partnerAgreementKid: partnerKid };
}
