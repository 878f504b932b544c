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
