/**
 * The store on a MariaDB server whose default character set is latin1
 * (the harness server, like MariaDB's compiled default), in a database
 * created with a plain CREATE DATABASE, so it starts latin1:
 *
 * - a fresh database ends up utf8mb4 (database default, every table and
 *   column) and stores and reads back text latin1 cannot hold;
 * - a database migrated before 0006 (latin1 tables holding latin1 text) is
 *   converted with its rows intact;
 * - a database converted back to latin1 is refused at start with a message
 *   that names the tables and the statements to run;
 * - a user without the ALTER privilege gets those statements too;
 * - a sidecar process on such a database stops at start (no endless retry).
 */
import crypto from 'node:crypto';
import os from 'node:os';
import { DataSource } from 'typeorm';
import type { Config } from '../../src/config/schema';
import { inspectCharset, ownTableNames } from '../../src/store/charset';
import { dataSourceOptions, openDatabase } from '../../src/store/data-source';
import { AdminUserEntity, SettingEntity } from '../../src/store/entities';
import { MIGRATIONS } from '../../src/store/migrations';
import { Utf8mb41763800000600 } from '../../src/store/migrations/0006-utf8mb4';
import { externalMariaDbFromEnv, type MariaDbServer, testDatabaseName } from '../harness/mariadb';
import { startSidecar } from '../harness/sidecar';

type StoreConfig = Pick<Config, 'database' | 'dataDir'>;

/** CJK, a 4-byte emoji, a latin1 letter and a combining mark: latin1 holds only the third. */
const WIDE_TEXT = '日本語 😀 Müller e\u0301';

let server: MariaDbServer;
const created: string[] = [];
const users: string[] = [];

beforeAll(() => {
  const found = externalMariaDbFromEnv();
  if (!found)
    throw new Error('needs the harness MariaDB (UURU_TEST_MARIADB_*): run through the integration project');
  server = found;
});

afterAll(async () => {
  for (const u of users) await server.query(`DROP USER IF EXISTS '${u}'@'%'`).catch(() => undefined);
  for (const name of created) await server.dropDatabase(name).catch(() => undefined);
  await server?.stop();
});

async function freshDatabase(
  prefix: string,
  user?: { user: string; password: string },
): Promise<StoreConfig> {
  const name = testDatabaseName(prefix);
  await server.createDatabase(name);
  created.push(name);
  const [row] = await server.query<{ cs: string }[]>(
    'SELECT DEFAULT_CHARACTER_SET_NAME AS cs FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?',
    [name],
  );
  expect(row.cs).toBe('latin1'); // the starting point this suite is about
  return {
    dataDir: os.tmpdir(),
    database: {
      type: 'mariadb',
      host: server.host,
      port: server.port,
      user: user?.user ?? server.user,
      password: user?.password ?? server.password,
      database: name,
    },
  };
}

/** Applies the migrations before 0006, as a sidecar of an earlier release did. */
async function migrateAsBefore(config: StoreConfig): Promise<void> {
  const ds = new DataSource({
    ...dataSourceOptions(config),
    migrations: MIGRATIONS.filter((m) => m !== Utf8mb41763800000600),
  } as ConstructorParameters<typeof DataSource>[0]);
  await ds.initialize();
  try {
    await ds.runMigrations({ transaction: 'each' });
  } finally {
    await ds.destroy();
  }
}

it('a fresh latin1 database ends up utf8mb4 and keeps text latin1 cannot hold', async () => {
  const config = await freshDatabase('charset_fresh');
  const ds = await openDatabase(config);
  try {
    const report = await inspectCharset(ds, ownTableNames(ds));
    expect(report).toEqual({
      database: config.database.database,
      databaseCharset: 'utf8mb4',
      narrowTables: [],
      narrowColumns: [],
    });
    const [conn] = (await ds.query('SELECT @@character_set_connection AS cs')) as { cs: string }[];
    expect(conn.cs).toBe('utf8mb4');

    // A text column (the policy lives in settings) and a unique varchar looked up by value.
    await ds.getRepository(SettingEntity).insert({ key: 'policy-note', value: WIDE_TEXT, updatedAt: 1 });
    await ds
      .getRepository(AdminUserEntity)
      .insert({ id: crypto.randomUUID(), username: WIDE_TEXT, passwordHash: 'x', createdAt: 1 });
    expect((await ds.getRepository(SettingEntity).findOneByOrFail({ key: 'policy-note' })).value).toBe(
      WIDE_TEXT,
    );
    expect((await ds.getRepository(AdminUserEntity).findOneByOrFail({ username: WIDE_TEXT })).username).toBe(
      WIDE_TEXT,
    );
    // Looking up a value no row has answers "none", not a collation error.
    expect(await ds.getRepository(AdminUserEntity).findOneBy({ username: '中文😀' })).toBeNull();
  } finally {
    await ds.destroy();
  }
});

