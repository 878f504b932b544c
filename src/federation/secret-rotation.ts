import { AppError } from '../core/errors';
import type { Peer } from '../core/records';
import { forcedRotationFits, forcedRotationAt, settledSchedule } from '../core/trunk-secret-epochs';
import type { V2TrunkEpochs } from './wire-schemas';

/**
 * Forced trunk secret rotations (issue 15): an admin asks, the partner agrees
 * over a signed v2 call, and both sides then turn one more epoch at the agreed
 * moment with the usual overlap (src/core/trunk-secret-epochs.ts). Until the
 * partner has agreed nothing changes on the asking side.
 */

/** What a peer row holds for a forced rotation agreed. */
export interface AgreedRotation {
  /** The settled offset (the rotation adds one from `at` on). */
  secretEpochOffset: number;
  secretShiftAt: number;
}

const onEpochs = (peer: Peer): number => {
  if (peer.dialect !== 'v2' || peer.secretEpochSeconds === null)
    throw new AppError(
      'FED_ROTATION_UNAVAILABLE',
      `peer ${peer.name} is on a fixed secret (no epochs agreed), so there is nothing to rotate`,
    );
  return peer.secretEpochSeconds;
};

/** The settled offset of a peer, or FED_ROTATION_PENDING while its last forced rotation's overlap lasts. */
function settledOffset(peer: Peer, length: number, now: number, overlapMs: number): number {
  const settled = settledSchedule(
    {
      secretEpochSeconds: length,
      secretEpochOffset: peer.secretEpochOffset,
      secretShiftAt: peer.secretShiftAt,
    },
    now,
    overlapMs,
  );
  if (!settled)
    throw new AppError(
      'FED_ROTATION_PENDING',
      `a forced rotation of peer ${peer.name} at ${new Date(peer.secretShiftAt ?? 0).toISOString()} is not over yet`,
    );
  return settled.secretEpochOffset;
}

/**
 * A peer's trunk secret epochs as anti-entropy compares them (docs/protocol.md,
 * "Anti-entropy"), or null for a peering on a fixed secret. The count of
 * forced rotations agreed does not depend on the clock: the settled offset,
 * plus one while a last agreed moment is kept.
 */
export function trunkEpochsOf(
  peer: Pick<Peer, 'secretEpochSeconds' | 'secretEpochOffset' | 'secretShiftAt'>,
): V2TrunkEpochs | null {
  if (peer.secretEpochSeconds === null) return null;
  return {
    length_seconds: peer.secretEpochSeconds,
    forced_rotations: peer.secretEpochOffset + (peer.secretShiftAt === null ? 0 : 1),
    forced_rotation_at: peer.secretShiftAt === null ? null : new Date(peer.secretShiftAt).toISOString(),
  };
}

/**
 * How our epochs compare with the partner's: `same`; `behind` when the partner
 * agreed exactly one forced rotation more (the answer to our proposal was
 * lost: proposing again catches up, the partner answers the moment it
 * stored); `differs` otherwise (the partner is behind and catches up itself,
 * or the two disagree on the length or the moment).
 */
export function compareTrunkEpochs(
  ours: V2TrunkEpochs | null,
  theirs: V2TrunkEpochs,
): 'same' | 'behind' | 'differs' {
  if (ours === null || ours.length_seconds !== theirs.length_seconds) return 'differs';
  if (theirs.forced_rotations === ours.forced_rotations + 1) return 'behind';
  return ours.forced_rotations === theirs.forced_rotations &&
    ours.forced_rotation_at === theirs.forced_rotation_at
    ? 'same'
    : 'differs';
}

/** The asking side: the rotation to propose now (offset after it, and its moment). */
export function proposeRotation(
  peer: Peer,
  now: number,
  overlapMs: number,
): { epochOffset: number; at: number; settled: number } {
  const length = onEpochs(peer);
  const settled = settledOffset(peer, length, now, overlapMs);
  const at = forcedRotationAt(length, now, overlapMs);
  if (at === null)
    throw new AppError(
      'FED_ROTATION_UNAVAILABLE',
      `the epochs of peer ${peer.name} (${length} s) are too short for a forced rotation with this overlap`,
    );
  return { epochOffset: settled + 1, at, settled };
}

/**
 * The answering side: what to store for a proposed rotation, or the
 * rotation already agreed when the proposal repeats it (a retry after a lost
 * answer: the asking side takes the moment we answer). A proposal repeats the
 * last rotation stored when it asks for the count that rotation makes
 * (`secretEpochOffset` + 1), whether or not its overlap is over: the asker
 * never stored it, so it still counts one less, and answering anything else
 * would leave the two sides on different epochs for good.
 */
export function answerRotation(
  peer: Peer,
  proposal: { epochOffset: number; at: number },
  now: number,
  overlapMs: number,
): { store: AgreedRotation | null; agreed: AgreedRotation } {
  const length = onEpochs(peer);
  const pending = peer.secretShiftAt;
  if (pending !== null && proposal.epochOffset === peer.secretEpochOffset + 1)
    return { store: null, agreed: { secretEpochOffset: peer.secretEpochOffset, secretShiftAt: pending } };
  const settled = settledOffset(peer, length, now, overlapMs);
  if (proposal.epochOffset !== settled + 1)
    throw new AppError(
      'FED_ROTATION_PENDING',
      `peer ${peer.name} counts ${settled} forced rotation(s); the proposal would make ${proposal.epochOffset}` +
        (proposal.epochOffset > settled + 1
          ? ': this side missed an agreement; force a rotation from this side to catch up, then retry'
          : ''),
    );
  const w = overlapMs;
  if (
    proposal.at <= now ||
    proposal.at > now + length * 1000 + 3 * w ||
    !forcedRotationFits(length, proposal.at, overlapMs)
  )
    throw new AppError(
      'FED_ROTATION_UNAVAILABLE',
      `a forced rotation of peer ${peer.name} at ${new Date(proposal.at).toISOString()} does not fit its epochs here`,
    );
  const agreed = { secretEpochOffset: settled, secretShiftAt: proposal.at };
  return { store: agreed, agreed };
}

/**
 * The asking side, once the partner agreed: what to write over the row as it
 * is now (read again in the write's transaction), given the row the proposal
 * was made from. Null: nothing to write (the row already holds it).
 *
 * When the row changed meanwhile, it was this side answering the partner's
 * own proposal of the same rotation (both admins forced at once): both sides
 * then hold both moments and keep the earlier one, so they end up agreed.
 * Any other change (another count, the peering replaced) is refused.
 */
export function takeAgreedRotation(
  read: Peer,
  current: Peer | null,
  proposal: { settled: number },
  agreedAt: number,
): AgreedRotation | null {
  const changed = (msg: string) =>
    new AppError('FED_ROTATION_PENDING', `peer ${read.name} ${msg}; nothing was stored, retry the rotation`);
  if (!current || current.requestId !== read.requestId) throw changed('was replaced meanwhile');
  if (current.secretShiftAt === read.secretShiftAt && current.secretEpochOffset === read.secretEpochOffset)
    return { secretEpochOffset: proposal.settled, secretShiftAt: agreedAt };
  if (current.secretShiftAt !== null && current.secretEpochOffset === proposal.settled) {
    const at = Math.min(current.secretShiftAt, agreedAt);
    return at === current.secretShiftAt ? null : { secretEpochOffset: proposal.settled, secretShiftAt: at };
  }
  throw changed('changed its forced rotations meanwhile');
}
