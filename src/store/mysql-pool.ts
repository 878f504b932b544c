import type { Pool, PoolOptions } from 'mysql2/promise';

/**
 * A mysql2 pool for the side databases (µURU's extension table, Asterisk's
 * realtime tables). mysql2 is loaded on the first call, not at start: the
 * embedded default (SQLite, static files) never needs it, and loading it
 * costs about 15 MB of resident memory.
 */
export function createMysqlPool(options: PoolOptions): Pool {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mysql = require('mysql2/promise') as typeof import('mysql2/promise');
  return mysql.createPool(options);
}

/** Where a side database is: the shape of the realtimeDb and uuruDatabase settings. */
export interface MysqlConnection {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  socketPath?: string;
}

/** A pool on a side database, with the connection settings both side databases use. */
export function createSideDatabasePool(cfg: MysqlConnection, connectionLimit: number): Pool {
  return createMysqlPool({
    host: cfg.host,
    port: cfg.port,
    user: cfg.user,
    password: cfg.password,
    database: cfg.database,
    socketPath: cfg.socketPath,
    connectionLimit,
    connectTimeout: 5000,
    charset: 'utf8mb4',
  });
}
