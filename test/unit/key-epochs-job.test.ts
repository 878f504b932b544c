import { loadConfig } from '../../src/config/load-config';
import { DisabledAsteriskPort } from '../../src/core/asterisk-port';
import { newPeerRow } from '../harness/peer-row';
import type { Partner, PartnerKey } from '../../src/core/records';
import { trunkSecretsAt } from '../../src/core/trunk-secret-epochs';
import { KeyEpochs } from '../../src/federation/key-epochs';
import { LocalKeys } from '../../src/federation/local-keys';
import { deriveIax2Secret } from '../../src/federation/secret-derivation';
import { createLogger } from '../../src/logging/logger';
import { ManualClock } from '../harness/manual-clock';
import { memoryFederationStores } from '../store/memory';

/**
 * The key-epochs job on two sides, each with its own real LocalKeys (X25519)
 * and in-memory stores, each reading the other's agreement keys as its
 * descriptor publishes them (with not_before): after A rotates its keys, both
 * schedule the same new root for the same boundary, the trunks hold the same
 * secrets at every step, and the root is folded after the overlap. A side
 * that has not refetched the partner's keys refetches them once from the
 * middle of the period.
 */

const DAY = 86_400_000;
const EPOCH_S = 30 * 86_400;
const LEN = EPOCH_S * 1000;
const W = DAY;
const logger = createLogger({ level: 'error', format: 'json', silent: true });

async function side(name: string, clock: ManualClock) {
  const stores = memoryFederationStores(clock);
  const config = loadConfig({ env: {}, overrides: { instance: { publicUrl: `https://${name}.example` } } });
  const keys = new LocalKeys({
    store: stores.localKeys,
    transactions: stores.transactions,
    keyEncryptionSecret: stores.keyEncryptionSecret,
    clock,
    config,
    logger,
  });
  await keys.ensureKeys();
  return { name, clock, stores, keys, refetches: 0 };
}
type Side = Awaited<ReturnType<typeof side>>;

/** The partner row as pinning `other`'s descriptor leaves it (agreement keys with their not_before). */
async function partnerRow(other: Side): Promise<Partner> {
  const agreementKeys: PartnerKey[] = (await other.keys.publishedAgreementKeys()).map((k) => ({
    kid: k.kid,
    alg: k.alg,
    publicKey: k.public_key,
    ...(k.not_before === undefined ? {} : { notBefore: k.not_before }),
    expiresAt: k.expires_at,
  }));
  return {
    serverName: `${other.name}.example`,
    baseUrl: `https://${other.name}.example`,
    signingKeys: [],
    heldKeys: null,
    agreementKeys,
    descriptor: null,
    fetchedAt: 0,
    fetchFailures: 0,
    nextFetchAt: null,
    createdAt: 0,
    updatedAt: 0,
  };
}

function job(me: Side, other: Side, view: { partner: Partner }) {
  return new KeyEpochs({
    peerings: me.stores.peerings,
    tx: me.stores.transactions,
    clock: me.clock,
    logger,
    asterisk: new DisabledAsteriskPort(),
    ownKeys: me.keys,
    partnerKeys: {
      get: () => Promise.resolve(view.partner),
      refreshDescriptor: async () => {
        me.refetches++;
        view.partner = await partnerRow(other);
      },
    },
    deriveSecret: (p) =>
      deriveIax2Secret({
        ownAgreementPrivateKey: p.ownPrivateKey,
        partnerAgreementPublicKey: p.partnerPublicKey,
        requestId: p.requestId,
        name: p.name,
      }),
    overlapMs: W,
  });
}

