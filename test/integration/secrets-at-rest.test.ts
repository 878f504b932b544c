/**
 * Secrets at rest, on the real parts: two complete instances (real sidecar
 * processes, each with its own real Asterisk), A on MariaDB with
 * UURU_KEY_ENCRYPTION_SECRET, B on SQLite without it (so B generates a key
 * file). After a peering, neither database holds an IAX2 secret
 * or a private key in clear: B's SQLite file and WAL are searched byte for
 * byte, A's MariaDB rows are read with plain SQL. The clear IAX2 secret is
 * taken from Asterisk's generated file, not from our own decryption.
 *
 * Then both databases are put back into the state earlier versions left them
 * in (secrets and private keys in clear, a v1 request and its notification
 * with the shared secret in clear, migration 0005 not applied), the
 * generated files are removed, and the sidecars restarted: the rows are
 * encrypted, the trunks come back with the right secret, and calls pass.
 *
 * Plus, without Asterisk: a data folder the store creates is 0700 and the
 * database and key file 0600.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { decryptPrivateKey } from '../../src/core/key-encryption';
import { openDatabase } from '../../src/store/data-source';
import { type Instance, LOCAL_ECHO_EXTENSION, startInstances } from '../harness/instance';
import { activeKeys, adminOk, incomingByName, peerByName, type Sidecar } from '../harness/sidecar';
import { waitUntil } from '../harness/wait';

jest.setTimeout(120_000);

const A_SECRET = 'a-key-encryption-secret-for-tests-0001';
/** The documented key file in the data folder (README, Secrets at rest). */
const KEY_FILE_NAME = 'key-encryption.key';
const KEY_FILE_WARNING =
  /no UURU_KEY_ENCRYPTION_SECRET is set: private keys and IAX2 secrets are encrypted with the key file/g;
const PEERINGS = [{ name: 'sar_v2', dialect: 'v2', prefixOnA: '71', prefixOnB: '72' }] as const;
/** A v1 shared secret, as stock µURU makes them; written in clear into request and outbox rows below. */
const V1_SECRET = 'V1clearSecretAbcdefghij0123456789';

let A: Instance;
let B: Instance;

beforeAll(async () => {
  [A, B] = await startInstances([
    { name: 'sara', db: 'mariadb', env: { UURU_KEY_ENCRYPTION_SECRET: A_SECRET } },
    { name: 'sarb', db: 'sqlite' },
  ]);
}, 180_000);

afterAll(async () => {
  await Promise.allSettled([A?.stop(), B?.stop()]);
});

/** The IAX2 secret Asterisk was given for a peer: its section in the generated file. */
function trunkSecret(side: Instance, name: string): string | undefined {
  const text = side.generatedConfig();
  const at = text.indexOf(`[${name}]`);
  if (at < 0) return undefined;
  const section = text.slice(at + name.length + 2).split(/\n\[/)[0];
  return /^secret=(.+)$/m.exec(section)?.[1];
}

async function appliedPeer(s: Sidecar, name: string): Promise<{ id: string }> {
  return waitUntil(
    async () => {
      const p = (await peerByName(s, name)) as { id: string; apply_state?: string; apply_error?: string };
      if (p?.apply_state === 'failed') throw new Error(`apply failed: ${p.apply_error}`);
      return p?.apply_state === 'applied' ? p : undefined;
    },
    { what: `peer ${name} applied on ${s.name}`, timeoutMs: 30_000 },
  );
}

/** Every form a private key could leak in: PKCS#8 DER base64, raw key (b64url, base64, hex). */
async function privateKeyForms(s: Sidecar): Promise<string[]> {
  const keys = await s.query<{ kid: string; alg: string; privateKey: string }>(
    "SELECT kid, alg, privateKey FROM {db}.local_keys WHERE privateKey <> ''",
  );
  expect(keys.length).toBeGreaterThanOrEqual(2);
  const { createPrivateKey } = await import('node:crypto');
  return keys.flatMap((k) => {
    const der = clearPrivateKey(s, k);
    const d = String(
      createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }).export({ format: 'jwk' }).d,
    );
    const raw = Buffer.from(d, 'base64url');
    return [der.toString('base64'), d, raw.toString('base64').replace(/=+$/, ''), raw.toString('hex')];
  });
}

