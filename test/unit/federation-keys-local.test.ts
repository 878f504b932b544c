import { createHash } from 'node:crypto';
import { typeormFederationStores } from '../../src/store/typeorm';
import { ManualClock } from '../harness/manual-clock';
import { AppError } from '../../src/core/errors';
import { buildDescriptor, descriptorSchema } from '../../src/federation/descriptor';
import { ACTIVE_KEY_CACHE_MS, fingerprint, LocalKeys, serverNameOf } from '../../src/federation/local-keys';
import { SignedClient } from '../../src/federation/signed-client';
import { DataSource } from 'typeorm';
import { openDatabase } from '../../src/store/data-source';
import { LocalKeyEntity, type LocalKey } from '../../src/store/entities';
import { deadUrl, LogCapture, makeConfig, tempDb, type TempDb } from './federation-keys-fixtures';

/**
 * Our own keys on a real SQLite database: generated once, always encrypted at
 * rest under the store's secret, never in logs, never returned by list().
 */

const SECRET = 'correct horse battery staple 42';
const clock = new ManualClock(Date.parse('2026-02-01T00:00:00Z'));
let tmp: TempDb;

beforeEach(async () => {
  tmp = await tempDb('https://pbx-a.example.org:8443', SECRET);
});
afterEach(async () => {
  await tmp?.close();
});

const rows = () => tmp.db.getRepository<LocalKey>(LocalKeyEntity).find();

function keysWith(secret: string | undefined, logs = new LogCapture()): LocalKeys {
  const config = makeConfig(tmp.dir, 'https://pbx-a.example.org:8443', secret);
  const s = typeormFederationStores(tmp.db, clock);
  return new LocalKeys({
    store: s.localKeys,
    transactions: s.transactions,
    keyEncryptionSecret: s.keyEncryptionSecret,
    clock,
    config,
    logger: logs.logger,
  });
}

/** Every form a private key could leak in: PKCS#8 DER base64, raw seed (b64url and hex). */
async function privateForms(keys: LocalKeys): Promise<string[]> {
  const signing = (await keys.signingKey()).privateKey;
  const agreement = (await keys.agreementKey()).privateKey;
  return [signing, agreement].flatMap((k) => {
    const der = k.export({ format: 'der', type: 'pkcs8' });
    const jwk = k.export({ format: 'jwk' });
    const d = String(jwk.d);
    return [
      der.toString('base64'),
      d,
      Buffer.from(d, 'base64url').toString('hex'),
      Buffer.from(d, 'base64url').toString('base64'),
    ];
  });
}

