import fs from 'node:fs';
import { SqliteCheckpointer } from '../../src/store/sqlite-checkpointer';
import { sqliteConnection } from '../../src/store/typeorm/prepared-sql';
import { waitUntil } from '../harness/wait';
import { tempDb, type TempDb } from './federation-keys-fixtures';

/** WAL checkpoints on a worker thread: the connection TypeORM uses no longer copies the WAL in a commit. */

let tmp: TempDb;
let checkpointer: SqliteCheckpointer | null = null;
afterEach(async () => {
  await checkpointer?.stop();
  checkpointer = null;
  await tmp?.close();
});

it('the worker copies the WAL into the database file; the connection itself does not any more', async () => {
  tmp = await tempDb();
  const connection = sqliteConnection(tmp.db);
  if (!connection) throw new Error('the test database is not SQLite');
  const errors: string[] = [];
  checkpointer = SqliteCheckpointer.start(tmp.db, (e) => errors.push(e));
  expect(checkpointer).not.toBeNull();
  expect(connection.pragma('wal_autocheckpoint', { simple: true })).toBe(0);

  const file = connection.name;
  connection.pragma('wal_checkpoint(TRUNCATE)');
  const before = fs.statSync(file).size;
  connection.exec('CREATE TABLE filler (v BLOB)');
  const insert = connection.prepare('INSERT INTO filler (v) VALUES (?)');
  // 1,500 commits of 4 KB: past SQLite's own 1,000-page mark, where the commit itself would checkpoint.
  for (let i = 0; i < 1500; i++) insert.run(Buffer.alloc(4000, i % 251));
  // Nothing reached the database file inside those commits ...
  expect(fs.statSync(file).size).toBe(before);
  // ... the worker's checkpoint brings it there.
  await waitUntil(() => (fs.statSync(file).size > before + 1500 * 4000 ? true : undefined), {
    what: 'the database file holding the rows',
    timeoutMs: 5000,
    intervalMs: 50,
  });
  expect(errors).toEqual([]);

  await checkpointer?.stop();
  checkpointer = null;
  expect(connection.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
});

it('starts for nothing but a SQLite file', async () => {
  tmp = await tempDb();
  const memory = { options: { type: 'better-sqlite3' }, driver: {} } as unknown as typeof tmp.db;
  expect(SqliteCheckpointer.start(memory, () => undefined)).toBeNull();
});
