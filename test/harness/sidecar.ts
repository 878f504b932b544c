/**
 * A real sidecar process for integration tests: `node dist/main.js` when the
 * build is at least as new as every file under src/ (npm test builds first),
 * else `node -r ts-node/register/transpile-only src/main.ts` (the current
 * sources, no build step); either way the code under test. Configured through
 * UURU_* variables and a JSON config file, on free
 * loopback ports, with a temp data dir. The federation listener's public URL
 * is its own loopback address, so two sidecars can peer with each other.
 *
 * Database: SQLite in the data dir by default; `db: 'mariadb'` creates a fresh
 * database on the MariaDB of the integration global setup
 * (UURU_TEST_MARIADB_*) and drops it on stop().
 */
import { type ChildProcess, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { SigningKey } from '../../src/federation/http-signature';
import { decryptPrivateKey } from '../../src/core/key-encryption';
import { serverNameOf } from '../../src/federation/local-keys';
import { KEY_FILE_NAME, unsealStored } from '../../src/store/secrets-at-rest';
import { externalMariaDbFromEnv, makeServer, testDatabaseName } from './mariadb';
import { freePort } from './ports';
import { killPid, stopPid } from './processes';
import { waitUntil } from './wait';

const ROOT = path.resolve(__dirname, '..', '..');

/**
 * The tree a sidecar runs from: this one, unless a bench compares two builds in one run
 * (bench/compare.ts sets UURU_BENCH_SIDECAR_ROOT to another commit's worktree, built).
 */
function sidecarRoot(): string {
  const other = process.env.UURU_BENCH_SIDECAR_ROOT;
  return other ? path.resolve(other) : ROOT;
}

/** Newest modification time of any file under dir. */
function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : fs.statSync(p).mtimeMs);
  }
  return newest;
}

/**
 * The entry when a test names none: the build when it is current (dist/main.js
 * no older than every file under src/), else the sources. The build starts
 * seconds faster (ts-node transpiles every module at each start, and the
 * fault tests restart sidecars dozens of times); it is what `npm start` runs,
 * and `npm test` builds before it runs the tests. UURU_TEST_SIDECAR_ENTRY=
 * source or build forces one.
 */
function defaultEntry(root: string): 'source' | 'build' {
  const forced = process.env.UURU_TEST_SIDECAR_ENTRY;
  if (forced === 'source' || forced === 'build') return forced;
  const main = path.join(root, 'dist', 'main.js');
  if (!fs.existsSync(main)) return 'source';
  return fs.statSync(main).mtimeMs >= newestMtime(path.join(root, 'src')) ? 'build' : 'source';
}

/** Extra node flags for the sidecar process, e.g. `--cpu-prof --cpu-prof-dir=/tmp/p` to profile a bench. */
function sidecarNodeArgs(): string[] {
  return (process.env.UURU_BENCH_SIDECAR_NODE_ARGS ?? '').split(/\s+/).filter((a) => a !== '');
}

export interface SidecarOptions {
  /** Shown in logs and error messages. */
  name: string;
  db?: 'sqlite' | 'mariadb';
  /**
   * With db 'mariadb': join this existing database (another sidecar's) instead of creating one,
   * as a second replica of one instance does; destroy() leaves it to its owner.
   */
  sharedMariaDb?: string;
  /** With db 'mariadb': this server (e.g. one node of a Galera cluster) instead of the integration MariaDB. */
  mariaDbAt?: { host: string; port: number; user: string; password: string };
  /** Extra UURU_* variables (override the defaults below). */
  env?: Record<string, string>;
  /** Settings merged into the config file (e.g. jobs, federation timings). */
  config?: Record<string, unknown>;
  /** How long to wait for /readyz to report the database up. */
  readyTimeoutMs?: number;
  /**
   * 'source': the current sources under ts-node. 'build': `node dist/main.js`
   * as `npm start` runs it (build first), e.g. to measure memory without the
   * TypeScript compiler in the heap. Default: the build when it is current,
   * else the sources (see defaultEntry).
   */
  entry?: 'source' | 'build';
  /** Options for node itself, before the entry (e.g. --cpu-prof, which NODE_OPTIONS refuses). */
  nodeArgs?: string[];
}

