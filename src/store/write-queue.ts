import type { DataSource } from 'typeorm';
import { exclusive } from './typeorm/transactions';

/**
 * A write made without a transaction by a layer on its own table (the admin
 * accounts, API tokens and audit trail of src/http/admin, the realtime rows
 * of src/asterisk, the peer rows' apply columns, secrets sealed at start):
 * on SQLite it waits its turn in the data source's one write queue
 * (src/store/typeorm/transactions.ts), so it never lands inside another
 * writer's open transaction and vanishes with its rollback. On MariaDB it
 * runs at once.
 */
export function queuedWrite<T>(db: DataSource, fn: () => Promise<T>): Promise<T> {
  return exclusive(db, undefined, fn);
}
