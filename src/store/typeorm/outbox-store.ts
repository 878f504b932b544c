import { type DataSource, type FindOptionsWhere, In } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import { OutboxEntity, type OutboxItem, type OutboxKind } from '../entities';
import { exclusive, managerOf, type StoreTxToken } from './transactions';

type OutboxPatch = Partial<
  Pick<OutboxItem, 'state' | 'attempts' | 'nextAttemptAt' | 'lastError' | 'updatedAt'>
>;

/** The outbox table through TypeORM. */
export class TypeormOutboxStore {
  constructor(private readonly db: DataSource) {}

  private repo(tx?: StoreTxToken) {
    return managerOf(this.db, tx).getRepository<OutboxItem>(OutboxEntity);
  }

  async insert(item: OutboxItem, tx?: StoreTxToken): Promise<void> {
    // TypeORM's deep-partial type cannot see through the JSON column's Record type.
    await exclusive(this.db, tx, () => this.repo(tx).insert(item as QueryDeepPartialEntity<OutboxItem>));
  }

  listPending(filter: { requestIds?: string[] } = {}): Promise<OutboxItem[]> {
    if (filter.requestIds && filter.requestIds.length === 0) return Promise.resolve([]);
    const where: FindOptionsWhere<OutboxItem> = { state: 'pending' };
    if (filter.requestIds) where.requestId = In(filter.requestIds);
    return this.repo().find({ where, order: { createdAt: 'ASC', id: 'ASC' } });
  }

  listFailed(limit: number): Promise<OutboxItem[]> {
    return this.repo().find({
      where: { state: 'failed' },
      order: { updatedAt: 'DESC', id: 'ASC' },
      take: limit,
    });
  }

  countPending(): Promise<number> {
    return this.repo().countBy({ state: 'pending' });
  }

  latest(requestId: string, kind: OutboxKind): Promise<OutboxItem | null> {
    return this.repo().findOne({ where: { requestId, kind }, order: { createdAt: 'DESC', id: 'DESC' } });
  }

  get(id: string): Promise<OutboxItem | null> {
    return this.repo().findOneBy({ id });
  }

  async update(id: string, patch: OutboxPatch, tx?: StoreTxToken): Promise<void> {
    await exclusive(this.db, tx, () => this.repo(tx).update({ id }, patch));
  }

  async updatePending(
    patch: OutboxPatch,
    filter: { requestId?: string; id?: string } = {},
    tx?: StoreTxToken,
  ): Promise<number> {
    const where: FindOptionsWhere<OutboxItem> = { state: 'pending' };
    if (filter.requestId !== undefined) where.requestId = filter.requestId;
    if (filter.id !== undefined) where.id = filter.id;
    return (await exclusive(this.db, tx, () => this.repo(tx).update(where, patch))).affected ?? 0;
  }
}
