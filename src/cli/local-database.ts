import type { DataSource } from 'typeorm';
import type { Config } from '../config/schema';
import { systemClock } from '../core/clock';
import { errorMessage, isAppError } from '../core/errors';
import { createAdminUser } from '../http/admin/admin-users';
import { createApiToken } from '../http/admin/api-tokens';
import { describeDatabase } from '../store/database-presence';
import { CliError, EXIT_FAILED, EXIT_USAGE } from './exit-codes';

/**
 * `admin create` and `token create` work on the configured database
 * directly: they are what an operator needs before any token exists, and
 * they only touch the admin tables (the running sidecar reads them per
 * request, so no restart is needed). The database is opened the way the
 * sidecar opens it, through the composition root (openAppDatabase in
 * src/app.ts), but never created unless asked (`--init`).
 */

export interface LocalDatabaseOptions {
  /** Create the database (and run its migrations) when there is none yet. */
  init: boolean;
  /** Where "using database ..." goes. */
  say(line: string): void;
}

async function withDatabase<T>(
  config: Config,
  opts: LocalDatabaseOptions,
  run: (db: DataSource) => Promise<T>,
): Promise<T> {
  opts.say(`database: ${describeDatabase(config)}`);
  // Loaded here, not at the top: the API commands do not need the whole sidecar in memory.
  const { openAppDatabase } = await import('../app');
  let db: DataSource;
  try {
    // Only the admin tables are touched: no key-encryption secret is needed (nor a key file made where the CLI runs).
    db = await openAppDatabase(config, { secrets: false, create: opts.init });
  } catch (e) {
    if (isAppError(e) && e.code === 'CLI_DATABASE_MISSING')
      throw new CliError(`${e.code}: ${e.message}`, EXIT_FAILED, e.code);
    throw new CliError(
      `FED_UNAVAILABLE: cannot open the database (${describeDatabase(config)}): ${errorMessage(e)}`,
      EXIT_FAILED,
      'FED_UNAVAILABLE',
    );
  }
  try {
    return await run(db);
  } catch (e) {
    if (isAppError(e))
      throw new CliError(`${e.code}: ${e.message}`, e.status === 400 ? EXIT_USAGE : EXIT_FAILED, e.code);
    throw e;
  } finally {
    await db.destroy();
  }
}

export async function createAdmin(
  config: Config,
  opts: LocalDatabaseOptions,
  input: { username: string; password: string; replace: boolean },
): Promise<{ id: string; username: string; created: boolean }> {
  return withDatabase(config, opts, (db) => createAdminUser(db, systemClock, input));
}

export async function createToken(
  config: Config,
  opts: LocalDatabaseOptions,
  name: string,
): Promise<{ id: string; name: string; token: string }> {
  return withDatabase(config, opts, (db) => createApiToken(db, systemClock, name));
}
