/**
 * The store contract (test/store/contract) on every implementation of the
 * protocol core's ports: in memory (unit tests), SQLite and MariaDB (a
 * database created latin1 by default, as a plain CREATE DATABASE on the
 * harness server does). A case failing on one of them is a behaviour the
 * core would see differently in production than in its unit tests.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { DataSource } from 'typeorm';
import { configSchema } from '../../src/config/schema';
import { openDatabase } from '../../src/store/data-source';
import {
  IncomingRequestEntity,
  LocalKeyEntity,
  NonceEntity,
  OutboxEntity,
  OutgoingRequestEntity,
  PartnerEntity,
  PartnerHealthEntity,
  PeerEntity,
  SettingEntity,
} from '../../src/store/entities';
import { typeormFederationStores } from '../../src/store/typeorm';
import type { FederationStores } from '../../src/federation/ports';
import { externalMariaDbFromEnv, type MariaDbServer, testDatabaseName } from '../harness/mariadb';
import { memoryFederationStores } from '../store/memory';
import { describeStoreContract } from '../store/contract/federation-stores';

const SECRET = 'store contract key encryption secret';
const TABLES = [
  PeerEntity,
  OutgoingRequestEntity,
  IncomingRequestEntity,
  OutboxEntity,
  PartnerEntity,
  PartnerHealthEntity,
  LocalKeyEntity,
  NonceEntity,
  SettingEntity,
];

function configFor(dir: string, database?: Record<string, unknown>) {
  return configSchema.parse({
    dataDir: dir,
    database: database ?? { type: 'sqlite', sqlitePath: path.join(dir, 'contract.sqlite') },
    federation: { keyEncryptionSecret: SECRET },
    asterisk: { enabled: false },
  });
}

/** The FederationStores type checks the TypeORM stores fit the core's ports. */
const typeorm = (db: DataSource, clock: Parameters<typeof typeormFederationStores>[1]): FederationStores =>
  typeormFederationStores(db, clock);

describeStoreContract('in memory', async (clock) => ({
  stores: memoryFederationStores(clock),
  clock,
  close: async () => undefined,
}));

describeStoreContract('SQLite', async (clock) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uuru-contract-'));
  const db = await openDatabase(configFor(dir));
  return {
    stores: typeorm(db, clock),
    clock,
    close: async () => {
      await db.destroy();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe('on MariaDB', () => {
  let server: MariaDbServer;
  let db: DataSource;
  let dir: string;
  let name: string;

  beforeAll(async () => {
    const found = externalMariaDbFromEnv();
    if (!found)
      throw new Error('needs the harness MariaDB (UURU_TEST_MARIADB_*): run through the integration project');
    server = found;
    name = testDatabaseName('store_contract');
    await server.createDatabase(name);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uuru-contract-'));
    db = await openDatabase(
      configFor(dir, {
        type: 'mariadb',
        host: server.host,
        port: server.port,
        user: server.user,
        password: server.password,
        database: name,
      }),
    );
  });

  afterAll(async () => {
    if (db?.isInitialized) await db.destroy();
    await server?.dropDatabase(name).catch(() => undefined);
    await server?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  // One database for the suite (migrating one per case would take minutes): each case starts on emptied tables.
  describeStoreContract('MariaDB', async (clock) => {
    for (const e of TABLES) await db.getRepository<object>(e.options.name).clear();
    return { stores: typeorm(db, clock), clock, close: async () => undefined };
  });
});
