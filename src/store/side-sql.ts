import type { Pool as PgPool } from 'pg';
import type { Pool as MysqlPool } from 'mysql2/promise';
import { createSideDatabasePool, type MysqlConnection } from './mysql-pool';

/**
 * A connection to a side database of another program (a stock µURU's
 * application database, which µURU keeps on PostgreSQL by default or on
 * MySQL/MariaDB), with one query shape for both engines: `?` placeholders,
 * rows as plain objects, column names as written. The driver of each engine
 * is loaded on first use only.
 */
export type SideEngine = 'postgres' | 'mysql';

export interface SideConnection extends MysqlConnection {
  engine: SideEngine;
}

export interface SideSql {
  readonly engine: SideEngine;
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Runs fn in one transaction on one connection (commit on return, rollback on throw). */
  transaction<T>(fn: (q: SideSql['query']) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** `?` placeholders as PostgreSQL's `$1, $2, ...` (our statements never hold a `?` in a literal). */
function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

class PostgresSql implements SideSql {
  readonly engine = 'postgres' as const;
  constructor(private readonly pool: PgPool) {}
  async query<T>(sql: string, params: unknown[] = []): Promise<T[]> {
    return (await this.pool.query(numbered(sql), params)).rows as T[];
  }
  async transaction<T>(fn: (q: SideSql['query']) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const out = await fn(
        async <R>(sql: string, params: unknown[] = []) =>
          (await client.query(numbered(sql), params)).rows as R[],
      );
      await client.query('COMMIT');
      return out;
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      client.release();
    }
  }
  async close(): Promise<void> {
    await this.pool.end().catch(() => undefined);
  }
}

class MysqlSql implements SideSql {
  readonly engine = 'mysql' as const;
  constructor(private readonly pool: MysqlPool) {}
  async query<T>(sql: string, params: unknown[] = []): Promise<T[]> {
    const [rows] = await this.pool.query(sql, params);
    return rows as T[];
  }
  async transaction<T>(fn: (q: SideSql['query']) => Promise<T>): Promise<T> {
    const conn = await this.pool.getConnection();
    try {
      await conn.beginTransaction();
      const out = await fn(async <R>(sql: string, params: unknown[] = []) => {
        const [rows] = await conn.query(sql, params);
        return rows as R[];
      });
      await conn.commit();
      return out;
    } catch (e) {
      await conn.rollback().catch(() => undefined);
      throw e;
    } finally {
      conn.release();
    }
  }
  async close(): Promise<void> {
    await this.pool.end().catch(() => undefined);
  }
}

export function openSideSql(cfg: SideConnection, connectionLimit = 2): SideSql {
  if (cfg.engine === 'mysql') return new MysqlSql(createSideDatabasePool(cfg, connectionLimit));
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const pg = require('pg') as typeof import('pg');
  return new PostgresSql(
    new pg.Pool({
      host: cfg.socketPath ?? cfg.host,
      port: cfg.port,
      user: cfg.user,
      password: cfg.password,
      database: cfg.database,
      max: connectionLimit,
      connectionTimeoutMillis: 5000,
    }),
  );
}

/**
 * Connection settings from a URL as SQLAlchemy names them
 * (`postgresql+psycopg://user:pw@host:5432/db`, `mysql+pymysql://...`,
 * plain `postgres://`, `mysql://`, `mariadb://`). Null when the scheme is none of these.
 */
export function sideConnectionFromUrl(url: string): SideConnection | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return null;
  }
  const scheme = u.protocol.replace(/:$/, '').split('+')[0].toLowerCase();
  const engine: SideEngine | null =
    scheme === 'postgresql' || scheme === 'postgres'
      ? 'postgres'
      : scheme === 'mysql' || scheme === 'mariadb'
        ? 'mysql'
        : null;
  if (!engine) return null;
  const database = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (!u.hostname || !database) return null;
  return {
    engine,
    host: u.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: u.port ? Number(u.port) : engine === 'postgres' ? 5432 : 3306,
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    database,
  };
}

/**
 * A side database to read (the protocol's SideDatabase port,
 * src/federation/ports/side-database.ts) on the engine its `type` names
 * (MySQL/MariaDB unless told otherwise): the pool opens on the first query.
 */
export function openSideDatabase(
  cfg: MysqlConnection & { type?: SideEngine },
  connectionLimit: number,
): { query(sql: string, params: unknown[]): Promise<unknown[]>; close(): Promise<void> } {
  let sql: SideSql | null = null;
  return {
    async query(statement, params) {
      sql ??= openSideSql({ ...cfg, engine: cfg.type ?? 'mysql' }, connectionLimit);
      return sql.query(statement, params);
    },
    async close() {
      const open = sql;
      sql = null;
      await open?.close();
    },
  };
}
