import { hkdfSync } from 'node:crypto';

/**
 * Epoch secrets of a v2 trunk (docs/protocol.md, "Trunk secret epochs").
 *
 * The peering's root secret is the one both sides derived once from their
 * agreement keys at the handshake (src/federation/secret-derivation.ts). A
 * peering that agreed an epoch length in the handshake does not use the root
 * on the wire: time is cut into epochs of that length, counted from
 * 1970-01-01T00:00Z, and the secret of epoch n is HKDF-SHA256 over the root
 * with the epoch number. Both sides compute the same secrets from their own
 * clocks, so no message is exchanged for a rotation.
 *
 * Around the boundary B between epochs n-1 and n, each side:
 * - from B - overlap: accepts both secrets, still sends the old one;
 * - from B: accepts both, sends the new one;
 * - from B + overlap: accepts and sends the new one only.
 * A call is set up with the caller's secret, which the callee accepts as long
 * as the two clocks differ by less than the overlap (less a margin for the
 * reload that applies each step).
 *
 * A peering without an agreed epoch length (made before epochs existed, or
 * with a partner that does not offer them) keeps the root secret for ever.
 */

/** Same length as the root: 30 bytes are 40 base64url characters, Asterisk's iaxfriends.secret is varchar(40). */
const SECRET_BYTES = 30;

/** The smallest epoch length the protocol accepts (seconds); the overlap must fit twice into an epoch. */
export const MIN_EPOCH_SECONDS = 60;
/** The largest epoch length (seconds): about ten years. */
export const MAX_EPOCH_SECONDS = 10 * 366 * 24 * 3600;

/** The secret of one epoch: HKDF-SHA256(root, salt, info = the epoch number). */
export function epochSecret(root: string, epoch: number): string {
  if (!Number.isSafeInteger(epoch) || epoch < 0) throw new Error(`epoch must be a non-negative integer`);
  const okm = hkdfSync(
    'sha256',
    Buffer.from(root, 'utf8'),
    Buffer.from('uuru-fed/2 trunk-secret-epoch', 'utf8'),
    Buffer.from(`epoch ${epoch}`, 'utf8'),
    SECRET_BYTES,
  );
  return Buffer.from(okm).toString('base64url');
}

/** What a trunk holds at one moment. */
export interface TrunkSecrets {
  /** Sent on outgoing calls (and accepted). */
  send: string;
  /** Accepted inbound besides `send` during an overlap (the previous or the next epoch's), else null. */
  alsoAccept: string | null;
  /** The current epoch number (forced rotations included), or null for a peering on a fixed secret. */
  epoch: number | null;
  /** When the next epoch starts (the next rotation of the sent secret), or null. */
  nextRotationAt: number | null;
  /** When what the trunk holds changes next (an overlap starts or ends, or a rotation), or null. */
  nextChangeAt: number | null;
  /** Which step of the boundary cycle the trunk is in; changes exactly when Asterisk must be re-applied. */
  phase: string;
}

/**
 * When a peering's epochs turn, besides time itself: forced rotations. An
 * admin's forced rotation (agreed with the partner over a signed v2 call) is
 * one more epoch from an agreed moment on, with the usual overlap around that
 * moment, exactly as at a boundary; rotations forced before count in the
 * offset.
 */
export interface EpochSchedule {
  /** The agreed epoch length in seconds, or null: a fixed secret. */
  secretEpochSeconds: number | null;
  /** Epochs added by forced rotations whose moment is settled (0 for a peering never forced). */
  secretEpochOffset?: number;
  /** The moment of the last forced rotation agreed (from it on, the offset is one more), or null. */
  secretShiftAt?: number | null;
}

export interface EpochPeering extends EpochSchedule, NextRoot {
  /** The root secret (the handshake's derivation, or v1's exchanged secret). */
  secret: string;
}

/**
 * A root that takes over from a period boundary on (agreement key rotation,
 * src/federation/key-epochs.ts): the epochs of the periods starting at or
 * after `nextSecretFrom` derive from `nextSecret`, earlier ones from the
 * peering's root. Absent or null: the root for every period.
 */
export interface NextRoot {
  nextSecret?: string | null;
  nextSecretFrom?: number | null;
}

/**
 * The root an epoch secret derives from, by the period (floor(time / length))
 * the epoch belongs to: a forced rotation's epochs stay in their period, a
 * boundary's neighbour is in the period before or after.
 */