export interface Sidecar {
  name: string;
  federationUrl: string;
  adminUrl: string;
  /** Bearer token for /api/admin. */
  token: string;
  pid: number;
  dataDir: string;
  /** SQLite file, or null on MariaDB. */
  sqlitePath: string | null;
  /** MariaDB database name, or null on SQLite. */
  mariaDbName: string | null;
  /** SIGTERM (then SIGKILL), keeps the data for restart(). */
  stop(): Promise<void>;
  /** SIGKILL, keeps the data for restart(). */
  kill(): Promise<void>;
  /** Starts again on the same ports with the same data. */
  restart(): Promise<void>;
  /** Stops and deletes the data dir and database. */
  destroy(): Promise<void>;
  /** Everything the process wrote to stdout/stderr so far. */
  logs(): string;
  /** JSON call to the admin API (path below /api/admin). */
  admin(method: string, apiPath: string, body?: unknown): Promise<{ status: number; json: unknown }>;
  /** Runs SQL on this sidecar's own database. */
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /** The secret its private keys and IAX2 secrets are encrypted with: UURU_KEY_ENCRYPTION_SECRET, else its key file. */
  keyEncryptionSecret(): string;
}

export async function startSidecar(opts: SidecarOptions): Promise<Sidecar> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `uuru-sidecar-${opts.name}-`));
  const [fedPort, adminPort] = [await freePort(), await freePort()];
  const token = crypto.randomBytes(24).toString('base64url');
  const federationUrl = `http://127.0.0.1:${fedPort}`;
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  const configFile = path.join(dataDir, 'config.json');
  fs.writeFileSync(configFile, JSON.stringify(opts.config ?? {}, null, 2));

  let mariaDbName: string | null = null;
  const dbEnv: Record<string, string> = {};
  const mariadb =
    opts.db !== 'mariadb'
      ? null
      : opts.mariaDbAt
        ? makeServer(opts.mariaDbAt, null)
        : externalMariaDbFromEnv();
  if (opts.db === 'mariadb') {
    if (!mariadb)
      throw new Error('db: mariadb needs UURU_TEST_MARIADB_HOST (run through the integration project)');
    mariaDbName = opts.sharedMariaDb ?? testDatabaseName(opts.name);
    if (!opts.sharedMariaDb) await mariadb.createDatabase(mariaDbName);
    Object.assign(dbEnv, {
      UURU_DATABASE_TYPE: 'mariadb',
      UURU_DATABASE_SERVER: mariadb.host,
      UURU_DATABASE_PORT: String(mariadb.port),
      UURU_DATABASE_USER: mariadb.user,
      UURU_DATABASE_PASSWORD: mariadb.password,
      UURU_DATABASE_DB: mariaDbName,
    });
  }
  const sqlitePath = opts.db === 'mariadb' ? null : path.join(dataDir, 'uuru-federation.sqlite');

  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    UURU_CONFIG_FILE: configFile,
    UURU_DATA_DIR: dataDir,
    UURU_HTTP_LISTEN: `127.0.0.1:${fedPort}`,
    UURU_ADMIN_LISTEN: `127.0.0.1:${adminPort}`,
    UURU_FEDERATION_UURU_HOST: federationUrl,
    UURU_FEDERATION_IAX2_HOST: '127.0.0.1',
    UURU_ASTERISK_ENABLED: 'false',
    UURU_ADMIN_BOOTSTRAP_TOKEN: token,
    UURU_LOG_FORMAT: 'json',
    UURU_LOGLEVEL: 'info',
    ...dbEnv,
    ...(opts.env ?? {}),
  };

  let child: ChildProcess | null = null;
  let output = '';
  const spawnIt = async (): Promise<void> => {
    const root = sidecarRoot();
    const entry = opts.entry ?? defaultEntry(root);
    const c = spawn(
      process.execPath,
      [
        ...sidecarNodeArgs(),
        ...(opts.nodeArgs ?? []),
        ...(entry === 'build'
          ? [path.join(root, 'dist', 'main.js')]
          : ['-r', 'ts-node/register/transpile-only', path.join(root, 'src', 'main.ts')]),
      ],
      {
        cwd: root,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    if (!c.pid) throw new Error(`sidecar ${opts.name} did not start`);
    c.stdout?.on('data', (d: Buffer) => (output += d.toString('utf8')));
    c.stderr?.on('data', (d: Buffer) => (output += d.toString('utf8')));
    child = c;
    try {
      await waitUntil(
        async () => {
          const res = await fetch(`${federationUrl}/readyz`, { signal: AbortSignal.timeout(2000) });
          // The database is up (a test may start it with Asterisk down on purpose, which /readyz
          // answers with 503); features finish starting right after.
          if (((await res.json()) as { database?: string }).database !== 'up') return false;
          const probe = await fetch(`${federationUrl}/.well-known/uuru-federation`, {
            signal: AbortSignal.timeout(2000),
          });
          return probe.status === 200;
        },
        {
          what: `sidecar ${opts.name} ready`,
          timeoutMs: opts.readyTimeoutMs ?? 60_000,
          intervalMs: 200,
          abort: () => (c.exitCode !== null ? `exited with ${c.exitCode}:\n${output.slice(-3000)}` : null),
        },
      );
    } catch (e) {
      await killPid(c.pid, c).catch(() => undefined);
      throw e;
    }
  };
  await spawnIt();

  const current = (): ChildProcess => {
    if (!child) throw new Error(`sidecar ${opts.name} is not running`);
    return child;
  };
  const stop = async (): Promise<void> => {
    const c = child;
    if (!c?.pid) return;
    await stopPid(c.pid, { child: c, graceMs: 10_000 });
    child = null;
  };
  const kill = async (): Promise<void> => {
    const c = child;
    if (!c?.pid) return;
    await killPid(c.pid, c);
    child = null;
  };

  const sidecar: Sidecar = {
    name: opts.name,
    federationUrl,
    adminUrl,
    token,
    get pid() {
      return current().pid ?? 0;
    },
    dataDir,
    sqlitePath,
    mariaDbName,
    stop,
    kill,
    async restart() {
      await stop();
      await spawnIt();
    },
    async destroy() {
      await stop();
      if (mariadb && mariaDbName) {
        if (!opts.sharedMariaDb) await mariadb.dropDatabase(mariaDbName).catch(() => undefined);
        await mariadb.stop();
      }
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
    logs: () => output,
    async admin(method, apiPath, body) {
      const res = await fetch(`${adminUrl}/api/admin${apiPath}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(30_000),
      });
      const text = await res.text();
      let json: unknown;
      try {
        json = text ? (JSON.parse(text) as unknown) : null;
      } catch {
        json = text;
      }
      return { status: res.status, json };
    },
    async query<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
      if (mariadb && mariaDbName) {
        return mariadb.query<T[]>(sql.replace(/\{db\}/g, `\`${mariaDbName}\``), params);
      }
      // Read through a separate connection: WAL lets it see committed data while the sidecar runs.
      const Database = (await import('better-sqlite3')).default;
      const db = new Database(sqlitePath ?? '', { readonly: true, fileMustExist: true });
      try {
        return db.prepare(sql.replace(/\{db\}\./g, '')).all(...params) as T[];
      } finally {
        db.close();
      }
    },
    keyEncryptionSecret() {
      return (
        env.UURU_KEY_ENCRYPTION_SECRET ?? fs.readFileSync(path.join(dataDir, KEY_FILE_NAME), 'utf8').trim()
      );
    },
  };
  return sidecar;
}