it('generates one signing and one agreement key on first start, and none on the next', async () => {
  const keys = keysWith(SECRET);
  await keys.ensureKeys();
  await keys.ensureKeys();
  const all = await rows();
  expect(all.map((r) => `${r.alg}:${r.status}`).sort()).toEqual(['ed25519:active', 'x25519:active']);
  const signing = await keys.signingKey();
  expect(signing.keyId).toMatch(/^pbx-a\.example\.org:8443#k\d{8}[0-9a-f]{6}$/);
  expect(signing.privateKey.asymmetricKeyType).toBe('ed25519');
  const agreement = await keys.agreementKey();
  expect(agreement.privateKey.asymmetricKeyType).toBe('x25519');
  expect(agreement.publicKey).toMatch(/^[A-Za-z0-9_-]{43}$/);
  expect((await keys.agreementKey(agreement.kid)).publicKey).toBe(agreement.publicKey);
  await expect(keys.agreementKey('xnope')).rejects.toMatchObject({ code: 'FED_STATE_CONFLICT' });
});

it('stores private keys encrypted; the stored text holds no form of the key', async () => {
  const logs = new LogCapture();
  const keys = keysWith(SECRET, logs);
  await keys.ensureKeys();
  await keys.rotate();
  const stored = (await rows()).map((r) => r.privateKey).join('\n');
  expect((await rows()).every((r) => r.privateKey.startsWith('enc1$'))).toBe(true);
  for (const form of await privateForms(keys)) {
    expect(stored).not.toContain(form);
    expect(logs.text()).not.toContain(form);
  }
  expect(logs.text()).toContain('generated local key');
  // A fresh process with the same secret reads them back.
  const again = keysWith(SECRET);
  expect((await again.signingKey()).keyId).toBe((await keys.signingKey()).keyId);
});

/** A second data source on the same SQLite file, opened as a restart with another configuration would. */
async function reopen(secret: string | undefined): Promise<unknown> {
  const db = await openDatabase(makeConfig(tmp.dir, 'https://pbx-a.example.org:8443', secret)).then(
    (d) => d,
    (e: unknown) => e,
  );
  if (db instanceof DataSource) {
    await db.destroy();
    return null;
  }
  return db;
}

it('refuses to open the store with a wrong or missing secret, with a clear error that leaks nothing', async () => {
  const keys = keysWith(SECRET);
  await keys.ensureKeys();
  const wrong = await reopen('not the right secret at all');
  expect(wrong).toBeInstanceOf(AppError);
  expect(wrong).toMatchObject({ code: 'FED_KEY_DECRYPT_FAILED' });
  expect((wrong as AppError).message).toMatch(/UURU_KEY_ENCRYPTION_SECRET is not the secret/);
  expect((wrong as AppError).message).not.toContain(SECRET);
  expect((wrong as AppError).message).not.toContain('not the right secret');

  // Without the secret the store would use a key file of its own: not the key these were stored with.
  const missing = await reopen(undefined);
  expect(missing).toMatchObject({
    code: 'FED_KEY_DECRYPT_FAILED',
    message: expect.stringMatching(/no UURU_KEY_ENCRYPTION_SECRET is set and the key file .* is not the key/),
  });
  expect(await reopen(SECRET)).toBeNull();
});

it('encrypts private keys stored in plain (as earlier versions did) when the store is opened', async () => {
  const keys = keysWith(SECRET);
  await keys.ensureKeys();
  const keyId = (await keys.signingKey()).keyId;
  const signing = (await keys.signingKey()).privateKey.export({ format: 'der', type: 'pkcs8' });
  const kid = keyId.split('#')[1];
  // What earlier versions wrote without a secret: the PKCS#8 DER in base64.
  await tmp.db.query('UPDATE local_keys SET privateKey = ? WHERE kid = ?', [signing.toString('base64'), kid]);
  expect(await reopen(SECRET)).toBeNull();
  expect((await rows()).every((r) => r.privateKey.startsWith('enc1$'))).toBe(true);
  expect((await keysWith(SECRET).signingKey()).keyId).toBe(keyId);
});

it('a ciphertext moved to another row does not decrypt (the kid is bound)', async () => {
  const keys = keysWith(SECRET);
  await keys.ensureKeys();
  await keys.rotate();
  const repo = tmp.db.getRepository<LocalKey>(LocalKeyEntity);
  const [signing1, signing2] = (await repo.findBy({ alg: 'ed25519' })).sort(
    (x, y) => x.notBefore - y.notBefore,
  );
  await repo.update({ kid: signing2.kid }, { privateKey: signing1.privateKey });
  await expect(keysWith(SECRET).signingKey()).rejects.toMatchObject({ code: 'FED_KEY_DECRYPT_FAILED' });
});

it('list() never returns private halves', async () => {
  const keys = keysWith(SECRET);
  await keys.ensureKeys();
  const listed = await keys.list();
  expect(listed).toHaveLength(2);
  expect(listed.every((k) => k.privateKey === '')).toBe(true);
});

it('builds a descriptor that passes our own strict validation', async () => {
  const keys = keysWith(SECRET);
  await keys.ensureKeys();
  const d = await buildDescriptor({
    config: tmp.config,
    localKeys: keys,
    policyMode: 'invite_only',
    now: clock.now(),
  });
  expect(descriptorSchema.safeParse(d).success).toBe(true);
  expect(d).toMatchObject({
    server_name: 'pbx-a.example.org:8443',
    base_url: 'https://pbx-a.example.org:8443',
    protocol_versions: ['uuru-fed/2', 'uuru/1'],
    policy_mode: 'invite_only',
  });
  expect(Date.parse(d.valid_until) - clock.now()).toBeLessThanOrEqual(24 * 3600 * 1000);
  expect(d.signing_keys[0]).not.toHaveProperty('endorsement');
  const noLegacy = await buildDescriptor({
    config: tmp.config,
    localKeys: keys,
    policyMode: 'open',
    now: clock.now(),
    allowLegacy: false,
  });
  expect(noLegacy.protocol_versions).toEqual(['uuru-fed/2']);
  expect(JSON.stringify(d)).not.toMatch(/enc1\$|private/);
});

it('refuses a received descriptor whose iax2.host or base_url fails the shared host rule', async () => {
  const keys = keysWith(SECRET);
  await keys.ensureKeys();
  const d = await buildDescriptor({
    config: tmp.config,
    localKeys: keys,
    policyMode: 'open',
    now: clock.now(),
  });
  const issuesOf = (x: unknown) =>
    descriptorSchema.safeParse(x).error?.issues.map((i) => i.path.join('.')) ?? [];
  expect(issuesOf(d)).toEqual([]);
  for (const host of ['peer\r\nhost=10.6.6.6', '#include /etc/passwd', '[::1', ' ']) {
    expect(issuesOf({ ...d, iax2: { ...d.iax2, host } })).toContain('iax2.host');
  }
  for (const baseUrl of [
    'https://user:pass@pbx-a.example.org:8443',
    'https://pbx-a.example.org:8443/?secret=x',
  ]) {
    expect(issuesOf({ ...d, base_url: baseUrl })).toContain('base_url');
  }
});

it('reuses the active key rows for a moment, sees its own rotation at once and another writer within ACTIVE_KEY_CACHE_MS', async () => {
  const keys = keysWith(SECRET);
  await keys.ensureKeys();
  const first = (await keys.signingKey()).keyId;
  const s = typeormFederationStores(tmp.db, clock);
  const listed = jest.spyOn(s.localKeys, 'list');
  const reader = new LocalKeys({
    store: s.localKeys,
    transactions: s.transactions,
    keyEncryptionSecret: s.keyEncryptionSecret,
    clock,
    config: makeConfig(tmp.dir, 'https://pbx-a.example.org:8443', SECRET),
    logger: new LogCapture().logger,
  });
  expect((await reader.signingKey()).keyId).toBe(first);
  await reader.agreementKey();
  await reader.signingKey();
  await reader.agreementKey();
  // One read per algorithm: the second call of each came from memory.
  expect(listed).toHaveBeenCalledTimes(2);

  // This instance's own rotation is seen at once.
  await reader.rotate();
  const rotated = (await reader.signingKey()).keyId;
  expect(rotated).not.toBe(first);
  expect((await reader.agreementKey()).kid).toBe(
    (await s.localKeys.list({ alg: 'x25519', status: ['active'] }, 'desc'))[0].kid,
  );

  // A rotation written by another instance (another replica) is seen once the remembered row is older than the bound.
  await keys.rotate();
  const byOther = (await keys.signingKey()).keyId;
  expect(byOther).not.toBe(rotated);
  const now = performance.now();
  const later = jest.spyOn(performance, 'now').mockReturnValue(now + ACTIVE_KEY_CACHE_MS);
  try {
    expect((await reader.signingKey()).keyId).toBe(byOther);
  } finally {
    later.mockRestore();
  }
});

it('reuses the published key rows (the descriptor) for a moment, sees its own rotation at once and another writer within ACTIVE_KEY_CACHE_MS', async () => {
  const keys = keysWith(SECRET);
  await keys.ensureKeys();
  const s = typeormFederationStores(tmp.db, clock);
  const listed = jest.spyOn(s.localKeys, 'list');
  const reader = new LocalKeys({
    store: s.localKeys,
    transactions: s.transactions,
    keyEncryptionSecret: s.keyEncryptionSecret,
    clock,
    config: makeConfig(tmp.dir, 'https://pbx-a.example.org:8443', SECRET),
    logger: new LogCapture().logger,
  });
  const kids = async () => (await reader.publishedSigningKeys()).map((k) => `${k.kid}:${k.status}`);
  const first = await kids();
  await reader.publishedAgreementKeys();
  for (let i = 0; i < 5; i++) {
    expect(await kids()).toEqual(first);
    await reader.publishedAgreementKeys();
  }
  // One read per algorithm: the later calls came from memory.
  expect(listed).toHaveBeenCalledTimes(2);

  // This instance's own rotation is published at once (the old key as retiring).
  await reader.rotate();
  const rotated = await kids();
  expect(rotated).not.toEqual(first);
  expect(rotated).toContain(`${first[0]?.split(':')[0]}:retiring`);

  // A rotation written by another instance is published once the remembered rows are older than the bound.
  await keys.rotate();
  expect(await kids()).toEqual(rotated);
  const now = performance.now();
  const later = jest.spyOn(performance, 'now').mockReturnValue(now + ACTIVE_KEY_CACHE_MS);
  try {
    const byOther = await kids();
    expect(byOther).not.toEqual(rotated);
    expect(byOther).toEqual((await keys.publishedSigningKeys()).map((k) => `${k.kid}:${k.status}`));
  } finally {
    later.mockRestore();
  }
});

it('serverNameOf and fingerprint', () => {
  expect(serverNameOf('https://PBX-A.example.org:8443/')).toBe('pbx-a.example.org:8443');
  expect(serverNameOf('https://pbx-a.example.org:443/x')).toBe('pbx-a.example.org');
  expect(serverNameOf('http://127.0.0.1:8090')).toBe('127.0.0.1:8090');
  const raw = 'JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs';
  const expected = createHash('sha256')
    .update(Buffer.from(raw, 'base64url'))
    .digest('base64')
    .replace(/=+$/, '');
  expect(fingerprint(raw)).toBe(`SHA256:${expected}`);
  expect(fingerprint(raw)).not.toBe(fingerprint('AAAAj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs'));
});

describe('SignedClient failures', () => {
  it('turns a refused connection into FED_PARTNER_UNREACHABLE (502, operational) without secrets in it', async () => {
    const logs = new LogCapture();
    const keys = keysWith(SECRET, logs);
    await keys.ensureKeys();
    const client = new SignedClient({ localKeys: keys, clock, fetch, timeoutMs: 1000, logger: logs.logger });
    const url = `${await deadUrl()}/federation/v2/peering-requests`;
    const err = await client.send({ method: 'POST', url, body: { secret_field: 'should-not-leak' } }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'FED_PARTNER_UNREACHABLE', status: 502, kind: 'operational' });
    const text = `${(err as Error).message}\n${logs.text()}`;
    expect(text).not.toContain('should-not-leak');
    for (const form of await privateForms(keys)) expect(text).not.toContain(form);
  });
});
