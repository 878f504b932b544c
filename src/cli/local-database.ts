import { userInfo } from 'node:os';
import type { DataSource } from 'typeorm';
import type { Config } from '../config/schema';
import { systemClock } from '../core/clock';
import { errorMessage, isAppError } from '../core/errors';
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

/** Throws an AppError as the CLI's error (its code first; exit 2 when the input was wrong); anything else as it is. */
export function rethrowForCli(e: unknown): never {
  if (isAppError(e))
    throw new CliError(`${e.code}: ${e.message}`, e.status === 400 ? EXIT_USAGE : EXIT_FAILED, e.code);
  throw e;
}

/**
 * Opens the configured database the way the sidecar does (openAppDatabase),
 * saying which one first; created only when `open.create`. A missing database
 * fails with CLI_DATABASE_MISSING, any other failure with FED_UNAVAILABLE.
 */
export async function openLocalDatabase(
  config: Config,
  open: { secrets?: boolean; create: boolean },
  say: (line: string) => void,
): Promise<DataSource> {
  // Loaded here, not at the top: the API commands need neither the ORM nor the sidecar in memory.
  const { describeDatabase } = await import('../store/database-presence');
  say(`database: ${describeDatabase(config)}`);
  const { openAppDatabase } = await import('../app');
  try {
    return await openAppDatabase(config, open);
  } catch (e) {
    if (isAppError(e) && e.code === 'CLI_DATABASE_MISSING')
      throw new CliError(`${e.code}: ${e.message}`, EXIT_FAILED, e.code);
    throw new CliError(
      `FED_UNAVAILABLE: cannot open the database (${describeDatabase(config)}): ${errorMessage(e)}`,
      EXIT_FAILED,
      'FED_UNAVAILABLE',
    );
  }
}

async function withDatabase<T>(
  config: Config,
  opts: LocalDatabaseOptions,
  run: (db: DataSource) => Promise<T>,
): Promise<T> {
  // Only the admin tables are touched: no key-encryption secret is needed (nor a key file made where the CLI runs).
  const db = await openLocalDatabase(config, { secrets: false, create: opts.init }, (line) => opts.say(line));
  try {
    return await run(db);
  } catch (e) {
    return rethrowForCli(e);
  } finally {
    await db.destroy();
  }
}

/**
 * Runs one database-direct action and records it in the audit trail (src/http/admin/audit-trail.ts, the table's
 * one writer) with the host user who ran the CLI as its actor, whether it succeeded or not.
 */
async function audited<T>(
  db: DataSource,
  action: 'admin.create' | 'token.create',
  target: string,
  run: () => Promise<T>,
): Promise<T> {
  const { AuditTrail } = await import('../http/admin/audit-trail');
  const { createLogger } = await import('../logging/logger');
  const trail = new AuditTrail(db, systemClock, createLogger({ level: 'error', format: 'json' }));
  const who = { actorKind: 'local' as const, actor: hostUser(), via: 'cli' as const, action, target };
  try {
    const out = await run();
    await trail.record({ ...who, error: null });
    return out;
  } catch (e) {
    await trail.record({ ...who, error: e });
    throw e;
  }
}

function hostUser(): string {
  try {
    return userInfo().username;
  } catch {
    return `uid ${process.getuid?.() ?? '?'}`;
  }
}

export async function createAdmin(
  config: Config,
  opts: LocalDatabaseOptions,
  input: { username: string; password: string; replace: boolean },
): Promise<{ id: string; username: string; created: boolean }> {
  const { createAdminUser } = await import('../http/admin/admin-users');
  return withDatabase(config, opts, (db) =>
    audited(db, 'admin.create', input.username, () => createAdminUser(db, systemClock, input)),
  );
}

export async function createToken(
  config: Config,
  opts: LocalDatabaseOptions,
  name: string,
): Promise<{ id: string; name: string; token: string }> {
  const { createApiToken } = await import('../http/admin/api-tokens');
  return withDatabase(config, opts, (db) =>
    audited(db, 'token.create', name, () => createApiToken(db, systemClock, name)),
  );
}
