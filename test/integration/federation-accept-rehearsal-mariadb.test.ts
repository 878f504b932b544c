/**
 * The accept rehearsal at start (src/federation/accept-rehearsal.ts) on a real
 * MariaDB (the harness server): its delete, peer insert and outbox insert run
 * in one transaction that is rolled back, so no row is kept, on a database
 * where (unlike SQLite) other connections could see a committed one at once.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { DataSource } from 'typeorm';
import { type Config, configSchema } from '../../src/config/schema';
import { rehearseAccept } from '../../src/federation/accept-rehearsal';
import { openDatabase } from '../../src/store/data-source';
import { type MariaDbServer, startMariaDb, testDatabaseName } from '../harness/mariadb';
import { keptRows, rehearsalSetUp } from '../unit/fixtures/accept-rehearsal';

let server: MariaDbServer;
let name: string;
let db: DataSource;
let config: Config;
let dir: string;

beforeAll(async () => {
  server = await startMariaDb();
  name = testDatabaseName('rehearsal');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uuru-rehearsal-'));
  await server.createDatabase(name);
  config = configSchema.parse({
    dataDir: dir,
    database: {
      type: 'mariadb',
      host: server.host,
      port: server.port,
      user: server.user,
      password: server.password,
      database: name,
    },
  });
  db = await openDatabase(config);
});

afterAll(async () => {
  if (db?.isInitialized) await db.destroy();
  await server?.dropDatabase(name);
  await server?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

it('writes the peer and the outbox item in one transaction and keeps neither, twice in a row', async () => {
  const { deps, records, told, written } = await rehearsalSetUp(db, config);
  for (const round of [1, 2]) {
    expect(await rehearseAccept(deps, records)).toMatchObject({ outcome: 'rolled_back' });
    expect(written).toHaveLength(2 * round);
    expect(await keptRows(db)).toEqual({ peers: 0, outbox: 0 });
  }
  expect(told).toEqual([]);
});