export function rootForPeriod(p: { secret: string } & NextRoot, period: number, epochMs: number): string {
  const from = p.nextSecretFrom ?? null;
  const next = p.nextSecret ?? null;
  return next !== null && from !== null && period * epochMs >= from ? next : p.secret;
}

/** The overlap actually used for an epoch length: at most a third of the epoch, so overlaps never meet. */
export function effectiveOverlapMs(epochMs: number, overlapMs: number): number {
  return Math.max(0, Math.min(overlapMs, Math.floor(epochMs / 3)));
}

/** Where a moment falls in the epoch cycle of one epoch length (no secrets involved). */
export interface EpochPhase {
  epoch: number;
  /** -1: in the overlap after a boundary (the previous epoch's secret is still accepted); 1: before one (the next one is); 0: neither. */
  neighbour: -1 | 0 | 1;
  nextRotationAt: number;
  nextChangeAt: number;
  /** Changes exactly when what the trunk holds changes. */
  phase: string;
  /** The period (floor(now / length), forced rotations not counted) of the sent epoch, and of the neighbour. */
  period: number;
  neighbourPeriod: number;
}

export function epochPhaseAt(epochSeconds: number, now: number, overlapMs: number): EpochPhase {
  const len = epochSeconds * 1000;
  const w = effectiveOverlapMs(len, overlapMs);
  const n = Math.floor(now / len);
  const start = n * len;
  const next = start + len;
  const at = { epoch: n, period: n, nextRotationAt: next };
  if (n > 0 && now < start + w)
    return { ...at, neighbour: -1, neighbourPeriod: n - 1, nextChangeAt: start + w, phase: `${n}:after` };
  if (now >= next - w)
    return { ...at, neighbour: 1, neighbourPeriod: n + 1, nextChangeAt: next, phase: `${n}:before` };
  return { ...at, neighbour: 0, neighbourPeriod: n, nextChangeAt: next - w, phase: `${n}` };
}

/**
 * The epoch cycle of a peering's schedule at a moment: time's boundaries and
 * a forced rotation's moment, each with its overlap. A forced rotation's
 * moment never lies where its overlap would meet a boundary's
 * (forcedRotationFits), so at most one neighbour is accepted at a time.
 */
export function schedulePhaseAt(
  s: EpochSchedule & { secretEpochSeconds: number },
  now: number,
  overlapMs: number,
): EpochPhase {
  const base = epochPhaseAt(s.secretEpochSeconds, now, overlapMs);
  const shiftAt = s.secretShiftAt ?? null;
  const offset = (s.secretEpochOffset ?? 0) + (shiftAt !== null && now >= shiftAt ? 1 : 0);
  const out: EpochPhase = { ...base, epoch: base.epoch + offset, phase: `${base.phase}+${offset}` };
  if (shiftAt === null) return out;
  const w = effectiveOverlapMs(s.secretEpochSeconds * 1000, overlapMs);
  if (now < shiftAt - w) {
    out.nextChangeAt = Math.min(out.nextChangeAt, shiftAt - w);
    out.nextRotationAt = Math.min(out.nextRotationAt, shiftAt);
  } else if (now < shiftAt) {
    out.neighbour = 1;
    out.neighbourPeriod = out.period;
    out.nextChangeAt = Math.min(out.nextChangeAt, shiftAt);
    out.nextRotationAt = Math.min(out.nextRotationAt, shiftAt);
    out.phase += ':forced-before';
  } else if (now < shiftAt + w) {
    out.neighbour = -1;
    out.neighbourPeriod = out.period;
    out.nextChangeAt = Math.min(out.nextChangeAt, shiftAt + w);
    out.phase += ':forced-after';
  }
  return out;
}

/**
 * Whether a forced rotation at `at` keeps its overlap (both sides of `at`)
 * clear of every boundary's overlap, for an epoch length and an overlap.
 */
export function forcedRotationFits(epochSeconds: number, at: number, overlapMs: number): boolean {
  const len = epochSeconds * 1000;
  const w = effectiveOverlapMs(len, overlapMs);
  const start = Math.floor(at / len) * len;
  return at - w >= start + w && at + w <= start + len - w;
}

/**
 * The moment a forced rotation asked for at `now` takes effect: one overlap
 * from now (the new secret is accepted at once, sent from then on), moved
 * past a boundary's overlap when it would meet one. Null when the epoch is too
 * short to hold a boundary's overlaps and a forced one (less than four
 * overlaps).
 */
