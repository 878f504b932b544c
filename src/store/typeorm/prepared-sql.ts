import type BetterSqlite3 from 'better-sqlite3';
import { type DataSource, type EntityManager, type EntitySchema, QueryFailedError } from 'typeorm';

/**
 * One statement of a per-request path, written once from the entity's
 * metadata (table and column names quoted by the connection's driver, so the
 * same text runs on SQLite and MariaDB) and run through the manager's
 * `query`: none of the query builder's per-call work (aliasing, property
 * name replacement, entity transformation), which costs more than SQLite's
 * own lookup on a signed request. Only for statements with plain columns:
 * the values are passed and read as they are stored, without the column
 * transformers.
 */
export function preparedSql<E>(
  db: DataSource,
  entity: EntitySchema<E>,
  text: (names: { table: string; col: (property: keyof E & string) => string }) => string,
): string {
  const meta = db.getMetadata(entity);
  const escape = (n: string) => db.driver.escape(n);
  return text({
    table: escape(meta.tableName),
    col: (property) => {
      const column = meta.findColumnWithPropertyName(property);
      if (!column) throw new Error(`${meta.name} has no column ${property}`);
      return escape(column.databaseName);
    },
  });
}

/** Rows of a SELECT made by preparedSql, through the transaction's manager when there is one. */
export async function selectRows<R>(manager: EntityManager, sql: string, params: unknown[]): Promise<R[]> {
  return (await manager.query(sql, params)) as R[];
}

/**
 * One hot statement made by preparedSql, run on SQLite straight through
 * better-sqlite3 (the statement prepared once), elsewhere through the
 * manager's `query`. On SQLite TypeORM's `query` adds, per call, its logger
 * and subscriber broadcasts, a structured result and three awaits around a
 * statement that better-sqlite3 runs synchronously on the same single
 * connection; skipping them changes nothing of what runs or where (the
 * connection is the one TypeORM uses, inside an open transaction as much as
 * `query` would be), and a failure is the same QueryFailedError, so
 * isDuplicateKey reads it alike. Not for statements inside a transaction
 * (pass it through the manager then).
 */
export class HotStatement {
  private sqlite: BetterSqlite3.Statement | null = null;
  /** The same statement in raw mode, for arrays(). */
  private sqliteArrays: BetterSqlite3.Statement | null = null;

  constructor(
    private readonly db: DataSource,
    readonly sql: string,
  ) {}

  /** SELECT: the rows. */
  async rows<R>(params: unknown[]): Promise<R[]> {
    const stmt = this.sqliteStatement();
    if (!stmt) return selectRows<R>(this.db.manager, this.sql, params);
    try {
      return stmt.all(...params) as R[];
    } catch (e) {
      throw new QueryFailedError(this.sql, params, e as Error);
    }
  }

  /**
   * SELECT: each row as an array of its values in `columns` order (the
   * statement's own column order). On SQLite the statement answers arrays
   * (better-sqlite3's raw mode), with no keyed object made per row only to be
   * read once; elsewhere the manager's rows, their values put in that order.
   */
  async arrays(params: unknown[], columns: readonly string[]): Promise<unknown[][]> {
    const connection = sqliteConnection(this.db);
    if (!connection) {
      const rows = await selectRows<Record<string, unknown>>(this.db.manager, this.sql, params);
      return rows.map((r) => columns.map((c) => r[c]));
    }
    if (this.sqliteArrays?.database !== connection)
      this.sqliteArrays = connection.prepare(this.sql).raw(true);
    try {
      return this.sqliteArrays.all(...params) as unknown[][];
    } catch (e) {
      throw new QueryFailedError(this.sql, params, e as Error);
    }
  }

  /** INSERT/UPDATE/DELETE: run for its effect (a refusal throws QueryFailedError). */
  async run(params: unknown[]): Promise<void> {
    const stmt = this.sqliteStatement();
    if (!stmt) {
      await this.db.query(this.sql, params);
      return;
    }
    try {
      stmt.run(...params);
    } catch (e) {
      throw new QueryFailedError(this.sql, params, e as Error);
    }
  }

  /** The statement prepared on the SQLite connection, or null (another database, or not connected). */
  sqliteStatement(): BetterSqlite3.Statement | null {
    const connection = sqliteConnection(this.db);
    // Not connected (yet, or any more): TypeORM's query says so as it always did.
    if (!connection) return null;
    if (this.sqlite?.database !== connection) this.sqlite = connection.prepare(this.sql);
    return this.sqlite;
  }
}

/** TypeORM's own better-sqlite3 connection when the data source is SQLite and connected, else null. */
export function sqliteConnection(db: DataSource): BetterSqlite3.Database | null {
  if (db.options.type !== 'better-sqlite3') return null;
  const connection = (db.driver as { databaseConnection?: BetterSqlite3.Database }).databaseConnection;
  return connection?.open ? connection : null;
}
