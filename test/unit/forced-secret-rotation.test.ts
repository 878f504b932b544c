/**
 * Forced trunk secret rotations between two sides (src/federation/secret-rotation.ts):
 * a lost answer retried after the rotation's overlap, two admins forcing at
 * once, and the store's compare-and-set the writes rely on (real SQLite).
 */
import { isAppError } from '../../src/core/errors';
import type { Peer } from '../../src/core/records';
import { settledSchedule, trunkSecretsAt } from '../../src/core/trunk-secret-epochs';
import {
  answerRotation,
  compareTrunkEpochs,
  proposeRotation,
  takeAgreedRotation,
  trunkEpochsOf,
} from '../../src/federation/secret-rotation';
import { PeerEntity } from '../../src/store/entities';
import { TypeormPeeringStore } from '../../src/store/typeorm';
import { newPeerRow } from '../harness/peer-row';
import { useTempSqlite } from './fixtures/temp-sqlite';

const EPOCH_S = 30 * 86_400;
const LEN = EPOCH_S * 1000;
const W = 60_000;
/** The middle of epoch 700, far from its boundaries. */
const T0 = 700 * LEN + LEN / 2;

function peer(over: Partial<Peer> = {}): Peer {
  return newPeerRow(
    {
      name: 'rot',
      prefix: '55',
      partnerUrl: 'https://partner.example',
      partnerIaxHost: '192.0.2.9',
      partnerIaxPort: 4569,
      codec: 'ulaw',
      secret: 'R'.repeat(40),
      dialect: 'v2',
      role: 'requester',
      secretEpochSeconds: EPOCH_S,
      requestId: 'req-rot',
      ...over,
    },
    T0 - LEN,
  );
}

const settled = (p: Peer, now: number) =>
  settledSchedule(
    {
      secretEpochSeconds: p.secretEpochSeconds,
      secretEpochOffset: p.secretEpochOffset,
      secretShiftAt: p.secretShiftAt,
    },
    now,
    W,
  );

describe('forced secret rotation: a lost answer', () => {
  it('a retry after the overlap is over is answered with the rotation stored the first time, and both sides then agree', () => {
    const asker = peer();
    let answerer = peer({ role: 'acceptor' });
    const first = proposeRotation(asker, T0, W);
    const stored = answerRotation(answerer, first, T0, W);
    expect(stored.store).toEqual({ secretEpochOffset: 0, secretShiftAt: first.at });
    answerer = { ...answerer, ...stored.store };
    // The answer is lost: the asker stored nothing. It retries long after the rotation and its overlap.
    const later = first.at + W + 3_600_000;
    expect(settled(answerer, later)).toEqual({ secretEpochOffset: 1 });
    const retry = proposeRotation(asker, later, W);
    expect(retry.epochOffset).toBe(1);
    expect(retry.at).not.toBe(first.at);
    // Before the fix: FED_ROTATION_PENDING for ever ("counts 1 forced rotation(s); the proposal would make 1").
    const again = answerRotation(answerer, retry, later, W);
    expect(again).toEqual({ store: null, agreed: { secretEpochOffset: 0, secretShiftAt: first.at } });

    // The asker takes the earlier moment (in the past): its schedule is then the settled one, the answerer's.
    const write = takeAgreedRotation(asker, asker, retry, again.agreed.secretShiftAt);
    expect(write).toEqual({ secretEpochOffset: 0, secretShiftAt: first.at });
    const asker2 = { ...asker, ...write };
    expect(settled(asker2, later)).toEqual(settled(answerer, later));
    for (const t of [later, later + LEN, later + 5 * LEN])
      expect(trunkSecretsAt(asker2, t, W)).toEqual(trunkSecretsAt(answerer, t, W));
    expect(trunkSecretsAt(asker2, later, W)).toMatchObject({ epoch: 701, alsoAccept: null });

    // And the next rotation, from either side, is taken as a new one.
    const next = proposeRotation(asker2, later, W);
    expect(next.epochOffset).toBe(2);
    expect(answerRotation(answerer, next, later, W).store).toEqual({
      secretEpochOffset: 1,
      secretShiftAt: next.at,
    });
  });

  it('a retry during the overlap is answered with the stored moment too', () => {
    const asker = peer();
    const first = proposeRotation(asker, T0, W);
    const answerer = { ...peer({ role: 'acceptor' }), ...answerRotation(peer(), first, T0, W).store };
    const during = first.at + W / 2;
    expect(answerRotation(answerer, proposeRotation(asker, during, W), during, W).agreed.secretShiftAt).toBe(
      first.at,
    );
  });

  it('a side that missed an agreement is told how to catch up', () => {
    const behind = peer();
    const ahead = { ...peer(), secretEpochOffset: 0, secretShiftAt: T0 + W };
    const later = T0 + 10 * W;
    const proposal = proposeRotation(ahead, later, W);
    expect(proposal.epochOffset).toBe(2);
    let code = '';
    try {
      answerRotation(behind, proposal, later, W);
    } catch (e) {
      code = isAppError(e) ? `${e.code}: ${e.message}` : String(e);
    }
    expect(code).toMatch(/^FED_ROTATION_PENDING: .*missed an agreement/);
    // Catching up: the side behind forces one, the side ahead answers the rotation it holds.
    const catchUp = proposeRotation(behind, later, W);
    expect(answerRotation(ahead, catchUp, later, W).agreed.secretShiftAt).toBe(T0 + W);
  });
});