/** Stops sidecars in parallel, ignoring ones already gone; for afterAll. */
export async function destroyAll(sidecars: Array<Sidecar | null | undefined>): Promise<void> {
  await Promise.all(sidecars.map((s) => s?.destroy().catch(() => undefined)));
}

// ----------------------------------------------------------------- peering helpers

export interface PeerRow {
  id: string;
  name: string;
  prefix: string;
  secret: string;
  dialect: string;
  requestId: string;
  role: string;
  state: string;
  linkError: string | null;
  partnerError: string | null;
  partnerServerName: string | null;
  partnerIaxHost: string;
  partnerIaxPort: number;
  partnerExtensionLength: number;
  /** Whether its trunk is live in Asterisk: pending, applied, failed. */
  applyState: string;
}

/** The peer row straight from the sidecar's database, or undefined; the secret (sealed at rest) opened. */
export async function peerRow(s: Sidecar, name: string): Promise<PeerRow | undefined> {
  const rows = await s.query<PeerRow>('SELECT * FROM {db}.peers WHERE name = ?', [name]);
  const row = rows[0];
  return row && { ...row, secret: clearSecret(s, 'peers', row.secret) };
}

/** A sealed IAX2 secret read from a sidecar's database, opened with its key. */
export function clearSecret(
  s: Sidecar,
  table: 'peers' | 'incoming_requests' | 'outgoing_requests',
  stored: string,
) {
  return unsealStored(s.keyEncryptionSecret(), table, 'secret', stored);
}

