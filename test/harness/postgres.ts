/**
 * A private PostgreSQL server for tests (µURU's default application database).
 *
 * Shaped like mariadb.ts: it installs Debian's `postgresql` with apt when the
 * binaries are missing and we are root, initialises a fresh data folder under
 * the OS temp dir, and runs `postgres` on a free 127.0.0.1 port with a
 * password user reached over TCP. PostgreSQL refuses to run as root, so as
 * root the server runs as the `postgres` system user (made by the package) or,
 * without it, as `nobody`; the data folder is given to that user. Stopped by
 * its pid (stop()), which also deletes the data folder.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { freePort } from './ports';
import { stopPid } from './processes';
import { whenAnswering } from './wait';

export interface PostgresServer {
  host: string;
  port: number;
  user: string;
  password: string;
  pid: number;
  baseDir: string;
  /** CREATE DATABASE with the server's defaults (UTF8), as `createdb uuru` would. */
  createDatabase(name: string): Promise<void>;
  dropDatabase(name: string): Promise<void>;
  /** Runs one statement on the named database (default: postgres) and returns its rows. */
  query<T = Record<string, unknown>>(sql: string, params?: unknown[], database?: string): Promise<T[]>;
  /** A URL for the named database, as a µURU deployment's SQLAlchemy URL would name it. */
  url(database: string): string;
  stop(): Promise<void>;
}

const DB_NAME = /^[A-Za-z0-9_]{1,63}$/;

function findBinDir(): string | null {
  const root = '/usr/lib/postgresql';
  if (!fs.existsSync(root)) return null;
  const versions = fs
    .readdirSync(root)
    .filter((v) => fs.existsSync(path.join(root, v, 'bin', 'postgres')))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length > 0 ? path.join(root, versions[0], 'bin') : null;
}

function ensureInstalled(): string {
  let bin = findBinDir();
  if (!bin && process.getuid?.() === 0) {
    execFileSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', 'postgresql'], {
      stdio: 'ignore',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      timeout: 300_000,
    });
    bin = findBinDir();
  }
  if (!bin) {
    throw new Error(
      "PostgreSQL is not installed and cannot be installed here (not root): install Debian's postgresql package",
    );
  }
  return bin;
}

/** The uid/gid to run as: ourselves unless root (postgres refuses root). */
function serverUser(): { uid: number; gid: number; name: string } | null {
  if (process.getuid?.() !== 0) return null;
  for (const name of ['postgres', 'nobody']) {
    try {
      const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
      const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim());
      return { uid, gid, name };
    } catch {
      // next candidate
    }
  }
  throw new Error('running as root and neither a postgres nor a nobody user exists to run PostgreSQL as');
}

export async function startPostgres(): Promise<PostgresServer> {
  const bin = ensureInstalled();
  const runAs = serverUser();
  const baseDir = fs.mkdtempSync(path.join(os.tmpdir(), 'uuru-postgres-'));
  const dataDir = path.join(baseDir, 'data');
  const logFile = path.join(baseDir, 'postgres.log');
  const pwFile = path.join(baseDir, 'pw');
  const user = 'uuru_test';
  const password = crypto.randomBytes(12).toString('hex');
  const host = '127.0.0.1';
  try {
    fs.writeFileSync(pwFile, `${password}\n`, { mode: 0o600 });
    fs.writeFileSync(logFile, '');
    if (runAs) {
      // mkdtemp makes 0700: the server user needs to enter its own folder.
      fs.chmodSync(baseDir, 0o755);
      for (const f of [baseDir, pwFile, logFile]) fs.chownSync(f, runAs.uid, runAs.gid);
    }
    const asUser = { uid: runAs?.uid, gid: runAs?.gid };
    execFileSync(
      path.join(bin, 'initdb'),
      [
        '-D',
        dataDir,
        '-U',
        user,
        `--pwfile=${pwFile}`,
        '--auth=scram-sha-256',
        '--encoding=UTF8',
        '--locale=C',
        '--no-sync',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000, ...asUser },
    );
    fs.rmSync(pwFile, { force: true });
    const port = await freePort();
    const out = fs.openSync(logFile, 'a');
    const child: ChildProcess = spawn(
      path.join(bin, 'postgres'),
      [
        '-D',
        dataDir,
        '-p',
        String(port),
        '-h',
        host,
        // The socket in our own folder: the system's /var/run/postgresql may not exist or be someone else's.
        '-k',
        baseDir,
        '-c',
        'fsync=off',
        '-c',
        'synchronous_commit=off',
        '-c',
        'full_page_writes=off',
        '-c',
        'max_connections=50',
        '-c',
        'shared_buffers=16MB',
      ],
      { stdio: ['ignore', out, out], detached: false, ...asUser },
    );
    fs.closeSync(out);
    child.unref();
    if (!child.pid) throw new Error('postgres did not start');
    const pid = child.pid;
    const checkName = (name: string): string => {
      if (!DB_NAME.test(name)) throw new Error(`invalid database name ${JSON.stringify(name)}`);
      return name;
    };
    const query = async <T>(sql: string, params: unknown[] = [], database = 'postgres'): Promise<T[]> => {
      const client = new Client({ host, port, user, password, database, connectionTimeoutMillis: 5000 });
      await client.connect();
      try {
        const r = await client.query(sql, params);
        return r.rows as T[];
      } finally {
        await client.end().catch(() => undefined);
      }
    };
    const server: PostgresServer = {
      host,
      port,
      user,
      password,
      pid,
      baseDir,
      query,
      url: (database) =>
        `postgresql://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${host}:${port}/${checkName(database)}`,
      async createDatabase(name) {
        await query(`CREATE DATABASE "${checkName(name)}"`);
      },
      async dropDatabase(name) {
        await query(`DROP DATABASE IF EXISTS "${checkName(name)}" WITH (FORCE)`);
      },
      async stop() {
        await stopPid(pid, { child, graceMs: 15_000 });
        fs.rmSync(baseDir, { recursive: true, force: true });
      },
    };
    return await whenAnswering(server, {
      what: 'PostgreSQL',
      query: () => query('SELECT 1'),
      child,
      logFile: logFile,
    });
  } catch (e) {
    fs.rmSync(baseDir, { recursive: true, force: true });
    throw e;
  }
}
