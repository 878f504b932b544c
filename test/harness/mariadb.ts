/**
 * A MariaDB server for tests.
 *
 * Environment variables (for machines without root or without mariadbd):
 *   UURU_TEST_MARIADB_HOST      use this existing server instead of starting one
 *   UURU_TEST_MARIADB_PORT      its TCP port (default 3306)
 *   UURU_TEST_MARIADB_USER      a user allowed to CREATE and DROP databases and
 *                               to create tables in them (default root)
 *   UURU_TEST_MARIADB_PASSWORD  its password (default empty)
 * Tests create databases named `uuru_test_*` on it and drop them afterwards.
 *
 * Without UURU_TEST_MARIADB_HOST the harness starts a private server: it
 * installs `mariadb-server` with apt when `mariadbd` is missing and we are
 * root, initialises a fresh data dir under the OS temp dir, and runs mariadbd
 * on a free 127.0.0.1 port with a password user reached over TCP, as in
 * production. The integration project's global setup starts one such server
 * for the whole run and exports the variables above, so every test file
 * reuses it.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { freePort } from './ports';
import { stopPid } from './processes';
import { waitUntil, whenAnswering } from './wait';

export interface MariaDbServer {
  host: string;
  port: number;
  user: string;
  password: string;
  /** Unix socket of a private server; null for an external one. */
  socketPath: string | null;
  /** Pid of a private server; null for an external one (never stopped by us). */
  pid: number | null;
  /** Data dir and logs of a private server; null for an external one. */
  baseDir: string | null;
  /**
   * CREATE DATABASE with the server's default character set, as an
   * administrator's plain `CREATE DATABASE uuru` would: latin1 on the private
   * server (see startPrivateMariaDb).
   */
  createDatabase(name: string): Promise<void>;
  dropDatabase(name: string): Promise<void>;
  query<T = unknown>(sql: string, params?: unknown[]): Promise<T>;
  /** Stops a private server and deletes its data dir; for an external one only closes our connections. */
  stop(): Promise<void>;
}

const DB_NAME = /^[A-Za-z0-9_]{1,64}$/;

/** A unique database name for one test file or suite. */
export function testDatabaseName(prefix: string): string {
  return `uuru_test_${prefix.replace(/[^A-Za-z0-9_]/g, '_')}_${crypto.randomBytes(4).toString('hex')}`.slice(
    0,
    64,
  );
}

function findBinary(name: string): string | null {
  for (const dir of ['/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin']) {
    const file = path.join(dir, name);
    if (fs.existsSync(file)) return file;
  }
  return null;
}

export function ensureInstalled(): { mariadbd: string; installDb: string } {
  let mariadbd = findBinary('mariadbd');
  if (!mariadbd && process.getuid?.() === 0) {
    execFileSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', 'mariadb-server'], {
      stdio: 'ignore',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      timeout: 300_000,
    });
    mariadbd = findBinary('mariadbd');
  }
  const installDb = findBinary('mariadb-install-db');
  if (!mariadbd || !installDb) {
    throw new Error(
      'mariadbd is not installed and cannot be installed here (not root): install mariadb-server, ' +
        'or point UURU_TEST_MARIADB_HOST/_PORT/_USER/_PASSWORD at an existing server',
    );
  }
  return { mariadbd, installDb };
}

export function makeServer(
  coords: { host: string; port: number; user: string; password: string },
  priv: { socketPath: string; pid: number; baseDir: string; child?: ChildProcess } | null,
): MariaDbServer {
  let pool: mysql.Pool | null = null;
  const getPool = (): mysql.Pool => {
    pool ??= mysql.createPool({
      host: coords.host,
      port: coords.port,
      user: coords.user,
      password: coords.password,
      connectionLimit: 4,
      connectTimeout: 5000,
    });
    return pool;
  };
  const query = async <T>(sql: string, params: unknown[] = []): Promise<T> => {
    const [rows] = await getPool().query(sql, params);
    return rows as T;
  };
  const checkName = (name: string): string => {
    if (!DB_NAME.test(name)) throw new Error(`invalid database name ${JSON.stringify(name)}`);
    return name;
  };
  return {
    ...coords,
    socketPath: priv?.socketPath ?? null,
    pid: priv?.pid ?? null,
    baseDir: priv?.baseDir ?? null,
    query,
    async createDatabase(name) {
      await query(`CREATE DATABASE \`${checkName(name)}\``);
    },
    async dropDatabase(name) {
      await query(`DROP DATABASE IF EXISTS \`${checkName(name)}\``);
    },
    async stop() {
      if (pool) await pool.end().catch(() => undefined);
      pool = null;
      if (priv) {
        await stopPid(priv.pid, { child: priv.child, graceMs: 15_000 });
        fs.rmSync(priv.baseDir, { recursive: true, force: true });
      }
    },
  };
}

