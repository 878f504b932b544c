import type { DataSource, EntityManager, EntitySchema } from 'typeorm';

/**
 * One statement of a per-request path, written once from the entity's
 * metadata (table and column names quoted by the connection's driver, so the
 * same text runs on SQLite and MariaDB) and run through the manager's
 * `query`: none of the query builder's per-call work (aliasing, property
 * name replacement, entity transformation), which costs more than SQLite's
 * own lookup on a signed request. Only for statements with plain columns:
 * the values are passed and read as they are stored, without the column
 * transformers.
 */
export function preparedSql<E>(
  db: DataSource,
  entity: EntitySchema<E>,
  text: (names: { table: string; col: (property: keyof E & string) => string }) => string,
): string {
  const meta = db.getMetadata(entity);
  const escape = (n: string) => db.driver.escape(n);
  return text({
    table: escape(meta.tableName),
    col: (property) => {
      const column = meta.findColumnWithPropertyName(property);
      if (!column) throw new Error(`${meta.name} has no column ${property}`);
      return escape(column.databaseName);
    },
  });
}

/** Rows of a SELECT made by preparedSql, through the transaction's manager when there is one. */
export async function selectRows<R>(manager: EntityManager, sql: string, params: unknown[]): Promise<R[]> {
  return (await manager.query(sql, params)) as R[];
}
