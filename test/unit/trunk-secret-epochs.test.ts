import { buildDesiredState } from '../../src/asterisk/desired-state';
import {
  epochPhasesKey,
  epochSecret,
  forcedRotationAt,
  forcedRotationFits,
  settledSchedule,
  trunkSecretsAt,
} from '../../src/core/trunk-secret-epochs';
import { EPOCH_MS, EPOCH_PEER, EPOCH_S, RENDER_SETTINGS, ROOT } from './fixtures/epochs';

const DAY = 86_400_000;
const LEN = EPOCH_MS;
const W = DAY;
/** A boundary: the start of epoch 700. */
const B = 700 * LEN;
const peering = { secret: ROOT, secretEpochSeconds: EPOCH_S };

describe('trunk secret epochs', () => {
  it('derives a distinct 40-character secret per epoch and per root, stable across calls', () => {
    const a = epochSecret(ROOT, 700);
    expect(a).toMatch(/^[A-Za-z0-9_-]{40}$/);
    expect(epochSecret(ROOT, 700)).toBe(a);
    expect(epochSecret(ROOT, 701)).not.toBe(a);
    expect(epochSecret('B'.repeat(40), 700)).not.toBe(a);
    expect(a).not.toBe(ROOT);
  });

  it('keeps a peering without an agreed epoch length on its root secret for ever', () => {
    const t = trunkSecretsAt({ secret: ROOT, secretEpochSeconds: null }, B, W);
    expect(t).toMatchObject({ send: ROOT, alsoAccept: null, epoch: null, nextRotationAt: null });
  });

  it('accepts the next secret from overlap before a boundary, sends it from the boundary, drops the old after overlap', () => {
    const old = epochSecret(ROOT, 699);
    const neu = epochSecret(ROOT, 700);
    expect(trunkSecretsAt(peering, B - W - 1, W)).toMatchObject({ send: old, alsoAccept: null, epoch: 699 });
    expect(trunkSecretsAt(peering, B - W, W)).toMatchObject({ send: old, alsoAccept: neu, nextChangeAt: B });
    expect(trunkSecretsAt(peering, B - 1, W)).toMatchObject({ send: old, alsoAccept: neu });
    expect(trunkSecretsAt(peering, B, W)).toMatchObject({ send: neu, alsoAccept: old, epoch: 700 });
    expect(trunkSecretsAt(peering, B + W - 1, W)).toMatchObject({
      send: neu,
      alsoAccept: old,
      nextChangeAt: B + W,
    });
    expect(trunkSecretsAt(peering, B + W, W)).toMatchObject({
      send: neu,
      alsoAccept: null,
      nextRotationAt: B + LEN,
      nextChangeAt: B + LEN - W,
    });
  });

  it('two clocks that differ by less than the overlap always share a secret one sends and the other accepts', () => {
    const skew = W - 60_000;
    for (let t = B - 2 * W; t <= B + 2 * W; t += 15 * 60_000) {
      for (const [a, b] of [
        [t, t + skew],
        [t + skew, t],
      ]) {
        const caller = trunkSecretsAt(peering, a, W);
        const callee = trunkSecretsAt(peering, b, W);
        expect([callee.send, callee.alsoAccept]).toContain(caller.send);
      }
    }
  });

  it('the phases key changes exactly at the three steps of a boundary', () => {
    const key = (t: number) =>
      epochPhasesKey(
        [EPOCH_S, null, EPOCH_S].map((l) => ({ secretEpochSeconds: l })),
        t,
        W,
      );
    expect(key(B - W - 1)).toBe(key(B - 2 * W));
    expect(key(B - W)).not.toBe(key(B - W - 1));
    expect(key(B)).not.toBe(key(B - 1));
    expect(key(B + W)).not.toBe(key(B + W - 1));
    expect(key(B + W)).toBe(key(B + 2 * W));
    expect(epochPhasesKey([{ secretEpochSeconds: null }], B, W)).toBe('');
  });

  it('renders one user per accepted epoch, and a friend that sends its epoch secret under that epoch user name', () => {
    const at = (now: number) => {
      const p = buildDesiredState([EPOCH_PEER], RENDER_SETTINGS, { now, overlapMs: W }).peers[0];
      const opt = (o: [string, string][], k: string) => o.find(([key]) => key === k)?.[1];
      return {
        username: opt(p.friend.options, 'username'),
        sends: p.friend.options.filter(([k]) => k === 'secret').map(([, v]) => v),
        users: p.epochUsers.map((u) => [u.name, opt(u.options, 'type'), opt(u.options, 'secret')]),
      };
    };
    const [s699, s700] = [epochSecret(ROOT, 699), epochSecret(ROOT, 700)];
    expect(at(B - 2 * W)).toEqual({ username: 'p1-e1', sends: [s699], users: [['p1-e1', 'user', s699]] });
    expect(at(B - W / 2)).toEqual({
      username: 'p1-e1',
      sends: [s699],
      users: [
        ['p1-e1', 'user', s699],
        ['p1-e0', 'user', s700],
      ],
    });
    expect(at(B + W / 2)).toEqual({
      username: 'p1-e0',
      sends: [s700],
      users: [
        ['p1-e1', 'user', s699],
        ['p1-e0', 'user', s700],
      ],
    });
    expect(at(B + 2 * W)).toEqual({ username: 'p1-e0', sends: [s700], users: [['p1-e0', 'user', s700]] });
  });

  describe('forced rotations', () => {
    it('takes effect one overlap from now, moved clear of a boundary overlap, and refuses epochs too short', () => {
      const mid = B + LEN / 2;
      expect(forcedRotationAt(EPOCH_S, mid, W)).toBe(mid + W);
      // Asked just after a boundary: its overlap must not meet the boundary's.
      expect(forcedRotationAt(EPOCH_S, B + W / 2, W)).toBe(B + 2 * W);
      // Asked just before one: after the next boundary's overlap.
      expect(forcedRotationAt(EPOCH_S, B + LEN - W, W)).toBe(B + LEN + 2 * W);
      expect(forcedRotationFits(EPOCH_S, B + W, W)).toBe(false);
      expect(forcedRotationFits(EPOCH_S, B + 2 * W, W)).toBe(true);
      // Three overlaps fit into the epoch (a third each) but not four.
      expect(forcedRotationAt(3 * 86_400, B, W)).toBeNull();
    });

    it('turns one more epoch at the agreed moment with the overlap around it, and any skew under the overlap still shares a secret', () => {
      const T = B + LEN / 2;
      const forced = { ...peering, secretEpochOffset: 2, secretShiftAt: T };
      const e = 700 + 2;
      expect(trunkSecretsAt(forced, T - W - 1, W)).toMatchObject({
        epoch: e,
        alsoAccept: null,
        nextChangeAt: T - W,
      });
      expect(trunkSecretsAt(forced, T - W, W)).toMatchObject({
        epoch: e,
        send: epochSecret(ROOT, e),
        alsoAccept: epochSecret(ROOT, e + 1),
        nextRotationAt: T,
      });
      expect(trunkSecretsAt(forced, T, W)).toMatchObject({
        epoch: e + 1,
        send: epochSecret(ROOT, e + 1),
        alsoAccept: epochSecret(ROOT, e),
      });
      expect(trunkSecretsAt(forced, T + W, W)).toMatchObject({ epoch: e + 1, alsoAccept: null });
      const skew = W - 60_000;
      for (let t = T - 2 * W; t <= T + 2 * W; t += 15 * 60_000) {
        for (const [a, b] of [
          [t, t + skew],
          [t + skew, t],
        ]) {
          const caller = trunkSecretsAt(forced, a, W);
          const callee = trunkSecretsAt(forced, b, W);
          expect([callee.send, callee.alsoAccept]).toContain(caller.send);
        }
      }
      // The jobs' key moves at the forced moment's three steps too.
      const key = (t: number) => epochPhasesKey([forced], t, W);
      expect(key(T - W)).not.toBe(key(T - W - 1));
      expect(key(T)).not.toBe(key(T - 1));
      expect(key(T + W)).not.toBe(key(T + W - 1));
      // Settled (folded into the offset) only once its overlap is over.
      const s = { secretEpochSeconds: EPOCH_S, secretEpochOffset: 2, secretShiftAt: T };
      expect(settledSchedule(s, T + W - 1, W)).toBeNull();
      expect(settledSchedule(s, T + W, W)).toEqual({ secretEpochOffset: 3 });
    });
  });
});
