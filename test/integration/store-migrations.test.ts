/**
 * The store on both dialects, one shared suite: migrations apply on a fresh
 * SQLite file and a fresh MariaDB database, every entity round-trips (epoch-ms
 * bigints come back as numbers, JSON columns as objects), unique constraints
 * hold, transactions roll back, and the last migration can be undone and
 * applied again.
 *
 * Sample rows are built from the entity metadata, so an entity added later is
 * covered without editing this file.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { DataSource, EntityMetadata, ObjectLiteral } from 'typeorm';
import type { Config } from '../../src/config/schema';
import { freshPeerState } from '../../src/core/records';
import { col } from '../../src/store/columns';
import { type Peer, PeerEntity } from '../../src/store/entities';
import { openDatabase } from '../../src/store/data-source';
import { MIGRATIONS } from '../../src/store/migrations';
import { PeerErrorOwners1763800000900 } from '../../src/store/migrations/0009-peer-error-owners';
import { type MariaDbServer, startMariaDb, testDatabaseName } from '../harness/mariadb';

type StoreConfig = Pick<Config, 'database' | 'dataDir'>;

interface DialectUnderTest {
  open(): Promise<StoreConfig>;
  close(): Promise<void>;
}

const dialects: Record<'sqlite' | 'mariadb', () => DialectUnderTest> = {
  sqlite: () => {
    let dir = '';
    return {
      async open() {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uuru-store-'));
        return {
          dataDir: dir,
          database: {
            type: 'sqlite',
            sqlitePath: path.join(dir, 'store.sqlite'),
            host: '127.0.0.1',
            port: 3306,
            user: 'unused',
            password: '',
            database: 'unused',
          },
        };
      },
      async close() {
        if (dir) fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  },
  mariadb: () => {
    let server: MariaDbServer | null = null;
    let name = '';
    let dir = '';
    return {
      async open() {
        server = await startMariaDb();
        name = testDatabaseName('store');
        await server.createDatabase(name);
        // Its own data folder: the store keeps its key file there.
        dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uuru-store-'));
        return {
          dataDir: dir,
          database: {
            type: 'mariadb',
            host: server.host,
            port: server.port,
            user: server.user,
            password: server.password,
            database: name,
          },
        };
      },
      async close() {
        if (server && name) await server.dropDatabase(name);
        await server?.stop();
        if (dir) fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};

const MS_TRANSFORMER = col.ms().transformer;
const JSON_TRANSFORMER = col.json().transformer;
/** Above 2^32, so a bigint that came back truncated or as a string would show. */
const SOME_MS = 1_763_800_000_123;

/** A full row for any entity: every column set, unique values varied by `n`. */
function sampleRow(
  meta: EntityMetadata,
  n: number,
  opts: { nullsWherePossible?: boolean } = {},
): ObjectLiteral {
  const row: ObjectLiteral = {};
  for (const c of meta.columns) {
    if (opts.nullsWherePossible && c.isNullable && !c.isPrimary) {
      row[c.propertyName] = null;
      continue;
    }
    const length = Number(c.length) || 255;
    if (c.transformer === MS_TRANSFORMER) row[c.propertyName] = SOME_MS + n;
    else if (c.transformer === JSON_TRANSFORMER)
      row[c.propertyName] = { list: [1, 'two', { three: true }], n, nested: { text: 'ü ✓' } };
    else if (c.type === 'integer' || c.type === 'int') row[c.propertyName] = 40_000 + n;
    else if (c.type === 'boolean') row[c.propertyName] = n % 2 === 0;
    else if (c.type === 'text') row[c.propertyName] = `text ${n} with ünïcode ✓ and 'quotes'`;
    else {
      const value = `${c.propertyName.slice(0, 6)}${n}${crypto.randomBytes(16).toString('hex')}`;
      row[c.propertyName] = value.slice(0, Math.min(length, 40));
    }
  }
  return row;
}

function primaryWhere(meta: EntityMetadata, row: ObjectLiteral): ObjectLiteral {
  return Object.fromEntries(meta.primaryColumns.map((c) => [c.propertyName, row[c.propertyName]]));
}

