import type { DataSource, EntityTarget, FindOptionsWhere } from 'typeorm';
import { queuedWrite } from '../../store/write-queue';

/** Deletes the row with this id (admin accounts, API tokens) and returns it as it was; null when there is none. */
export async function deleteById<T extends { id: string }>(
  db: DataSource,
  entity: EntityTarget<T>,
  id: string,
): Promise<T | null> {
  const repo = db.getRepository(entity);
  const where = { id } as FindOptionsWhere<T>;
  // Read and delete in one turn of the write queue (SQLite): never inside another's open transaction.
  return queuedWrite(db, async () => {
    const row = await repo.findOneBy(where);
    if (row) await repo.delete(where);
    return row;
  });
}