/** The secret a sidecar encrypts with: A's variable, else the key file in its data folder. */
function keySecretOf(s: Sidecar): string {
  return s === A.sidecar ? A_SECRET : fs.readFileSync(path.join(s.dataDir, KEY_FILE_NAME), 'utf8').trim();
}

/** A stored private key's PKCS#8 DER (a row in clear, as earlier versions wrote, is read as it is). */
function clearPrivateKey(s: Sidecar, k: { kid: string; alg: string; privateKey: string }): Buffer {
  return k.privateKey.startsWith('enc1$')
    ? decryptPrivateKey(k.privateKey, keySecretOf(s), k.kid, k.alg)
    : Buffer.from(k.privateKey, 'base64');
}

/** Everything the database holds, as the bytes an attacker with a copy would read. */
async function rawStore(s: Sidecar): Promise<string> {
  if (s.sqlitePath) {
    return [s.sqlitePath, `${s.sqlitePath}-wal`]
      .filter((f) => fs.existsSync(f))
      .map((f) => fs.readFileSync(f).toString('latin1'))
      .join('\n');
  }
  const tables = await s.query<Record<string, string>>(
    'SELECT table_name AS t FROM information_schema.tables WHERE table_schema = ?',
    [s.mariaDbName],
  );
  expect(tables.length).toBeGreaterThan(5);
  const dump: string[] = [];
  for (const { t } of tables) dump.push(JSON.stringify(await s.query(`SELECT * FROM {db}.\`${t}\``)));
  return dump.join('\n');
}

/** Runs statements on a stopped sidecar's database as a tool outside the sidecar would. */
async function writeRaw(s: Sidecar, statements: [string, unknown[]][]): Promise<void> {
  if (s.sqlitePath) {
    const db = new Database(s.sqlitePath);
    try {
      for (const [sql, params] of statements) db.prepare(sql.replace(/\{db\}\./g, '')).run(...params);
    } finally {
      db.close();
    }
    return;
  }
  for (const [sql, params] of statements) await s.query(sql, params);
}

const clearSecrets = new Map<string, string>();
const V1_REQUEST_ID = '5b0a3f8e-9c1d-4e2f-8a7b-6c5d4e3f2a1b';

/** A declined v1 request and its given-up notification, both holding the shared secret in clear. */
function v1RowsInClear(): [string, unknown[]][] {
  const now = Date.now();
  return [
    [
      'INSERT INTO {db}.outgoing_requests (id, name, partnerUrl, partnerServerName, prefix, codec, dialect, secret, agreementKid, state, declineReason, lastError, createdAt, updatedAt) VALUES (?, ?, ?, NULL, ?, ?, ?, ?, NULL, ?, NULL, NULL, ?, ?)',
      [
        V1_REQUEST_ID,
        'sar_old_v1',
        'http://192.0.2.7:8090',
        '55',
        'ulaw',
        'v1',
        V1_SECRET,
        'declined',
        now,
        now,
      ],
    ],
    [
      'INSERT INTO {db}.outbox (id, kind, dialect, peerName, requestId, method, url, body, state, attempts, nextAttemptAt, expiresAt, lastError, createdAt, updatedAt) VALUES (?, ?, ?, NULL, ?, ?, ?, ?, ?, 1, ?, ?, NULL, ?, ?)',
      [
        '0d9c8b7a-6f5e-4d3c-2b1a-0f9e8d7c6b5a',
        'revoke',
        'v1',
        V1_REQUEST_ID,
        'DELETE',
        `http://192.0.2.7:8090/api/v1/federation/incoming/request/${V1_REQUEST_ID}?secret=${V1_SECRET}`,
        JSON.stringify({ name: 'sar_old_v1', secret: V1_SECRET }),
        'failed',
        now,
        now,
        now,
        now,
      ],
    ],
  ];
}

