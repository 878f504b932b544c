import { generateKeyPairSync } from 'node:crypto';
import {
  type DatedKey,
  keyInForce,
  keyReferenceMoment,
  planRoot,
  type RootKeys,
} from '../../src/core/agreement-key-epochs';
import { epochSecret, trunkSecretsAt } from '../../src/core/trunk-secret-epochs';
import { buildDesiredState } from '../../src/asterisk/desired-state';
import { RENDER_SETTINGS } from './fixtures/epochs';
import { rawPublicKey } from '../../src/federation/key-encoding';
import { deriveIax2Secret } from '../../src/federation/secret-derivation';

const DAY = 86_400_000;
const EPOCH_S = 30 * 86_400;
const LEN = EPOCH_S * 1000;
const W = DAY;
/** The start of period 700 (a boundary). */
const B = 700 * LEN;

const peerKeys = (over: Partial<RootKeys> = {}): RootKeys => ({
  secretEpochSeconds: EPOCH_S,
  agreementKid: 'xa1',
  partnerAgreementKid: 'xb1',
  nextSecretFrom: null,
  nextAgreementKid: null,
  nextPartnerAgreementKid: null,
  ...over,
});

describe('agreement key rotation into epochs: which keys a period derives from', () => {
  const a: DatedKey[] = [
    { kid: 'xa0', notBefore: B - 400 * DAY },
    { kid: 'xa1', notBefore: B - 100 * DAY },
    { kid: 'xa2', notBefore: B - 20 * DAY },
    { kid: 'xa3', notBefore: B + 5 * DAY },
    { kid: 'xaN', notBefore: null },
  ];

  it('takes the newest key in force at the moment, never one older than the root key, never an undated one', () => {
    expect(keyInForce(a, 'xa1', B - 50 * DAY)).toBe('xa1');
    expect(keyInForce(a, 'xa1', B - 15 * DAY)).toBe('xa2');
    expect(keyInForce(a, 'xa1', B + 10 * DAY)).toBe('xa3');
    // xa0 is in force earlier, but older than the root's key.
    expect(keyInForce(a, 'xa1', B - 200 * DAY)).toBe('xa1');
    expect(keyInForce(a, 'xa2', B - 15 * DAY)).toBe('xa2');
    // A root key we do not know: stay on it.
    expect(keyInForce(a, 'xz9', B + 10 * DAY)).toBe('xz9');
  });

  it("reads a period's keys at the middle of the period before", () => {
    expect(keyReferenceMoment(700, LEN)).toBe(B - LEN / 2);
  });

  const own: DatedKey[] = [
    { kid: 'xa1', notBefore: B - 100 * DAY },
    { kid: 'xa2', notBefore: B - 20 * DAY },
  ];
  const partner: DatedKey[] = [{ kid: 'xb1', notBefore: B - 90 * DAY }];

  it('keeps the root before the middle of the period, schedules the new pair from the next boundary after it', () => {
    expect(planRoot(peerKeys(), own, partner, B - LEN / 2 - 1, W)).toEqual({ kind: 'keep' });
    expect(planRoot(peerKeys(), own, partner, B - LEN / 2, W)).toEqual({
      kind: 'next',
      from: B,
      agreementKid: 'xa2',
      partnerAgreementKid: 'xb1',
    });
    const written = peerKeys({ nextSecretFrom: B, nextAgreementKid: 'xa2', nextPartnerAgreementKid: 'xb1' });
    expect(planRoot(written, own, partner, B - 2 * DAY, W)).toEqual({ kind: 'keep' });
  });

  it('never changes a next root once its overlap started; folds it once the overlap is over', () => {
    const written = peerKeys({ nextSecretFrom: B, nextAgreementKid: 'xa2', nextPartnerAgreementKid: 'xb1' });
    // Even with other keys now, inside the overlap nothing moves.
    expect(planRoot(written, [own[0]], partner, B - W, W)).toEqual({ kind: 'keep' });
    expect(planRoot(written, own, partner, B + W - 1, W)).toEqual({ kind: 'keep' });
    expect(planRoot(written, own, partner, B + W, W)).toEqual({ kind: 'fold' });
  });

  it('drops a next root the keys no longer call for, before its overlap', () => {
    const written = peerKeys({ nextSecretFrom: B, nextAgreementKid: 'xa2', nextPartnerAgreementKid: 'xb1' });
    expect(planRoot(written, [own[0]], partner, B - 3 * DAY, W)).toEqual({ kind: 'drop' });
  });

  it('catches up at once after being down across the boundary (the current period from its start)', () => {
    expect(planRoot(peerKeys(), own, partner, B + 2 * DAY, W)).toEqual({
      kind: 'next',
      from: B,
      agreementKid: 'xa2',
      partnerAgreementKid: 'xb1',
    });
  });

  it('gives both sides the same pair from the same published keys, whichever side rotated', () => {
    const aKeys = own;
    const bKeys: DatedKey[] = [
      { kid: 'xb1', notBefore: B - 90 * DAY },
      { kid: 'xb2', notBefore: B - 16 * DAY },
    ];
    for (const now of [B - LEN / 2, B - 2 * DAY, B + 3 * DAY]) {
      const onA = planRoot(peerKeys(), aKeys, bKeys, now, W);
      const onB = planRoot(
        peerKeys({ agreementKid: 'xb1', partnerAgreementKid: 'xa1' }),
        bKeys,
        aKeys,
        now,
        W,
      );
      expect(onA).toEqual({ kind: 'next', from: B, agreementKid: 'xa2', partnerAgreementKid: 'xb2' });
      expect(onB).toEqual({ kind: 'next', from: B, agreementKid: 'xb2', partnerAgreementKid: 'xa2' });
    }
  });
});

