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