describe('forced secret rotation: what anti-entropy compares', () => {
  it('counts the rotations agreed whatever the clock, and tells a side one behind from other differences', () => {
    const at = T0 + 2 * W;
    const none = trunkEpochsOf(peer());
    const oneKept = trunkEpochsOf(peer({ secretEpochOffset: 0, secretShiftAt: at }));
    expect(none).toEqual({ length_seconds: EPOCH_S, forced_rotations: 0, forced_rotation_at: null });
    expect(oneKept).toEqual({
      length_seconds: EPOCH_S,
      forced_rotations: 1,
      forced_rotation_at: new Date(at).toISOString(),
    });
    // Settled rotations count the same as the last one kept.
    expect(trunkEpochsOf(peer({ secretEpochOffset: 2, secretShiftAt: at }))?.forced_rotations).toBe(3);
    expect(trunkEpochsOf(peer({ secretEpochSeconds: null }))).toBeNull();
    if (!none || !oneKept) throw new Error('on epochs');
    expect(compareTrunkEpochs(oneKept, oneKept)).toBe('same');
    // The partner agreed one more: the answer to our proposal was lost; proposing again catches up.
    expect(compareTrunkEpochs(none, oneKept)).toBe('behind');
    // The partner is behind (it catches up itself), or the moment or the length differ: reported.
    expect(compareTrunkEpochs(oneKept, none)).toBe('differs');
    expect(
      compareTrunkEpochs(oneKept, { ...oneKept, forced_rotation_at: new Date(at + W).toISOString() }),
    ).toBe('differs');
    expect(compareTrunkEpochs(none, { ...none, length_seconds: EPOCH_S / 2 })).toBe('differs');
    expect(compareTrunkEpochs(null, none)).toBe('differs');
  });
});

describe('forced secret rotation: two admins at once', () => {
  it('each side answers the other first, then takes its answer: both keep the earlier moment', () => {
    const a0 = peer();
    const b0 = peer({ role: 'acceptor' });
    const pa = proposeRotation(a0, T0, W);
    const pb = proposeRotation(b0, T0 + 1000, W);
    expect(pa.at).not.toBe(pb.at);
    // Both proposals cross: each side answers (and stores) the other's.
    const aStores = answerRotation(a0, pb, T0 + 1000, W);
    const bStores = answerRotation(b0, pa, T0 + 1000, W);
    const a1 = { ...a0, ...aStores.store };
    const b1 = { ...b0, ...bStores.store };
    // Each asker then gets the other's answer, with its row changed since it proposed.
    const aWrite = takeAgreedRotation(a0, a1, pa, bStores.agreed.secretShiftAt);
    const bWrite = takeAgreedRotation(b0, b1, pb, aStores.agreed.secretShiftAt);
    const a2 = aWrite ? { ...a1, ...aWrite } : a1;
    const b2 = bWrite ? { ...b1, ...bWrite } : b1;
    expect(a2.secretShiftAt).toBe(Math.min(pa.at, pb.at));
    expect(b2.secretShiftAt).toBe(a2.secretShiftAt);
    expect(b2.secretEpochOffset).toBe(a2.secretEpochOffset);
  });

  it('an asker refuses to store over a row that changed otherwise', () => {
    const a0 = peer();
    const pa = proposeRotation(a0, T0, W);
    expect(() => takeAgreedRotation(a0, null, pa, pa.at)).toThrow(/replaced meanwhile/);
    expect(() =>
      takeAgreedRotation(a0, { ...a0, secretEpochOffset: 3, secretShiftAt: T0 }, pa, pa.at),
    ).toThrow(/changed its forced rotations meanwhile/);
  });
});

describe('forced secret rotation: the compare-and-set write (SQLite)', () => {
  const tmp = useTempSqlite('rotation');

  it('writes only over the rotation it read', async () => {
    const { db } = tmp;
    const store = new TypeormPeeringStore(db);
    const row = peer();
    await db.getRepository(PeerEntity).insert(row);
    const read = async () => (await store.findPeer({ id: row.id }))?.secretShiftAt;
    expect(await store.updatePeerIfShiftAt(row.id, T0, { secretShiftAt: T0 + W })).toBe(false);
    expect(await read()).toBeNull();
    expect(await store.updatePeerIfShiftAt(row.id, null, { secretShiftAt: T0 })).toBe(true);
    expect(await read()).toBe(T0);
    // A second writer that read null (before the first wrote) loses.
    expect(await store.updatePeerIfShiftAt(row.id, null, { secretShiftAt: T0 + 5 * W })).toBe(false);
    expect(await read()).toBe(T0);
    expect(await store.updatePeerIfShiftAt(row.id, T0, { secretShiftAt: T0 - W })).toBe(true);
    expect(await read()).toBe(T0 - W);
  });
});