function peerRow(overrides: Partial<Peer> = {}): Peer {
  return {
    // Every state column at its fresh default (records.ts owns that list), then non-default values below.
    ...freshPeerState(SOME_MS),
    id: crypto.randomUUID(),
    name: `p_${crypto.randomBytes(4).toString('hex')}`,
    prefix: String(100 + Math.floor(Math.random() * 800)) + crypto.randomInt(1000, 9999),
    partnerUrl: 'https://partner.example',
    partnerServerName: null,
    partnerIaxHost: '192.0.2.10',
    partnerIaxPort: 4569,
    partnerExtensionLength: 4,
    codec: 'ulaw',
    secret: 'x'.repeat(40),
    secretEpochSeconds: null,
    dialect: 'v2',
    requestId: crypto.randomUUID(),
    role: 'requester',
    lastSeen: SOME_MS,
    partnerKeyFingerprint: null,
    lastTestCall: { answered: true, setupMs: 120, error: null, at: SOME_MS },
    updatedAt: SOME_MS + 1,
    ...overrides,
  };
}

async function appliedMigrations(ds: DataSource): Promise<string[]> {
  const rows = (await ds.query('SELECT name FROM migrations ORDER BY id')) as { name: string }[];
  return rows.map((r) => r.name);
}

describe.each(Object.keys(dialects) as (keyof typeof dialects)[])('store on %s', (dialect) => {
  const db = dialects[dialect]();
  let config: StoreConfig;
  let ds: DataSource;

  beforeAll(async () => {
    config = await db.open();
    ds = await openDatabase(config);
  });

  afterAll(async () => {
    if (ds?.isInitialized) await ds.destroy();
    await db.close();
  });

  test('openDatabase() applies every migration and leaves none pending', async () => {
    expect(await appliedMigrations(ds)).toEqual(MIGRATIONS.map((m) => m.name));
    expect(await ds.showMigrations()).toBe(false);
    const runner = ds.createQueryRunner();
    try {
      for (const meta of ds.entityMetadatas) expect(await runner.hasTable(meta.tableName)).toBe(true);
    } finally {
      await runner.release();
    }
  });

  test('every entity round-trips with numbers for ms times and objects for JSON', async () => {
    for (const meta of ds.entityMetadatas) {
      const repo = ds.getRepository(meta.target);
      const full = sampleRow(meta, 1);
      await repo.insert(full);
      const back = await repo.findOneByOrFail(primaryWhere(meta, full));
      expect({ entity: meta.name, row: back }).toEqual({ entity: meta.name, row: full });
      for (const c of meta.columns) {
        if (c.transformer === MS_TRANSFORMER) expect(typeof back[c.propertyName]).toBe('number');
      }

      const sparse = sampleRow(meta, 2, { nullsWherePossible: true });
      await repo.insert(sparse);
      expect({ entity: meta.name, row: await repo.findOneByOrFail(primaryWhere(meta, sparse)) }).toEqual({
        entity: meta.name,
        row: sparse,
      });
    }
  });

  test('unique constraints and primary keys are enforced', async () => {
    const peers = ds.getRepository(PeerEntity);
    const first = peerRow();
    await peers.insert(first);
    await expect(peers.insert(peerRow({ name: first.name }))).rejects.toThrow();
    await expect(peers.insert(peerRow({ prefix: first.prefix }))).rejects.toThrow();
    await expect(peers.insert(peerRow({ id: first.id }))).rejects.toThrow();

    for (const meta of ds.entityMetadatas) {
      const repo = ds.getRepository(meta.target);
      const base = sampleRow(meta, 10);
      await repo.insert(base);
      const samePk = { ...sampleRow(meta, 11), ...primaryWhere(meta, base) };
      await expect(repo.insert(samePk)).rejects.toThrow();
      for (const unique of meta.uniques) {
        const clash = sampleRow(meta, 12);
        for (const c of unique.columns) clash[c.propertyName] = base[c.propertyName];
        await expect(repo.insert(clash)).rejects.toThrow();
      }
    }
  });

  test('a failed transaction leaves nothing behind', async () => {
    const peers = ds.getRepository(PeerEntity);
    const row = peerRow();
    await expect(
      ds.transaction(async (m) => {
        await m.getRepository(PeerEntity).insert(row);
        expect(await m.getRepository(PeerEntity).countBy({ id: row.id })).toBe(1);
        throw new Error('abort on purpose');
      }),
    ).rejects.toThrow('abort on purpose');
    expect(await peers.countBy({ id: row.id })).toBe(0);
  });

  test('the last migration can be undone and applied again; reopening is a no-op', async () => {
    const peers = ds.getRepository(PeerEntity);
    const kept = peerRow();
    await peers.insert(kept);
    const all = MIGRATIONS.map((m) => m.name);

    await ds.undoLastMigration({ transaction: 'each' });
    expect(await appliedMigrations(ds)).toEqual(all.slice(0, -1));
    expect(await ds.showMigrations()).toBe(true);

    await ds.runMigrations({ transaction: 'each' });
    expect(await appliedMigrations(ds)).toEqual(all);
    expect(await peers.findOneByOrFail({ id: kept.id })).toEqual(kept);

    // The re-created tables work like the originals.
    for (const meta of ds.entityMetadatas) {
      const repo = ds.getRepository(meta.target);
      const row = sampleRow(meta, 20);
      await repo.insert(row);
      expect(await repo.findOneByOrFail(primaryWhere(meta, row))).toEqual(row);
    }

    await ds.destroy();
    ds = await openDatabase(config);
    expect(await appliedMigrations(ds)).toEqual(all);
    expect(await ds.getRepository(PeerEntity).findOneByOrFail({ id: kept.id })).toEqual(kept);
  });

  test('0009 gives each stored last_error to the layer that wrote it, and folds them back when undone', async () => {
    const q = (name: string) => ds.driver.escape(name);
    const owners = PeerErrorOwners1763800000900.name;
    while ((await appliedMigrations(ds)).includes(owners))
      await ds.undoLastMigration({ transaction: 'each' });
    const stored = {
      monitor: 'no answer to IAX2 qualify probes',
      antiEntropy:
        'the partner reports this peering as unknown (checked 2026-01-01T00:00:00.000Z); tear it down or ask the partner',
      outbox: 'the partner was not told of the accept: gave up after 9 attempts',
      none: null,
    };
    const ids = Object.fromEntries(Object.keys(stored).map((k) => [k, crypto.randomUUID()]));
    const columns = [
      'id',
      'name',
      'prefix',
      'partnerUrl',
      'partnerIaxHost',
      'partnerIaxPort',
      'partnerExtensionLength',
      'codec',
      'secret',
      'dialect',
      'requestId',
      'role',
      'state',
      'applyState',
      'reachability',
      'lastError',
      'createdAt',
      'updatedAt',
    ];
    for (const [k, lastError] of Object.entries(stored)) {
      const id = ids[k];
      await ds.query(
        `INSERT INTO ${q('peers')} (${columns.map(q).join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`,
        [
          id,
          `m9_${k}`,
          `9${crypto.randomInt(100000, 999999)}`,
          'https://p.example',
          '192.0.2.9',
          4569,
          4,
          'ulaw',
          'x'.repeat(40),
          'v2',
          id,
          'acceptor',
          'active',
          'applied',
          'reachable',
          lastError,
          SOME_MS,
          SOME_MS,
        ],
      );
    }
    const read = async (cols: string[]) =>
      Object.fromEntries(
        await Promise.all(
          Object.entries(ids).map(async ([k, id]) => {
            const rows = (await ds.query(
              `SELECT ${cols.map(q).join(', ')} FROM ${q('peers')} WHERE ${q('id')} = ?`,
              [id],
            )) as Record<string, unknown>[];
            return [k, rows[0]];
          }),
        ),
      );

    await ds.runMigrations({ transaction: 'each' });
    const split = await read(['linkError', 'partnerError', 'linkErrorAt', 'partnerErrorAt']);
    const none = { linkErrorAt: null, partnerErrorAt: null };
    expect(split).toEqual({
      monitor: { linkError: stored.monitor, partnerError: null, ...none },
      antiEntropy: { linkError: null, partnerError: stored.antiEntropy, ...none },
      outbox: { linkError: null, partnerError: stored.outbox, ...none },
      none: { linkError: null, partnerError: null, ...none },
    });

    // Both set (only possible from now on): undoing keeps the partner's, as a broken peering makes the trunk's state moot.
    await ds.query(`UPDATE ${q('peers')} SET ${q('linkError')} = ? WHERE ${q('id')} = ?`, [
      'lagged: x',
      ids.outbox,
    ]);
    while ((await appliedMigrations(ds)).includes(owners))
      await ds.undoLastMigration({ transaction: 'each' });
    expect(await read(['lastError'])).toEqual({
      monitor: { lastError: stored.monitor },
      antiEntropy: { lastError: stored.antiEntropy },
      outbox: { lastError: stored.outbox },
      none: { lastError: null },
    });
    await ds.runMigrations({ transaction: 'each' });
    const all = Object.values(ids);
    await ds.query(`DELETE FROM ${q('peers')} WHERE ${q('id')} IN (${all.map(() => '?').join(', ')})`, all);
    expect(await appliedMigrations(ds)).toEqual(MIGRATIONS.map((m) => m.name));
  });
});
