import fs from 'node:fs';
import path from 'node:path';
import { DataSource, type DataSourceOptions } from 'typeorm';
import type { Config } from '../config/schema';
import { assertUtf8mb4 } from './charset';
import { ALL_ENTITIES } from './entities';
import { MIGRATIONS } from './migrations';
import { type AtRestConfig, resolveAtRestKey, restrictSqliteFiles, secureStore } from './secrets-at-rest';

export function dataSourceOptions(config: Pick<Config, 'database' | 'dataDir'>): DataSourceOptions {
  const db = config.database;
  if (db.type === 'sqlite') {
    const file = db.sqlitePath ?? path.join(config.dataDir, 'uuru-federation.sqlite');
    if (file !== ':memory:') {
      // Private to the sidecar's user: the folder 0700 when we create it, the database and its WAL/SHM 0600.
      fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true, mode: 0o700 });
      restrictSqliteFiles(file);
    }
    return {
      type: 'better-sqlite3',
      database: file,
      entities: ALL_ENTITIES,
      migrations: MIGRATIONS,
      migrationsRun: false,
      synchronize: false,
      // WAL lets readers run beside the single writer; busy timeout rides out short locks.
      prepareDatabase: (d: { pragma(s: string): unknown }) => {
        d.pragma('journal_mode = WAL');
        d.pragma('busy_timeout = 5000');
        d.pragma('foreign_keys = ON');
        // Freed cells are zeroed: an old row's secret (a value replaced by its sealed form, a deleted peer) is not left in the file.
        d.pragma('secure_delete = ON');
      },
    };
  }
  return {
    type: db.type,
    host: db.host,
    port: db.port,
    username: db.user,
    password: db.password,
    database: db.database,
    socketPath: db.socketPath,
    entities: ALL_ENTITIES,
    migrations: MIGRATIONS,
    migrationsRun: false,
    synchronize: false,
    // The connection speaks utf8mb4 whatever the server's default (often latin1): every parameter arrives intact.
    charset: 'utf8mb4',
    connectTimeout: 5000,
    extra: { connectionLimit: 10 },
  };
}

/**
 * Opens the database and applies pending migrations. On MariaDB/MySQL it then
 * refuses a database whose tables are not utf8mb4 (migration 0006 converts
 * them once; this catches one converted back or restored from an old dump).
 * Last, it binds the key-encryption secret (UURU_KEY_ENCRYPTION_SECRET or the
 * key file) to the sealed columns and encrypts secrets still stored in clear
 * (src/store/secrets-at-rest.ts); a key that does not open what is stored
 * stops here with FED_KEY_DECRYPT_FAILED.
 */
export async function openDatabase(
  config: Pick<Config, 'database' | 'dataDir'> & AtRestConfig,
  opts: {
    /**
     * false: no key is resolved (no key file made) and nothing sealed; the
     * sealed columns stay unbound and throw if touched. For the CLI's admin
     * commands, which only write the admin tables and may run without the
     * sidecar's data folder.
     */
    secrets?: boolean;
  } = {},
): Promise<DataSource> {
  const key = opts.secrets === false ? null : resolveAtRestKey(config);
  const ds = new DataSource(dataSourceOptions(config));
  await ds.initialize();
  try {
    await ds.runMigrations({ transaction: 'each' });
    await assertUtf8mb4(ds);
    if (key) await secureStore(ds, key);
  } catch (e) {
    await ds.destroy();
    throw e;
  }
  return ds;
}