describe('agreement key rotation into epochs: the trunk around the boundary', () => {
  // Real keys: both sides derive the same roots from their own private key and the partner's public one.
  const pair = () => {
    const k = generateKeyPairSync('x25519');
    return { privateKey: k.privateKey, publicKey: rawPublicKey(k.privateKey) };
  };
  const a1 = pair();
  const a2 = pair();
  const b1 = pair();
  const root = (own: typeof a1, theirs: typeof a1) =>
    deriveIax2Secret({
      ownAgreementPrivateKey: own.privateKey,
      partnerAgreementPublicKey: theirs.publicKey,
      requestId: 'req-1',
      name: 'ab',
    });

  it('derives the same old and new roots on both sides, and the new one differs', () => {
    expect(root(a1, b1)).toBe(root(b1, a1));
    expect(root(a2, b1)).toBe(root(b1, a2));
    expect(root(a2, b1)).not.toBe(root(a1, b1));
  });

  it('accepts the new root from boundary - overlap, sends it from the boundary, drops the old after the overlap', () => {
    const oldRoot = root(a1, b1);
    const newRoot = root(a2, b1);
    const p = { secret: oldRoot, secretEpochSeconds: EPOCH_S, nextSecret: newRoot, nextSecretFrom: B };
    const old = epochSecret(oldRoot, 699);
    const neu = epochSecret(newRoot, 700);
    expect(neu).not.toBe(epochSecret(oldRoot, 700));
    expect(trunkSecretsAt(p, B - W - 1, W)).toMatchObject({ send: old, alsoAccept: null });
    expect(trunkSecretsAt(p, B - W, W)).toMatchObject({ send: old, alsoAccept: neu });
    expect(trunkSecretsAt(p, B, W)).toMatchObject({ send: neu, alsoAccept: old });
    expect(trunkSecretsAt(p, B + W, W)).toMatchObject({ send: neu, alsoAccept: null });
    // Folded (the root replaced by the next one): the same secrets from then on.
    expect(trunkSecretsAt({ secret: newRoot, secretEpochSeconds: EPOCH_S }, B + W, W)).toEqual(
      trunkSecretsAt(p, B + W, W),
    );
  });

  it('keeps a forced rotation inside a period on that period root', () => {
    const oldRoot = root(a1, b1);
    const newRoot = root(a2, b1);
    const shiftAt = B + 10 * DAY;
    const p = {
      secret: oldRoot,
      secretEpochSeconds: EPOCH_S,
      nextSecret: newRoot,
      nextSecretFrom: B,
      secretEpochOffset: 0,
      secretShiftAt: shiftAt,
    };
    expect(trunkSecretsAt(p, shiftAt, W)).toMatchObject({
      send: epochSecret(newRoot, 701),
      alsoAccept: epochSecret(newRoot, 700),
    });
  });

  it('renders the epoch users of the new root for the boundary (what Asterisk holds)', () => {
    const settings = RENDER_SETTINGS;
    const oldRoot = root(a1, b1);
    const newRoot = root(a2, b1);
    const row = {
      id: 'p1',
      name: 'ab',
      prefix: '71',
      partnerIaxHost: '192.0.2.1',
      partnerIaxPort: 4569,
      partnerExtensionLength: 4,
      codec: 'ulaw',
      secret: oldRoot,
      secretEpochSeconds: EPOCH_S,
      nextSecret: newRoot,
      nextSecretFrom: B,
    };
    const users = (now: number) =>
      buildDesiredState([row], settings, { now, overlapMs: W })
        .peers[0].epochUsers.map((u) => u.options.find(([k]) => k === 'secret')?.[1])
        .sort();
    expect(users(B - W)).toEqual([epochSecret(oldRoot, 699), epochSecret(newRoot, 700)].sort());
    expect(users(B + W)).toEqual([epochSecret(newRoot, 700)]);
  });
});