export function forcedRotationAt(epochSeconds: number, now: number, overlapMs: number): number | null {
  const len = epochSeconds * 1000;
  const w = effectiveOverlapMs(len, overlapMs);
  if (len < 4 * w) return null;
  let at = now + w;
  const start = Math.floor(at / len) * len;
  if (at - w < start + w) at = start + 2 * w;
  if (at + w > start + len - w) at = start + len + 2 * w;
  return at;
}

/**
 * The schedule with a settled forced rotation folded into the offset: once
 * its overlap is over, only the offset it added matters. Null when the last
 * forced rotation is not settled yet (a new one must wait).
 */
export function settledSchedule(
  s: Required<EpochSchedule>,
  now: number,
  overlapMs: number,
): { secretEpochOffset: number } | null {
  if (s.secretShiftAt === null) return { secretEpochOffset: s.secretEpochOffset };
  const w = s.secretEpochSeconds === null ? 0 : effectiveOverlapMs(s.secretEpochSeconds * 1000, overlapMs);
  return now >= s.secretShiftAt + w ? { secretEpochOffset: s.secretEpochOffset + 1 } : null;
}

/** The secrets a trunk holds at `now` (ms since the epoch). */
export function trunkSecretsAt(p: EpochPeering, now: number, overlapMs: number): TrunkSecrets {
  const length = p.secretEpochSeconds;
  if (length === null) {
    return {
      send: p.secret,
      alsoAccept: null,
      epoch: null,
      nextRotationAt: null,
      nextChangeAt: null,
      phase: 'fixed',
    };
  }
  const e = schedulePhaseAt({ ...p, secretEpochSeconds: length }, now, overlapMs);
  const len = length * 1000;
  return {
    send: epochSecret(rootForPeriod(p, e.period, len), e.epoch),
    alsoAccept:
      e.neighbour === 0 ? null : epochSecret(rootForPeriod(p, e.neighbourPeriod, len), e.epoch + e.neighbour),
    epoch: e.epoch,
    nextRotationAt: e.nextRotationAt,
    nextChangeAt: e.nextChangeAt,
    phase: e.phase,
  };
}

/**
 * One key for the epoch phases of a set of peerings: it changes exactly when
 * some trunk's secrets change, so a job can compare it with what was applied.
 */
export function epochPhasesKey(schedules: Iterable<EpochSchedule>, now: number, overlapMs: number): string {
  const keys = new Set<string>();
  for (const s of schedules) {
    const length = s.secretEpochSeconds;
    if (length === null) continue;
    const phase = schedulePhaseAt({ ...s, secretEpochSeconds: length }, now, overlapMs).phase;
    keys.add(`${length}/${s.secretShiftAt ?? ''}=${phase}`);
  }
  return [...keys].sort().join(',');
}

/**
 * Where an upgraded (v1 → v2) peering is in its switch from the v1 secret
 * (docs/protocol.md, "Upgrading a v1 peering"): `before` the agreed switch
 * moment the v1 secret is still sent (the v2 epoch secret is accepted too),
 * `after` it the v2 secret is sent and the v1 one still accepted for the
 * overlap, then `done`. null: no switch going on.
 */
export type SecretSwitchPhase = 'before' | 'after' | 'done';

export function secretSwitchPhaseAt(
  p: { previousSecret: string | null; secretSwitchAt: number | null },
  now: number,
  overlapMs: number,
): SecretSwitchPhase | null {
  return switchPhaseAt(p.previousSecret !== null, p.secretSwitchAt, now, overlapMs);
}

/** secretSwitchPhaseAt for a reader that knows only whether the v1 secret is kept, not the secret. */
export function switchPhaseAt(
  keepsPreviousSecret: boolean,
  secretSwitchAt: number | null,
  now: number,
  overlapMs: number,
): SecretSwitchPhase | null {
  if (!keepsPreviousSecret || secretSwitchAt === null) return null;
  if (now < secretSwitchAt) return 'before';
  return now < secretSwitchAt + overlapMs ? 'after' : 'done';
}

/** One key for the switch phases of a set of peerings (see epochPhasesKey): it changes when a trunk must be re-applied. */
export function secretSwitchPhasesKey(
  peers: Iterable<{ name: string; previousSecret: string | null; secretSwitchAt: number | null }>,
  now: number,
  overlapMs: number,
): string {
  const parts: string[] = [];
  for (const p of peers) {
    const phase = secretSwitchPhaseAt(p, now, overlapMs);
    if (phase !== null) parts.push(`${p.name}:${phase}`);
  }
  return parts.sort().join(',');
}