describe('two instances peered', () => {
  it('A requests, B accepts: both trunks applied with the same secret', async () => {
    for (const p of PEERINGS) {
      await adminOk(
        A.sidecar,
        'POST',
        '/federation/outgoing-requests',
        {
          name: p.name,
          partner_url: B.sidecar.federationUrl,
          prefix: p.prefixOnA,
          codec: 'ulaw',
          dialect: p.dialect,
        },
        201,
      );
      const incoming = await waitUntil(() => incomingByName(B.sidecar, p.name), {
        what: `incoming ${p.name} on B`,
      });
      await adminOk(
        B.sidecar,
        'POST',
        `/federation/incoming-requests/${incoming.id}/accept`,
        { prefix: p.prefixOnB },
        200,
      );
      await Promise.all([appliedPeer(A.sidecar, p.name), appliedPeer(B.sidecar, p.name)]);
      const secret = trunkSecret(A, p.name);
      expect(secret).toMatch(/^[A-Za-z0-9_-]{32,40}$/);
      expect(trunkSecret(B, p.name)).toBe(secret);
      clearSecrets.set(p.name, secret ?? '');
    }
  });

  it('neither database holds an IAX2 secret or a private key in clear (SQLite bytes and WAL; MariaDB rows)', async () => {
    expect(clearSecrets.size).toBe(PEERINGS.length);
    for (const side of [A, B]) {
      const raw = await rawStore(side.sidecar);
      expect(raw).toContain('enc:v1:');
      for (const [name, secret] of clearSecrets) {
        expect({ side: side.name, name, clearSecretStored: raw.includes(secret) }).toEqual({
          side: side.name,
          name,
          clearSecretStored: false,
        });
      }
      for (const form of await privateKeyForms(side.sidecar)) expect(raw).not.toContain(form);
    }
  });

  it('files: SQLite database, WAL, SHM and key file are 0600; the key file only where no secret is set', () => {
    const b = B.sidecar;
    for (const f of [
      b.sqlitePath ?? '',
      `${b.sqlitePath}-wal`,
      `${b.sqlitePath}-shm`,
      path.join(b.dataDir, KEY_FILE_NAME),
    ]) {
      expect({ f, mode: (fs.statSync(f).mode & 0o777).toString(8) }).toEqual({ f, mode: '600' });
    }
    expect(fs.existsSync(path.join(A.sidecar.dataDir, KEY_FILE_NAME))).toBe(false);
  });

  it('the start warns once that the key file lies beside the data, and not when a secret is set', () => {
    expect(B.sidecar.logs().match(KEY_FILE_WARNING)).toHaveLength(1);
    expect(B.sidecar.logs()).toContain('README.md#secrets-at-rest');
    expect(B.sidecar.logs()).not.toContain(keySecretOf(B.sidecar));
    expect(A.sidecar.logs()).not.toMatch(KEY_FILE_WARNING);
  });

  it('a database with secrets in clear (as earlier versions wrote it) is encrypted on start; trunks and calls still work', async () => {
    // Signing keys first: they are read back from the encrypted rows with each side's key.
    const clearKeys = new Map<Sidecar, { kid: string; b64: string }[]>();
    for (const side of [A, B]) {
      const s = side.sidecar;
      const rows = await s.query<{ kid: string; alg: string; privateKey: string }>(
        "SELECT kid, alg, privateKey FROM {db}.local_keys WHERE privateKey <> ''",
      );
      clearKeys.set(
        s,
        rows.map((r) => ({
          kid: r.kid,
          b64: clearPrivateKey(s, r).toString('base64'),
        })),
      );
    }
    const signingBefore = await activeKeys(B.sidecar);
    await Promise.all([A.sidecar.stop(), B.sidecar.stop()]);
    for (const side of [A, B]) {
      const s = side.sidecar;
      await writeRaw(s, [
        // Earlier versions knew no secret epochs: the secret in the row is the one Asterisk gets.
        ...[...clearSecrets].map(([name, secret]): [string, unknown[]] => [
          'UPDATE {db}.peers SET secret = ?, secretEpochSeconds = NULL WHERE name = ?',
          [secret, name],
        ]),
        ...(clearKeys.get(s) ?? []).map((k): [string, unknown[]] => [
          'UPDATE {db}.local_keys SET privateKey = ? WHERE kid = ?',
          [k.b64, k.kid],
        ]),
        ...v1RowsInClear(),
        ["DELETE FROM {db}.migrations WHERE name = 'EncryptSecrets1763800000500'", []],
      ]);
      // The trunks must be rebuilt from the database: a ciphertext read as the secret would show here.
      for (const f of ['iax-uuru-federation.conf', 'extensions-uuru-federation.conf'])
        fs.rmSync(path.join(side.asterisk.configDir, f), { force: true });
      const raw = await rawStore(s);
      for (const secret of [...clearSecrets.values(), V1_SECRET]) expect(raw).toContain(secret);
    }
    await Promise.all([A.sidecar.restart(), B.sidecar.restart()]);

    for (const side of [A, B]) {
      const raw = await rawStore(side.sidecar);
      for (const secret of [...clearSecrets.values(), V1_SECRET]) expect(raw).not.toContain(secret);
      for (const form of await privateKeyForms(side.sidecar)) expect(raw).not.toContain(form);
      const migrations = await side.sidecar.query<{ name: string }>('SELECT name FROM {db}.migrations');
      expect(migrations.map((m) => m.name)).toContain('EncryptSecrets1763800000500');
    }
    expect((await activeKeys(B.sidecar)).signing.keyId).toBe(signingBefore.signing.keyId);
    // The sealed v1 request still reads: the admin API lists it.
    const outgoing = await adminOk<{ requests: { id: string }[] }>(
      A.sidecar,
      'GET',
      '/federation/outgoing-requests',
      undefined,
      200,
    );
    expect(outgoing.requests.map((r) => r.id)).toContain(V1_REQUEST_ID);

    for (const p of PEERINGS) {
      for (const side of [A, B]) {
        await appliedPeer(side.sidecar, p.name);
        await waitUntil(
          async () => (trunkSecret(side, p.name) === clearSecrets.get(p.name) ? true : undefined),
          { what: `${p.name} secret in ${side.name}'s Asterisk file` },
        );
      }
      const call = await A.dial(`${p.prefixOnA}${LOCAL_ECHO_EXTENSION}`);
      expect({ peering: p.name, answered: call.answered, reason: call.reason }).toEqual({
        peering: p.name,
        answered: true,
        reason: null,
      });
    }
    // Signed v2 calls still work with the re-encrypted keys: B tears the v2 peering down, A follows.
    const onB = await appliedPeer(B.sidecar, 'sar_v2');
    await adminOk(B.sidecar, 'DELETE', `/federation/peers/${onB.id}`, undefined, 204);
    await waitUntil(async () => ((await peerByName(A.sidecar, 'sar_v2')) ? undefined : true), {
      what: 'A forgot sar_v2',
    });
  });
});

describe('a data folder the store creates', () => {
  const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'uuru-sar-'));
  afterAll(() => fs.rmSync(parent, { recursive: true, force: true }));

  it('is 0700, with the database, its WAL/SHM and the key file 0600', async () => {
    const dataDir = path.join(parent, 'fresh', 'data');
    // What a service's usual umask would give without the store's care: 0755 folders, 0644 files.
    const umask = process.umask(0o022);
    try {
      const db = await openDatabase({
        dataDir,
        database: {
          type: 'sqlite',
          host: '127.0.0.1',
          port: 3306,
          user: 'unused',
          password: '',
          database: 'unused',
        },
      });
      try {
        const mode = (f: string) => (fs.statSync(f).mode & 0o777).toString(8);
        const file = path.join(dataDir, 'uuru-federation.sqlite');
        expect(mode(dataDir)).toBe('700');
        for (const f of [file, `${file}-wal`, `${file}-shm`, path.join(dataDir, KEY_FILE_NAME)])
          expect({ f, mode: mode(f) }).toEqual({ f, mode: '600' });
      } finally {
        await db.destroy();
      }
    } finally {
      process.umask(umask);
    }
  });
});
