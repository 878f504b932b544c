import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SqliteCheckpointer } from '../../src/store/sqlite-checkpointer';
import { sqliteConnection } from '../../src/store/typeorm/prepared-sql';
import { waitUntil } from '../harness/wait';
import { tempDb, type TempDb } from './federation-keys-fixtures';

/**
 * WAL checkpoints on a worker thread while the database is written to
 * steadily: the connection TypeORM uses then no longer copies the WAL in a
 * commit; at rest, or after a lone burst, there is no worker (its isolate's
 * memory) and SQLite checkpoints as by default.
 */

let tmp: TempDb;
let checkpointer: SqliteCheckpointer | null = null;
afterEach(async () => {
  await checkpointer?.stop();
  checkpointer = null;
  await tmp?.close();
});

/** Samples every 50 ms; 3 busy samples in a row (100 rows a second) start the worker, 40 quiet ones (2 s) stop it. */
const FAST = { sampleEveryMs: 50, busyRowsPerSecond: 100, busySamples: 3, quietSamples: 40 };

async function sqliteDb() {
  tmp = await tempDb();
  const connection = sqliteConnection(tmp.db);
  if (!connection) throw new Error('the test database is not SQLite');
  connection.exec('CREATE TABLE filler (v BLOB)');
  return connection;
}

it('runs the worker while rows change steadily: it copies the WAL, the commits do not; quiet again, it stops', async () => {
  const connection = await sqliteDb();
  const errors: string[] = [];
  const running: boolean[] = [];
  checkpointer = SqliteCheckpointer.start(
    tmp.db,
    { error: (e) => errors.push(e), running: (r) => running.push(r) },
    FAST,
  );
  if (!checkpointer) throw new Error('no checkpointer for a SQLite file');
  const cp = checkpointer;
  expect(cp.workerRunning).toBe(false);
  expect(connection.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);

  // A steady writer: 20 rows every 10 ms (2,000 a second) until the worker is up.
  const insert = connection.prepare('INSERT INTO filler (v) VALUES (?)');
  const writer = setInterval(() => {
    for (let i = 0; i < 20; i++) insert.run(Buffer.alloc(100, i));
  }, 10);
  try {
    await waitUntil(() => (cp.workerRunning ? true : undefined), {
      what: 'the worker started by the steady writes',
      timeoutMs: 5000,
      intervalMs: 10,
    });
  } finally {
    clearInterval(writer);
  }
  expect(connection.pragma('wal_autocheckpoint', { simple: true })).toBe(0);

  const file = connection.name;
  connection.pragma('wal_checkpoint(TRUNCATE)');
  const before = fs.statSync(file).size;
  // 1,500 commits of 4 KB: past SQLite's own 1,000-page mark, where the commit itself would checkpoint.
  const big = connection.prepare('INSERT INTO filler (v) VALUES (?)');
  for (let i = 0; i < 1500; i++) big.run(Buffer.alloc(4000, i % 251));
  // Nothing reached the database file inside those commits ...
  expect(fs.statSync(file).size).toBe(before);
  // ... the worker's checkpoint brings it there.
  await waitUntil(() => (fs.statSync(file).size > before + 1500 * 4000 ? true : undefined), {
    what: 'the database file holding the rows',
    timeoutMs: 5000,
    intervalMs: 50,
  });

  // No writes: after 40 quiet samples the worker goes and the connection checkpoints by itself again.
  await waitUntil(() => (cp.workerRunning ? undefined : true), {
    what: 'the worker stopped once the writes ended',
    timeoutMs: 5000,
    intervalMs: 10,
  });
  expect(connection.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
  expect(running).toEqual([true, false]);
  expect(errors).toEqual([]);
});

it('starts no worker at rest nor for a lone burst of writes', async () => {
  const connection = await sqliteDb();
  const running: boolean[] = [];
  checkpointer = SqliteCheckpointer.start(
    tmp.db,
    { error: () => undefined, running: (r) => running.push(r) },
    FAST,
  );
  if (!checkpointer) throw new Error('no checkpointer for a SQLite file');
  const insert = connection.prepare('INSERT INTO filler (v) VALUES (?)');
  const started: boolean[] = [];
  const watch = setInterval(() => started.push(checkpointer?.workerRunning ?? false), 10);
  try {
    await new Promise((r) => setTimeout(r, 200));
    // 2,000 rows at once (an apply of every peer), then nothing: one busy sample, not three in a row.
    for (let i = 0; i < 2000; i++) insert.run(Buffer.alloc(100, i % 251));
    await new Promise((r) => setTimeout(r, 400));
  } finally {
    clearInterval(watch);
  }
  expect(started.length).toBeGreaterThan(20);
  expect(started.every((s) => !s)).toBe(true);
  expect(running).toEqual([]);
  expect(connection.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
});

it('starts for nothing but a SQLite file', async () => {
  tmp = await tempDb();
  const memory = { options: { type: 'better-sqlite3' }, driver: {} } as unknown as typeof tmp.db;
  expect(SqliteCheckpointer.start(memory, { error: () => undefined })).toBeNull();
});

it('runs its worker in a process started with a loader (ts-node, as the harness starts the sources)', async () => {
  // The worker's code is plain JavaScript: it must not inherit the parent's node options. With ts-node
  // loaded into its 16 MB heap it died at start ("reaching memory limit") and the commits checkpointed again.
  const root = path.join(__dirname, '..', '..');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uuru-fed-ckpt-'));
  const script = `
    const Database = require('better-sqlite3');
    const { SqliteCheckpointer } = require('./src/store/sqlite-checkpointer');
    const connection = new Database(${JSON.stringify(path.join(dir, 'db.sqlite'))});
    connection.pragma('journal_mode = WAL');
    connection.exec('CREATE TABLE filler (v BLOB)');
    const db = { options: { type: 'better-sqlite3' }, driver: { databaseConnection: connection } };
    const errors = [];
    const cp = SqliteCheckpointer.start(db, { error: (e) => errors.push(e) }, ${JSON.stringify(FAST)});
    const insert = connection.prepare('INSERT INTO filler (v) VALUES (?)');
    const writer = setInterval(() => { for (let i = 0; i < 20; i++) insert.run(Buffer.alloc(100, i)); }, 10);
    setTimeout(async () => {
      clearInterval(writer);
      const running = cp.workerRunning;
      const alive = setInterval(() => undefined, 1000); // the worker and the checkpointer's timers are unref'd
      await cp.stop();
      clearInterval(alive);
      console.log(JSON.stringify({ running, errors }));
    }, 1500);
  `;
  try {
    const out = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        ['-r', 'ts-node/register/transpile-only', '-e', script],
        { cwd: root, timeout: 60_000 },
        (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)),
      );
    });
    expect(JSON.parse(out.trim().split('\n').pop() ?? '{}')).toEqual({ running: true, errors: [] });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}, 90_000);
