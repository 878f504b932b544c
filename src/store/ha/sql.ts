import type { DataSource } from 'typeorm';

/**
 * Plain statements on the shared-state tables of replicas (migration 0016).
 * `?` placeholders and back-quoted names read the same on MariaDB/MySQL and
 * SQLite. Each runs on its own (autocommit): on Galera a lone statement that
 * loses certification is retried by the node itself (wsrep_retry_autocommit).
 */
export async function execute(db: DataSource, sql: string, params: unknown[]): Promise<number> {
  const qr = db.createQueryRunner();
  try {
    const r = await qr.query(sql, params, true);
    return r.affected ?? 0;
  } finally {
    await qr.release();
  }
}

export async function select<T>(db: DataSource, sql: string, params: unknown[]): Promise<T[]> {
  const rows: unknown = await db.query(sql, params);
  return Array.isArray(rows) ? (rows as T[]) : [];
}

/** A bigint column as a number (mysql2 may hand BIGINT values as strings). */
export const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v));

const galera = new WeakMap<DataSource, Promise<boolean>>();

/** True when the database is a Galera node (`wsrep_on` ON); asked once per data source. */
function onGalera(db: DataSource): Promise<boolean> {
  if (db.options.type !== 'mariadb' && db.options.type !== 'mysql') return Promise.resolve(false);
  let known = galera.get(db);
  if (!known) {
    known = select<{ on: unknown }>(db, 'SELECT @@wsrep_on AS `on`', []).then(
      (rows) => rows.length > 0 && (rows[0].on === 1 || rows[0].on === '1' || rows[0].on === 'ON'),
      (e: unknown) => {
        // No such variable (MySQL, a MariaDB built without wsrep): not Galera. Any other failure (the
        // database unreachable a moment) is asked again next time.
        const d = (e as { driverError?: { code?: unknown } }).driverError;
        if (d?.code !== 'ER_UNKNOWN_SYSTEM_VARIABLE') galera.delete(db);
        return false;
      },
    );
    galera.set(db, known);
  }
  return known;
}

/**
 * A read that must see every write the cluster committed before it, made
 * through any node: on Galera it waits (`wsrep_sync_wait=1`, for this
 * statement only) until this node applied them; elsewhere a plain read.
 * Only where a stale read would be wrong (docs/operations.md, "A 3-node
 * Galera cluster"): decisions are UPDATEs, which certification orders anyway.
 */
export async function selectSynced<T>(db: DataSource, sql: string, params: unknown[]): Promise<T[]> {
  return select<T>(db, (await onGalera(db)) ? `SET STATEMENT wsrep_sync_wait=1 FOR ${sql}` : sql, params);
}