it('a database migrated before 0006 is converted with its rows intact', async () => {
  const config = await freshDatabase('charset_old');
  await migrateAsBefore(config);
  const db = config.database.database;
  const [before] = await server.query<{ c: string }[]>(
    'SELECT TABLE_COLLATION AS c FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?',
    [db, 'settings'],
  );
  expect(before.c).toMatch(/^latin1/);
  // What such a database could hold: latin1 text (settings values are JSON).
  const insert = (key: string, value: string) =>
    server.query(`INSERT INTO \`${db}\`.settings (\`key\`, value, updatedAt) VALUES (?, ?, 1)`, [
      key,
      JSON.stringify(value),
    ]);
  await insert('old', 'Müller café');
  await expect(insert('wide', WIDE_TEXT)).rejects.toThrow(/Incorrect string value/);

  const ds = await openDatabase(config);
  try {
    expect((await inspectCharset(ds, ownTableNames(ds))).narrowTables).toEqual([]);
    const settings = ds.getRepository(SettingEntity);
    expect((await settings.findOneByOrFail({ key: 'old' })).value).toBe('Müller café');
    await settings.insert({ key: 'wide', value: WIDE_TEXT, updatedAt: 2 });
    expect((await settings.findOneByOrFail({ key: 'wide' })).value).toBe(WIDE_TEXT);
  } finally {
    await ds.destroy();
  }
});

it('a database converted back to latin1 is refused at start, naming the tables and the fix', async () => {
  const config = await freshDatabase('charset_back');
  await (await openDatabase(config)).destroy();
  const db = config.database.database;
  await server.query(`ALTER TABLE \`${db}\`.settings CONVERT TO CHARACTER SET latin1`);
  const err = await openDatabase(config).then(
    () => null,
    (e: unknown) => e as { code?: string; message: string },
  );
  expect(err?.code).toBe('DB_CHARSET_UNSUPPORTED');
  expect(err?.message).toContain('settings (latin1_swedish_ci)');
  expect(err?.message).toContain(
    'ALTER TABLE `settings` CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci',
  );
});

it('without the ALTER privilege the start stops with the statements to run', async () => {
  const user = `uuru_noalter_${crypto.randomBytes(3).toString('hex')}`;
  const password = crypto.randomBytes(12).toString('hex');
  users.push(user);
  const config = await freshDatabase('charset_priv', { user, password });
  const db = config.database.database;
  // Tables made by the privileged user as an earlier release would have; the sidecar's user may use them, not alter.
  await migrateAsBefore({
    ...config,
    database: { ...config.database, user: server.user, password: server.password },
  });
  await server.query(`CREATE USER '${user}'@'%' IDENTIFIED BY '${password}'`);
  await server.query(`GRANT SELECT, INSERT, UPDATE, DELETE, CREATE ON \`${db}\`.* TO '${user}'@'%'`);

  const err = await openDatabase(config).then(
    () => null,
    (e: unknown) => e as { code?: string; message: string },
  );
  expect(err?.code).toBe('DB_CHARSET_UNSUPPORTED');
  expect(err?.message).toMatch(
    new RegExp(`cannot convert database ${db} to utf8mb4 .*ALTER DATABASE \`${db}\` CHARACTER SET utf8mb4`),
  );
  const [row] = await server.query<{ cs: string }[]>(
    'SELECT DEFAULT_CHARACTER_SET_NAME AS cs FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?',
    [db],
  );
  expect(row.cs).toBe('latin1');
});

it('a sidecar process on a database converted back stops at start with DB_CHARSET_UNSUPPORTED', async () => {
  const s = await startSidecar({ name: 'charset_stop', db: 'mariadb' });
  try {
    await s.stop();
    await s.query('ALTER TABLE {db}.peers CONVERT TO CHARACTER SET latin1');
    await expect(s.restart()).rejects.toThrow(
      /exited with [1-9][\s\S]*DB_CHARSET_UNSUPPORTED[\s\S]*peers \(latin1/,
    );
  } finally {
    await s.destroy();
  }
}, 180_000);
