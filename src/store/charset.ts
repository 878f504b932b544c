import type { DataSource, QueryRunner } from 'typeorm';
import { AppError } from '../core/errors';

/**
 * Our MariaDB/MySQL tables must store any Unicode text (v1 peer names,
 * partner-supplied reasons, phonebook names) and compare any parameter a
 * caller sends. A database created with the server's default charset on a
 * server whose default is latin1 (MariaDB's compiled default) holds latin1
 * tables: a 4-byte character cannot be stored there, and comparing a latin1
 * column with a utf8mb4 parameter it cannot convert fails with "Illegal mix
 * of collations" (a 500 where a 404 belonged). Migration 0006 converts the
 * database and our tables; every start checks that they stayed converted.
 */
export const CHARSET = 'utf8mb4';
export const COLLATION = 'utf8mb4_unicode_ci';

export function isMysqlFamily(ds: DataSource): boolean {
  const type = ds.options.type;
  return type === 'mysql' || type === 'mariadb';
}

/** Every table this sidecar owns in its database: one per entity, and TypeORM's migrations table. */
export function ownTableNames(ds: DataSource): string[] {
  const migrations = ds.options.migrationsTableName ?? 'migrations';
  return [...new Set([...ds.entityMetadatas.map((m) => m.tableName), migrations])].sort();
}

type Query = Pick<QueryRunner, 'query'> | Pick<DataSource, 'query'>;

export interface CharsetReport {
  database: string;
  /** The database's default character set (what a new table gets). */
  databaseCharset: string;
  /** Our tables whose default collation is not a utf8mb4 one, with that collation. */
  narrowTables: { table: string; collation: string }[];
  /** Text columns of our tables in another character set, as table.column (charset). */
  narrowColumns: string[];
}

export async function inspectCharset(q: Query, tables: string[]): Promise<CharsetReport> {
  const [schema] = (await q.query(
    'SELECT SCHEMA_NAME AS db, DEFAULT_CHARACTER_SET_NAME AS cs FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = DATABASE()',
  )) as { db: string; cs: string }[];
  if (!schema) throw new Error('no database selected');
  const marks = tables.map(() => '?').join(', ');
  const narrowTables = (
    (await q.query(
      `SELECT TABLE_NAME AS t, TABLE_COLLATION AS c FROM information_schema.TABLES
        WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' AND TABLE_NAME IN (${marks})
          AND (TABLE_COLLATION IS NULL OR TABLE_COLLATION NOT LIKE 'utf8mb4%')
        ORDER BY TABLE_NAME`,
      tables,
    )) as { t: string; c: string | null }[]
  ).map((r) => ({ table: r.t, collation: r.c ?? 'unknown' }));
  const narrowColumns = (
    (await q.query(
      `SELECT TABLE_NAME AS t, COLUMN_NAME AS c, CHARACTER_SET_NAME AS cs FROM information_schema.COLUMNS
        WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN (${marks})
          AND CHARACTER_SET_NAME IS NOT NULL AND CHARACTER_SET_NAME <> 'utf8mb4'
        ORDER BY TABLE_NAME, COLUMN_NAME`,
      tables,
    )) as { t: string; c: string; cs: string }[]
  ).map((r) => `${r.t}.${r.c} (${r.cs})`);
  return { database: schema.db, databaseCharset: schema.cs, narrowTables, narrowColumns };
}

const quoteName = (name: string) => `\`${name.replace(/`/g, '``')}\``;

/** The statements that convert what the report found. */
export function conversionStatements(report: CharsetReport): string[] {
  const out: string[] = [];
  if (report.databaseCharset !== CHARSET) {
    out.push(`ALTER DATABASE ${quoteName(report.database)} CHARACTER SET ${CHARSET} COLLATE ${COLLATION}`);
  }
  const tables = new Set([
    ...report.narrowTables.map((t) => t.table),
    ...report.narrowColumns.map((c) => c.slice(0, c.indexOf('.'))),
  ]);
  for (const t of [...tables].sort()) {
    out.push(`ALTER TABLE ${quoteName(t)} CONVERT TO CHARACTER SET ${CHARSET} COLLATE ${COLLATION}`);
  }
  return out;
}

/**
 * Refuses to run on a database that is not utf8mb4 (after the migrations,
 * so only a database converted back, or restored from a latin1 dump, gets
 * here): its tables could neither hold every name nor compare every input.
 */
export async function assertUtf8mb4(ds: DataSource): Promise<void> {
  if (!isMysqlFamily(ds)) return;
  const report = await inspectCharset(ds, ownTableNames(ds));
  const statements = conversionStatements(report);
  if (statements.length === 0) return;
  const found = [
    report.databaseCharset !== CHARSET
      ? `the database's default character set is ${report.databaseCharset}`
      : '',
    report.narrowTables.length
      ? `tables not in utf8mb4: ${report.narrowTables.map((t) => `${t.table} (${t.collation})`).join(', ')}`
      : '',
    report.narrowColumns.length ? `columns not in utf8mb4: ${report.narrowColumns.join(', ')}` : '',
  ].filter(Boolean);
  throw new AppError(
    'DB_CHARSET_UNSUPPORTED',
    `database ${report.database} must use the utf8mb4 character set (${found.join('; ')}). ` +
      `Convert it with: ${statements.join('; ')};`,
  );
}
