import type { EntitySchemaColumnOptions, ValueTransformer } from 'typeorm';

/**
 * Column helpers that behave the same on SQLite and MariaDB/MySQL: times are
 * epoch milliseconds in a bigint (mysql2 returns bigint as string, so convert),
 * JSON is stored as text.
 */
const msTransformer: ValueTransformer = {
  to: (v: number | null | undefined) => v,
  from: (v: string | number | null) => (v === null || v === undefined ? null : Number(v)),
};

const jsonTransformer: ValueTransformer = {
  to: (v: unknown) => (v === undefined || v === null ? null : JSON.stringify(v)),
  from: (v: string | null) => (v === null || v === undefined ? null : (JSON.parse(v) as unknown)),
};

export const col = {
  id: (): EntitySchemaColumnOptions => ({ type: 'varchar', length: 36, primary: true }),
  str: (length: number, nullable = false): EntitySchemaColumnOptions => ({
    type: 'varchar',
    length,
    nullable,
  }),
  text: (nullable = true): EntitySchemaColumnOptions => ({ type: 'text', nullable }),
  int: (nullable = false): EntitySchemaColumnOptions => ({ type: 'integer', nullable }),
  bool: (): EntitySchemaColumnOptions => ({ type: 'boolean', default: false }),
  ms: (nullable = false): EntitySchemaColumnOptions => ({
    type: 'bigint',
    nullable,
    transformer: msTransformer,
  }),
  json: (nullable = true): EntitySchemaColumnOptions => ({
    type: 'text',
    nullable,
    transformer: jsonTransformer,
  }),
};

/**
 * Placeholder transformer of a sealed column (a secret stored encrypted).
 * The key is known only once the store is opened, so openDatabase() replaces
 * it in that data source's metadata (src/store/secrets-at-rest.ts); a data
 * source opened any other way fails loudly instead of storing or reading a
 * secret in clear.
 */
export const SEALED: ValueTransformer = {
  to: (v: unknown) => {
    if (v === null || v === undefined) return v;
    throw new Error('a sealed column was written through a data source not opened by openDatabase()');
  },
  from: (v: unknown) => {
    if (v === null || v === undefined) return v;
    throw new Error('a sealed column was read through a data source not opened by openDatabase()');
  },
};

/** Sealed columns: the value is encrypted at rest and read back in clear (see SEALED). */
export const sealedCol = {
  str: (length: number, nullable = false): EntitySchemaColumnOptions => ({
    type: 'varchar',
    length,
    nullable,
    transformer: SEALED,
  }),
  text: (nullable = true): EntitySchemaColumnOptions => ({ type: 'text', nullable, transformer: SEALED }),
  /** JSON first, then sealed: TypeORM applies `to` in order and `from` in reverse. */
  json: (nullable = true): EntitySchemaColumnOptions => ({
    type: 'text',
    nullable,
    transformer: [jsonTransformer, SEALED],
  }),
};
