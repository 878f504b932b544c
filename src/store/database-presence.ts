import fs from 'node:fs';
import path from 'node:path';
import { DataSource } from 'typeorm';
import type { Config } from '../config/schema';
import { AppError, errorMessage } from '../core/errors';
import { dataSourceOptions } from './data-source';

/**
 * Which database a configuration points at, and whether the sidecar has ever
 * made one there. The CLI says the first on every database command and checks
 * the second, because a command run from another folder would otherwise
 * resolve `./data` anew and quietly create an empty database beside the real one.
 */

type DbConfig = Pick<Config, 'database' | 'dataDir'>;

/** The SQLite file the configuration names, as an absolute path (null on MariaDB/MySQL). */
export function sqliteFileOf(config: DbConfig): string | null {
  if (config.database.type !== 'sqlite') return null;
  const file = config.database.sqlitePath ?? path.join(config.dataDir, 'uuru-federation.sqlite');
  return file === ':memory:' ? file : path.resolve(file);
}

/** The database for people: the SQLite path, or the MariaDB/MySQL address without the password. */
export function describeDatabase(config: DbConfig): string {
  const file = sqliteFileOf(config);
  if (file !== null) return `SQLite ${file}`;
  const d = config.database;
  const where = d.socketPath
    ? `unix:${d.socketPath}`
    : `${d.host.includes(':') ? `[${d.host}]` : d.host}:${d.port}`;
  return `${d.type === 'mysql' ? 'MySQL' : 'MariaDB'} ${d.user}@${where}/${d.database}`;
}

function missing(config: DbConfig, what: string): AppError {
  const hint =
    config.database.type === 'sqlite'
      ? `UURU_DATA_DIR is ${JSON.stringify(config.dataDir)}${path.isAbsolute(config.dataDir) ? '' : `, read from ${process.cwd()}`}`
      : 'UURU_DATABASE_* as the sidecar has them';
  return new AppError(
    'CLI_DATABASE_MISSING',
    `${what} (${hint}). Run uuru-fed with the sidecar's settings (its folder, UURU_DATA_DIR or UURU_CONFIG_FILE), or pass --init to create a new, empty database there`,
  );
}

/** Throws CLI_DATABASE_MISSING unless the sidecar's tables exist where the configuration points; creates nothing. */
export async function assertDatabaseExists(config: DbConfig): Promise<void> {
  const file = sqliteFileOf(config);
  if (file !== null) {
    if (file !== ':memory:' && !fs.existsSync(file)) throw missing(config, `no sidecar database at ${file}`);
    if (file === ':memory:')
      throw missing(config, 'the database is in memory (:memory:), so it is always new');
    return;
  }
  const ds = new DataSource(dataSourceOptions(config));
  try {
    await ds.initialize();
  } catch (e) {
    // A database that does not exist is the same case; an unreachable server is another.
    if (/ER_BAD_DB_ERROR|Unknown database/i.test(errorMessage(e)))
      throw missing(config, `no database ${describeDatabase(config)}`);
    throw e;
  }
  try {
    const runner = ds.createQueryRunner();
    try {
      if (!(await runner.hasTable('migrations')))
        throw missing(config, `${describeDatabase(config)} holds no sidecar tables`);
    } finally {
      await runner.release();
    }
  } finally {
    await ds.destroy();
  }
}
