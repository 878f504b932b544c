import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Sidecar, startSidecar } from '../harness/sidecar';

/**
 * docs/operations.md's backup, restore and key-moving steps, done as written
 * on real sidecar processes (SQLite): a copy of the stopped data folder is the
 * same instance (same keys); the database without its key does not start and
 * says which key it tried; the saved key file put back, or its content moved
 * into UURU_KEY_ENCRYPTION_SECRET, opens it again.
 */

interface KeyView {
  kid: string;
  alg: string;
  status: string;
  fingerprint: string;
}

const KEY_FILE = 'key-encryption.key';

let original: Sidecar;
let originalKeys: KeyView[];
let backup: string;
const started: Sidecar[] = [];
const copies: string[] = [];

async function keysOf(s: Sidecar): Promise<KeyView[]> {
  const r = await s.admin('GET', '/federation/keys');
  expect(r.status).toBe(200);
  return (r.json as { keys: KeyView[] }).keys.map(({ kid, alg, status, fingerprint }) => ({
    kid,
    alg,
    status,
    fingerprint,
  }));
}

/** `cp -a <backup> <new folder>`, as the doc says, optionally without the key file. */
function restoreCopy(withKeyFile: boolean): string {
  const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'uuru-restore-')), 'data');
  copies.push(path.dirname(dir));
  execFileSync('cp', ['-a', backup, dir]);
  if (!withKeyFile) fs.rmSync(path.join(dir, KEY_FILE));
  return dir;
}

async function startFrom(dir: string, env: Record<string, string> = {}): Promise<Sidecar> {
  const s = await startSidecar({
    name: 'restored',
    env: { UURU_DATA_DIR: dir, UURU_FEDERATION_UURU_HOST: original.federationUrl, ...env },
  });
  started.push(s);
  return s;
}

afterEach(async () => {
  // one restored sidecar at a time
  for (const s of started.splice(0)) await s.destroy().catch(() => undefined);
});

beforeAll(async () => {
  original = await startSidecar({ name: 'original' });
  originalKeys = await keysOf(original);
  await original.stop();
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'uuru-backup-'));
  copies.push(folder);
  backup = path.join(folder, 'data');
  // Backup: the sidecar stopped, the data folder copied.
  execFileSync('cp', ['-a', original.dataDir, backup]);
}, 120_000);

afterAll(async () => {
  for (const s of started) await s.destroy().catch(() => undefined);
  await original?.destroy();
  for (const dir of copies) fs.rmSync(dir, { recursive: true, force: true });
});

describe('backup and restore (docs/operations.md)', () => {
  it('the backup holds the database and the key file, both 0600', () => {
    for (const file of ['uuru-federation.sqlite', KEY_FILE])
      expect(fs.statSync(path.join(backup, file)).mode & 0o777).toBe(0o600);
    expect(originalKeys.map((k) => k.alg).sort()).toEqual(['ed25519', 'x25519']);
  });

  it('a copy of the stopped data folder starts as the same instance: the same keys', async () => {
    const restored = await startFrom(restoreCopy(true));
    expect(await keysOf(restored)).toEqual(originalKeys);
  }, 180_000);

  it('the database without its key file does not start, names the key it tried, and starts once the saved key is back', async () => {
    const dir = restoreCopy(false);
    let failure = '';
    await startFrom(dir).catch((e: Error) => (failure = e.message));
    expect(failure).toMatch(
      /cannot decrypt the (secrets|private keys) stored in the database: no UURU_KEY_ENCRYPTION_SECRET is set and the key file .*key-encryption\.key is not the key they were stored with/,
    );
    expect(failure).toContain('"code":"FED_KEY_DECRYPT_FAILED"');
    const saved = fs.readFileSync(path.join(backup, KEY_FILE), 'utf8');
    // The failed start made a new key file, which does not open the database: the saved one replaces it.
    expect(fs.readFileSync(path.join(dir, KEY_FILE), 'utf8')).not.toBe(saved);
    expect(failure).not.toContain(saved.trim());
    execFileSync('install', ['-m', '0600', path.join(backup, KEY_FILE), path.join(dir, KEY_FILE)]);
    const restored = await startFrom(dir);
    expect(await keysOf(restored)).toEqual(originalKeys);
  }, 180_000);

  it("the key file's content moved into UURU_KEY_ENCRYPTION_SECRET opens the copy without a key file", async () => {
    const dir = restoreCopy(false);
    // UURU_KEY_ENCRYPTION_SECRET=$(cat data/key-encryption.key): the shell drops the trailing newline
    const secret = execFileSync('sh', ['-c', 'printf %s "$(cat "$1")"', 'sh', path.join(backup, KEY_FILE)], {
      encoding: 'utf8',
    });
    const restored = await startFrom(dir, { UURU_KEY_ENCRYPTION_SECRET: secret });
    expect(await keysOf(restored)).toEqual(originalKeys);
    expect(fs.existsSync(path.join(dir, KEY_FILE))).toBe(false);
    expect(restored.logs()).not.toContain('lies beside the data');
  }, 180_000);
});
