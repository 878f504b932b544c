import { ManualClock } from '../harness/manual-clock';
import { TypeormNonceStore, typeormFederationStores } from '../../src/store/typeorm';
import { signRequest } from '../../src/federation/http-signature';
import { KeyRotation } from '../../src/federation/key-rotation';
import { LocalKeys } from '../../src/federation/local-keys';
import { LocalKeyEntity, type LocalKey } from '../../src/store/entities';
import { type MariaDbServer, startMariaDb, testDatabaseName } from '../harness/mariadb';
import { startInstance, type TestInstance } from '../unit/federation-keys-fixtures';

/**
 * The key store, nonce store and partner keys on a real MariaDB (the
 * harness server): the same behaviour as on SQLite, including the duplicate
 * key path of nonce reservation and JSON columns of pinned partner keys.
 */

const DAY = 24 * 60 * 60 * 1000;
const SECRET = 'mariadb key encryption secret 1';
let server: MariaDbServer;
const databases: string[] = [];
let clock: ManualClock;
let a: TestInstance;
let b: TestInstance;

async function database(prefix: string) {
  const name = testDatabaseName(prefix);
  await server.createDatabase(name);
  databases.push(name);
  return {
    type: 'mariadb' as const,
    host: server.host,
    port: server.port,
    user: server.user,
    password: server.password,
    database: name,
  };
}

beforeAll(async () => {
  server = await startMariaDb();
  clock = new ManualClock(Date.parse('2026-07-01T00:00:00Z'));
  a = await startInstance({ clock, secret: SECRET, database: await database('keys_a') });
  b = await startInstance({ clock, database: await database('keys_b') });
  await b.partnerKeys.pin(await a.descriptor());
});

afterAll(async () => {
  await a?.close();
  await b?.close();
  for (const name of databases) await server?.dropDatabase(name);
  await server?.stop();
});

async function requestFromA(nonce?: string) {
  const url = `${b.url}/federation/v2/peering-requests`;
  const body = '{"request_id":"r-maria"}';
  const headers = signRequest({
    method: 'POST',
    url,
    body,
    key: await a.localKeys.signingKey(),
    now: clock.now(),
    nonce,
  });
  return b.verifier.verify(
    { method: 'POST', targetUri: url, headers, rawBody: Buffer.from(body) },
    a.serverName,
  );
}

it('stores keys encrypted and reads them back in a fresh LocalKeys', async () => {
  const rows = await a.db.getRepository<LocalKey>(LocalKeyEntity).find();
  expect(rows.length).toBe(2);
  expect(rows.every((r) => r.privateKey.startsWith('enc1$'))).toBe(true);
  const s = typeormFederationStores(a.db, clock);
  const again = new LocalKeys({
    store: s.localKeys,
    transactions: s.transactions,
    keyEncryptionSecret: s.keyEncryptionSecret,
    clock,
    config: a.config,
    logger: a.logs.logger,
  });
  expect((await again.signingKey()).keyId).toBe((await a.localKeys.signingKey()).keyId);
});

it('verifies, refuses a replay (duplicate key on MariaDB), and frees expired nonces', async () => {
  const nonce = 'bWFyaWFkYi1ub25jZS0wMDAx';
  expect((await requestFromA(nonce)).ok).toBe(true);
  expect(await requestFromA(nonce)).toMatchObject({ ok: false, code: 'FED_REPLAY' });
  const stores = Array.from({ length: 6 }, () => new TypeormNonceStore(b.db, clock));
  const until = clock.now() + 1000;
  const wins = await Promise.all(stores.map((s) => s.reserve('x#k', 'bWFyaWFkYi1ub25jZS0wMDAy', until)));
  expect(wins.filter(Boolean)).toHaveLength(1);
  clock.advance(2000);
  expect(await stores[0].reserve('x#k', 'bWFyaWFkYi1ub25jZS0wMDAy', clock.now() + 1000)).toBe(true);
  clock.advance(400_000);
  expect(await stores[0].purgeExpired()).toBeGreaterThanOrEqual(2);
});

it('rotates on schedule and the partner follows through its pinned keys', async () => {
  const rotation = new KeyRotation({ localKeys: a.localKeys, clock, logger: a.logs.logger });
  const oldKid = (await a.localKeys.signingKey()).keyId;
  clock.advance(358 * DAY);
  expect((await rotation.run()).changed).toBe(true);
  clock.advance(7 * DAY);
  expect((await rotation.run()).changed).toBe(true);
  expect((await a.localKeys.signingKey()).keyId).not.toBe(oldKid);
  expect((await requestFromA()).ok).toBe(true);
  const partner = await b.partnerKeys.get(a.serverName);
  expect(partner?.signingKeys).toHaveLength(2);
  expect(partner?.heldKeys).toBeNull();
  expect(partner?.fetchFailures).toBe(0);
});

it('two replicas starting together on an empty database end with one active key per algorithm, the same for both', async () => {
  const shared = await database('keys_replicas');
  const first = await startInstance({ clock, secret: SECRET, database: shared });
  const second = await startInstance({ clock, secret: SECRET, database: shared });
  try {
    // Both start over on an empty key table at the same moment, each on its own connection pool.
    await first.db.getRepository<LocalKey>(LocalKeyEntity).clear();
    await Promise.all([first.localKeys.ensureKeys(), second.localKeys.ensureKeys()]);
    const rows = await first.db.getRepository<LocalKey>(LocalKeyEntity).find();
    for (const alg of ['ed25519', 'x25519']) {
      expect(rows.filter((r) => r.alg === alg && r.status === 'active')).toHaveLength(1);
    }
    // Any extra key made in the race stays published as retiring, never lost.
    expect(rows.every((r) => r.status === 'active' || r.status === 'retiring')).toBe(true);
    // (Each test instance has its own server name; the key is the kid after the #.)
    const kidOf = async (k: LocalKeys) => (await k.signingKey()).keyId.split('#')[1];
    expect(await kidOf(first.localKeys)).toBe(await kidOf(second.localKeys));
    expect((await first.localKeys.agreementKey()).kid).toBe((await second.localKeys.agreementKey()).kid);
  } finally {
    await first.close();
    await second.close();
  }
});
