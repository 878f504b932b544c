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
