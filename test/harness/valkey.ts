/**
 * A private Valkey-protocol server for tests: Debian's `redis-server` (7.0 on
 * bookworm; Valkey speaks the same protocol and is not packaged there), on a
 * free 127.0.0.1 port with its own temp dir, nothing written to disk
 * (`--save '' --appendonly no`) and a password, as a production server has.
 * scripts/setup-system.sh installs the package; its system service is never
 * used. Stopped by pid; `restart` brings a stopped server back on the same port
 * (empty, as a restarted server without persistence is).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './ports';
import { stopPid, tailFile } from './processes';
import { waitUntil } from './wait';

export interface ValkeyServer {
  host: string;
  port: number;
  password: string;
  /** redis://:password@host:port/0, what UURU_HA_VALKEY_URL takes. */
  url: string;
  /** Pid of the running server; null while stopped. */
  pid(): number | null;
  /** SIGTERM by pid; the temp dir stays for restart. */
  stop(): Promise<void>;
  /** Starts it again on the same port, empty. */
  restart(): Promise<void>;
  /** Stops it and deletes its temp dir. */
  destroy(): Promise<void>;
}

const BINARY = '/usr/bin/redis-server';

/** Sends AUTH and PING over one connection; resolves true on +PONG. */
function ping(host: string, port: number, password: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    let text = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.on('error', () => done(false));
    socket.on('data', (d) => {
      text += d.toString('utf8');
      if (text.includes('+PONG')) done(true);
      else if (text.includes('-ERR') || text.includes('-WRONGPASS')) done(false);
    });
    socket.on('connect', () => {
      const arg = (s: string) => `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
      socket.write(`*2\r\n${arg('AUTH')}${arg(password)}*1\r\n${arg('PING')}`);
    });
  });
}

export async function startValkey(): Promise<ValkeyServer> {
  if (!fs.existsSync(BINARY))
    throw new Error(
      `${BINARY} is missing: run scripts/setup-system.sh as root (apt-get install redis-server)`,
    );
  const host = '127.0.0.1';
  const port = await freePort();
  const password = crypto.randomBytes(18).toString('base64url');
  const baseDir = fs.mkdtempSync(path.join(os.tmpdir(), 'uuru-valkey-'));
  const logFile = path.join(baseDir, 'server.log');
  let child: ChildProcess | null = null;

  const launch = async () => {
    // The password in a config file, not on the command line (ps shows argv).
    const conf = path.join(baseDir, 'server.conf');
    fs.writeFileSync(conf, `requirepass ${password}\n`, { mode: 0o600 });
    const c = spawn(
      BINARY,
      [
        conf,
        '--bind',
        host,
        '--port',
        String(port),
        '--dir',
        baseDir,
        '--save',
        '',
        '--appendonly',
        'no',
        '--daemonize',
        'no',
        '--logfile',
        logFile,
      ],
      { stdio: 'ignore', detached: false },
    );
    c.unref();
    if (!c.pid) throw new Error('redis-server did not start');
    child = c;
    try {
      await waitUntil(() => ping(host, port, password), {
        what: 'redis-server start',
        timeoutMs: 10_000,
        intervalMs: 50,
        abort: () =>
          c.exitCode !== null || c.signalCode !== null ? `redis-server exited:\n${tailFile(logFile)}` : null,
      });
    } catch (e) {
      await stopPid(c.pid as number, { child: c, graceMs: 2000 });
      child = null;
      throw e;
    }
  };

  const stop = async () => {
    const c = child;
    child = null;
    if (c?.pid) await stopPid(c.pid, { child: c, graceMs: 5000 });
  };

  try {
    await launch();
  } catch (e) {
    fs.rmSync(baseDir, { recursive: true, force: true });
    throw e;
  }
  return {
    host,
    port,
    password,
    url: `redis://:${password}@${host}:${port}/0`,
    pid: () => (child as ChildProcess | null)?.pid ?? null,
    stop,
    restart: async () => {
      if (child) return;
      await launch();
    },
    destroy: async () => {
      await stop();
      fs.rmSync(baseDir, { recursive: true, force: true });
    },
  };
}
