import type { DataSource } from 'typeorm';
import { SettingEntity, type Setting } from '../entities';
import { managerOf, type StoreTxToken } from './transactions';

/** The settings table through TypeORM. */
export class TypeormSettingStore {
  constructor(private readonly db: DataSource) {}

  async get(key: string): Promise<unknown> {
    const row = await this.db.getRepository<Setting>(SettingEntity).findOneBy({ key });
    return row ? row.value : null;
  }

  async put(key: string, value: unknown, updatedAt: number, tx?: StoreTxToken): Promise<void> {
    await managerOf(this.db, tx).getRepository<Setting>(SettingEntity).save({ key, value, updatedAt });
  }
}