/** The server named by UURU_TEST_MARIADB_*, or null when none is configured. */
export function externalMariaDbFromEnv(): MariaDbServer | null {
  const host = process.env.UURU_TEST_MARIADB_HOST;
  if (!host) return null;
  return makeServer(
    {
      host,
      port: Number(process.env.UURU_TEST_MARIADB_PORT ?? 3306),
      user: process.env.UURU_TEST_MARIADB_USER ?? 'root',
      password: process.env.UURU_TEST_MARIADB_PASSWORD ?? '',
    },
    null,
  );
}

/** Connects to a server left by an earlier process (global setup) without owning it: stop() stops it. */
export function attachMariaDb(state: {
  host: string;
  port: number;
  user: string;
  password: string;
  socketPath: string;
  pid: number;
  baseDir: string;
}): MariaDbServer {
  const { socketPath, pid, baseDir, ...coords } = state;
  return makeServer(coords, { socketPath, pid, baseDir });
}

export async function startMariaDb(): Promise<MariaDbServer> {
  const external = externalMariaDbFromEnv();
  if (external) {
    await waitUntil(async () => (await external.query('SELECT 1'), true), {
      what: 'MariaDB from UURU_TEST_MARIADB_HOST',
      timeoutMs: 10_000,
      intervalMs: 500,
    });
    return external;
  }
  return startPrivateMariaDb();
}

/** Always starts a private server, ignoring the environment. */
export async function startPrivateMariaDb(): Promise<MariaDbServer> {
  const { mariadbd, installDb } = ensureInstalled();
  const baseDir = fs.mkdtempSync(path.join(os.tmpdir(), 'uuru-mariadb-'));
  const dataDir = path.join(baseDir, 'data');
  const socketPath = path.join(baseDir, 'mysqld.sock');
  const errorLog = path.join(baseDir, 'error.log');
  const user = 'uuru_test';
  const password = crypto.randomBytes(12).toString('hex');
  const host = '127.0.0.1';
  // Small InnoDB files and relaxed flushing: test data need not survive a crash.
  const serverTuning = [
    '--innodb-log-file-size=16M',
    '--innodb-buffer-pool-size=64M',
    '--innodb-flush-log-at-trx-commit=2',
    '--innodb-doublewrite=0',
    '--skip-name-resolve',
  ];
  try {
    execFileSync(
      installDb,
      [
        '--no-defaults',
        `--datadir=${dataDir}`,
        '--user=root',
        '--auth-root-authentication-method=socket',
        '--skip-test-db',
        ...serverTuning,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 },
    );
    // The init file runs before the server accepts connections, so no window without the user.
    const initFile = path.join(baseDir, 'init.sql');
    fs.writeFileSync(
      initFile,
      [
        `CREATE USER IF NOT EXISTS '${user}'@'%' IDENTIFIED BY '${password}';`,
        `GRANT ALL PRIVILEGES ON *.* TO '${user}'@'%' WITH GRANT OPTION;`,
        'FLUSH PRIVILEGES;',
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    const port = await freePort();
    const child = spawn(
      mariadbd,
      [
        '--no-defaults',
        `--datadir=${dataDir}`,
        `--port=${port}`,
        `--bind-address=${host}`,
        `--socket=${socketPath}`,
        `--pid-file=${path.join(baseDir, 'mysqld.pid')}`,
        `--log-error=${errorLog}`,
        `--init-file=${initFile}`,
        '--user=root',
        '--skip-log-bin',
        // MariaDB's compiled default, common in the wild (Debian's packaged config sets utf8mb4):
        // databases created here are latin1, so the sidecar's own conversion to utf8mb4 stays tested.
        '--character-set-server=latin1',
        '--collation-server=latin1_swedish_ci',
        '--max-connections=300',
        ...serverTuning,
      ],
      { stdio: 'ignore', detached: false },
    );
    child.unref();
    if (!child.pid) throw new Error('mariadbd did not start');
    const server = makeServer({ host, port, user, password }, { socketPath, pid: child.pid, baseDir, child });
    return await whenAnswering(server, {
      what: 'MariaDB',
      query: () => server.query('SELECT 1'),
      child,
      logFile: errorLog,
    });
  } catch (e) {
    fs.rmSync(baseDir, { recursive: true, force: true });
    throw e;
  }
}
