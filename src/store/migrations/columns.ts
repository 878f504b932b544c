import { Table, TableIndex, type QueryRunner, type TableColumnOptions } from 'typeorm';

/**
 * Table and column definitions the migrations from 0011 on share (Table API, so they
 * serve SQLite and MariaDB/MySQL alike). A released migration's schema must
 * never change: once a migration using these is released, change a helper only
 * by adding a new one. 0010 and older keep their own literals.
 */

/** A time in ms since the epoch (bigint); nullable unless `required`. */
export const msColumn = (name: string, required = false): TableColumnOptions => ({
  name,
  type: 'bigint',
  isNullable: !required,
});

/** A varchar of the given length; not null unless `nullable`. */
export const varcharColumn = (
  name: string,
  length: number,
  primary = false,
  nullable = false,
): TableColumnOptions => ({
  name,
  type: 'varchar',
  length: String(length),
  isPrimary: primary,
  isNullable: nullable,
});

/** A whole number; nullable (null: not known) unless `required`, with a default when one is given. */
export const intColumn = (name: string, required = false, defaultValue?: number): TableColumnOptions => ({
  name,
  type: 'integer',
  isNullable: !required,
  ...(defaultValue === undefined ? {} : { default: defaultValue }),
});

/** The increasing row number an append-only table is ordered by. */
export const seqColumn = (): TableColumnOptions => ({
  name: 'seq',
  type: 'integer',
  isPrimary: true,
  isGenerated: true,
  generationStrategy: 'increment',
});

/** Creates a table from its columns. */
export const createTable = (q: QueryRunner, name: string, columns: TableColumnOptions[]): Promise<void> =>
  q.createTable(new Table({ name, columns }));

/** Creates a (non-unique) index on a table's columns. */
export const createIndex = (
  q: QueryRunner,
  table: string,
  name: string,
  columnNames: string[],
): Promise<void> => q.createIndex(table, new TableIndex({ name, columnNames }));