export async function countRows(
  s: Sidecar,
  table: 'peers' | 'incoming_requests' | 'outgoing_requests' | 'outbox' | 'partners',
): Promise<number> {
  const rows = await s.query<{ n: number | string }>(`SELECT COUNT(*) AS n FROM {db}.${table}`);
  return Number(rows[0]?.n ?? 0);
}

/** Admin call that must succeed with the given status; returns the JSON body. */
export async function adminOk<T = Record<string, unknown>>(
  s: Sidecar,
  method: string,
  apiPath: string,
  body: unknown,
  status: number,
): Promise<T> {
  const r = await s.admin(method, apiPath, body);
  if (r.status !== status) {
    throw new Error(
      `${s.name} ${method} ${apiPath}: expected ${status}, got ${r.status} ${JSON.stringify(r.json)}`,
    );
  }
  return r.json as T;
}

export interface IncomingView {
  id: string;
  request_id: string;
  name: string;
  state: string;
  dialect: string;
  partner_key_fingerprint: string | null;
}

export async function incomingByName(s: Sidecar, name: string): Promise<IncomingView | undefined> {
  const list = await adminOk<{ requests: IncomingView[] }>(
    s,
    'GET',
    '/federation/incoming-requests',
    undefined,
    200,
  );
  return list.requests.find((r) => r.name === name);
}

export interface PeerViewJson {
  id: string;
  name: string;
  state: string;
  role: string;
  dialect: string;
  pending_deliveries: number;
  link_error: string | null;
  partner_error: string | null;
  partner_error_at: string | null;
  /** Derived: partner_error, else link_error. */
  last_error: string | null;
  partner_key_fingerprint: string | null;
}

export async function peerByName(s: Sidecar, name: string): Promise<PeerViewJson | undefined> {
  const list = await adminOk<{ peers: PeerViewJson[] }>(s, 'GET', '/federation/peers', undefined, 200);
  return list.peers.find((p) => p.name === name);
}

export interface OutgoingViewJson {
  id: string;
  name: string;
  state: string;
  dialect: string;
  decline_reason: string | null;
  pending_deliveries: number;
}

export async function outgoingByName(s: Sidecar, name: string): Promise<OutgoingViewJson | undefined> {
  const list = await adminOk<{ requests: OutgoingViewJson[] }>(
    s,
    'GET',
    '/federation/outgoing-requests',
    undefined,
    200,
  );
  return list.requests.find((r) => r.name === name);
}

/**
 * A sidecar's active keys, read from its own database (decrypted with its
 * key-encryption secret): the Ed25519 signing key
 * with the keyid it signs under, and the kid of its X25519 agreement key. For
 * tests and benches that sign requests as that sidecar.
 */
export async function activeKeys(s: Sidecar): Promise<{ signing: SigningKey; agreementKid: string }> {
  const [sig] = await s.query<{ kid: string; privateKey: string }>(
    "SELECT kid, privateKey FROM {db}.local_keys WHERE alg = 'ed25519' AND status = 'active'",
  );
  const [agr] = await s.query<{ kid: string }>(
    "SELECT kid FROM {db}.local_keys WHERE alg = 'x25519' AND status = 'active'",
  );
  if (!sig || !agr) throw new Error(`${s.name} has no active keys`);
  const privateKey = crypto.createPrivateKey({
    key: decryptPrivateKey(sig.privateKey, s.keyEncryptionSecret(), sig.kid, 'ed25519'),
    format: 'der',
    type: 'pkcs8',
  });
  return {
    signing: { keyId: `${serverNameOf(s.federationUrl)}#${sig.kid}`, privateKey },
    agreementKid: agr.kid,
  };
}
