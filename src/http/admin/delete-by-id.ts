import type { DataSource, EntityTarget, FindOptionsWhere } from 'typeorm';

/** Deletes the row with this id (admin accounts, API tokens) and returns it as it was; null when there is none. */
export async function deleteById<T extends { id: string }>(
  db: DataSource,
  entity: EntityTarget<T>,
  id: string,
): Promise<T | null> {
  const repo = db.getRepository(entity);
  const where = { id } as FindOptionsWhere<T>;
  const row = await repo.findOneBy(where);
  if (row) await repo.delete(where);
  return row;
}
