/**
 * Jest global setup of the integration project: one MariaDB for the whole run
 * (coordinates exported as UURU_TEST_MARIADB_*, which every test file sees),
 * the Asterisk chroot built if missing, and leftovers of crashed runs removed.
 */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { cleanupAsteriskRun, defaultChrootDir } from './asterisk';
import { startMariaDb, startPrivateMariaDb } from './mariadb';
import { pidAlive } from './processes';
import { cleanupStaleMariaDbs, mariaDbStateFile, type MariaDbState } from './run-state';

function ensureAsteriskChroot(): void {
  if (process.env.UURU_TEST_ASTERISK_BINARY) return;
  const chroot = defaultChrootDir();
  if (fs.existsSync(path.join(chroot, 'usr/sbin/asterisk'))) return;
  const script = path.resolve(__dirname, '..', '..', 'scripts', 'setup-system.sh');
  execFileSync('bash', [script], { stdio: 'inherit', timeout: 15 * 60_000 });
}

function cleanupStaleAsteriskRuns(): void {
  if (process.env.UURU_TEST_ASTERISK_BINARY) return;
  const base = path.join(defaultChrootDir(), 'var/tmp/uuru-test');
  if (!fs.existsSync(base)) return;
  for (const run of fs.readdirSync(base)) {
    const owner = Number(/^run-(\d+)/.exec(run)?.[1]);
    if (Number.isInteger(owner) && !pidAlive(owner)) cleanupAsteriskRun(run);
  }
}

export default async function globalSetup(): Promise<void> {
  process.env.UURU_TEST_RUN_ID ??= `run-${process.pid}-${crypto.randomBytes(3).toString('hex')}`;
  cleanupStaleMariaDbs();
  cleanupStaleAsteriskRuns();
  ensureAsteriskChroot();

  if (process.env.UURU_TEST_MARIADB_HOST) {
    const external = await startMariaDb();
    await external.stop(); // only closes our pool: the server is not ours
    return;
  }
  const server = await startPrivateMariaDb();
  const state: MariaDbState = {
    ownerPid: process.pid,
    pid: server.pid ?? 0,
    baseDir: server.baseDir ?? '',
    host: server.host,
    port: server.port,
    user: server.user,
    password: server.password,
    socketPath: server.socketPath ?? '',
  };
  fs.writeFileSync(mariaDbStateFile(), JSON.stringify(state), { mode: 0o600 });
  process.env.UURU_TEST_MARIADB_HOST = server.host;
  process.env.UURU_TEST_MARIADB_PORT = String(server.port);
  process.env.UURU_TEST_MARIADB_USER = server.user;
  process.env.UURU_TEST_MARIADB_PASSWORD = server.password;
  process.env.UURU_TEST_MARIADB_PRIVATE = '1';
}