describe('the key-epochs job on both sides of a peering', () => {
  it('moves both sides to the rotated keys at the same boundary, with the same secrets at every step', async () => {
    const boundary = 700 * LEN;
    const start = boundary - 20 * DAY;
    const clockA = new ManualClock(start);
    const clockB = new ManualClock(start);
    const A = await side('a', clockA);
    const B = await side('b', clockB);
    const [ownA, ownB] = [await A.keys.agreementKey(), await B.keys.agreementKey()];
    const root = deriveIax2Secret({
      ownAgreementPrivateKey: ownA.privateKey,
      partnerAgreementPublicKey: ownB.publicKey,
      requestId: 'req-1',
      name: 'ab',
    });
    const peer = (partner: string) =>
      newPeerRow(
        {
          name: 'ab',
          prefix: '71',
          partnerUrl: `https://${partner}.example`,
          partnerServerName: `${partner}.example`,
          partnerIaxHost: '192.0.2.1',
          partnerIaxPort: 4569,
          codec: 'ulaw',
          secret: root,
          secretEpochSeconds: EPOCH_S,
          dialect: 'v2',
          role: partner === 'b' ? 'requester' : 'acceptor',
          requestId: 'req-1',
        },
        start,
      );
    await A.stores.peerings.insertPeer(peer('b'));
    await B.stores.peerings.insertPeer(peer('a'));
    const viewA = { partner: await partnerRow(B) };
    const viewB = { partner: await partnerRow(A) };
    const jobA = job(A, B, viewA);
    const jobB = job(B, A, viewB);
    const rowOf = async (s: Side) => (await s.stores.peerings.listPeers())[0];

    // First runs: each side recognises the pair of keys its root came from.
    expect(await jobA.run()).toMatchObject({ recognised: 1 });
    expect(await jobB.run()).toMatchObject({ recognised: 1 });
    expect(await rowOf(A)).toMatchObject({ agreementKid: ownA.kid, partnerAgreementKid: ownB.kid });
    expect(await rowOf(B)).toMatchObject({ agreementKid: ownB.kid, partnerAgreementKid: ownA.kid });

    // A rotates an hour later; B has not seen A's new key yet.
    clockA.set(start + 3_600_000);
    await A.keys.rotate();
    const newA = await A.keys.agreementKey();
    expect(newA.kid).not.toBe(ownA.kid);
    // Before the middle of the period nothing is scheduled.
    for (const c of [clockA, clockB]) c.set(boundary - LEN / 2 - 1);
    await jobA.run();
    await jobB.run();
    expect((await rowOf(A)).nextSecretFrom).toBeNull();
    expect((await rowOf(B)).nextSecretFrom).toBeNull();

    // From the middle: B refetches A's keys once, and both schedule the same boundary and pair.
    for (const c of [clockA, clockB]) c.set(boundary - LEN / 2);
    expect(await jobA.run()).toMatchObject({ scheduled: 1 });
    expect(await jobB.run()).toMatchObject({ scheduled: 1 });
    await jobB.run();
    expect(B.refetches).toBe(1);
    const [a, b] = [await rowOf(A), await rowOf(B)];
    expect(a).toMatchObject({
      nextSecretFrom: boundary,
      nextAgreementKid: newA.kid,
      nextPartnerAgreementKid: ownB.kid,
    });
    expect(b).toMatchObject({
      nextSecretFrom: boundary,
      nextAgreementKid: ownB.kid,
      nextPartnerAgreementKid: newA.kid,
    });
    expect(a.nextSecret).toBe(b.nextSecret);
    expect(a.nextSecret).not.toBe(root);

    // The same secrets on both sides around the boundary, and the new epoch's differs from the old root's.
    for (const t of [boundary - W, boundary, boundary + W / 2, boundary + W]) {
      expect(trunkSecretsAt(a, t, W)).toEqual(trunkSecretsAt(b, t, W));
    }
    expect(trunkSecretsAt(a, boundary, W).send).not.toBe(
      trunkSecretsAt({ secret: root, secretEpochSeconds: EPOCH_S }, boundary, W).send,
    );

    // After the overlap the next root becomes the root, on both sides, with the same secrets as before the fold.
    const before = trunkSecretsAt(a, boundary + W, W);
    for (const c of [clockA, clockB]) c.set(boundary + W);
    expect(await jobA.run()).toMatchObject({ folded: 1 });
    expect(await jobB.run()).toMatchObject({ folded: 1 });
    const [a2, b2] = [await rowOf(A), await rowOf(B)];
    expect(a2).toMatchObject({
      secret: a.nextSecret,
      agreementKid: newA.kid,
      nextSecret: null,
      nextSecretFrom: null,
    });
    expect(b2).toMatchObject({ secret: a.nextSecret, partnerAgreementKid: newA.kid, nextSecret: null });
    expect(trunkSecretsAt(a2, boundary + W, W)).toEqual(before);
    // Nothing more to do until keys rotate again.
    for (const c of [clockA, clockB]) c.set(boundary + LEN / 2 + DAY);
    expect(await jobA.run()).toEqual({ recognised: 0, scheduled: 0, folded: 0 });
  });
});
