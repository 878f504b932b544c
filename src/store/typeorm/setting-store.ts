import type { DataSource } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import { SettingEntity, type Setting } from '../entities';
import { exclusive, managerOf, type StoreTxToken } from './transactions';

/** The settings table through TypeORM. */
export class TypeormSettingStore {
  constructor(private readonly db: DataSource) {}

  async get(key: string): Promise<unknown> {
    const row = await this.db.getRepository<Setting>(SettingEntity).findOneBy({ key });
    return row ? row.value : null;
  }

  /**
   * One statement (an upsert), never a transaction of its own: `save()` opens one when none is active,
   * and on SQLite's single connection that nested with the protocol's serial transactions (a rollback
   * took this write along, or the two commits crossed). See the store contract's interleaving case.
   */
  async put(key: string, value: unknown, updatedAt: number, tx?: StoreTxToken): Promise<void> {
    const row = { key, value, updatedAt } as QueryDeepPartialEntity<Setting>;
    await exclusive(this.db, tx, () =>
      managerOf(this.db, tx).getRepository<Setting>(SettingEntity).upsert(row, ['key']),
    );
  }
}
