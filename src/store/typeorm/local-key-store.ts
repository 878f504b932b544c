import { type DataSource, type FindOptionsWhere, In, LessThanOrEqual } from 'typeorm';
import { LocalKeyEntity, type LocalKey } from '../entities';
import { changedAny } from './changed';
import { exclusive, managerOf, type StoreTxToken } from './transactions';

type LocalKeyPatch = Partial<Pick<LocalKey, 'status' | 'notBefore' | 'expiresAt' | 'privateKey'>>;

/** The local_keys table through TypeORM. */
export class TypeormLocalKeyStore {
  constructor(private readonly db: DataSource) {}

  private repo(tx?: StoreTxToken) {
    return managerOf(this.db, tx).getRepository<LocalKey>(LocalKeyEntity);
  }

  list(
    filter: { alg?: LocalKey['alg']; status?: LocalKey['status'][]; expiresAtOrBefore?: number },
    order: 'asc' | 'desc',
    tx?: StoreTxToken,
  ): Promise<LocalKey[]> {
    const where: FindOptionsWhere<LocalKey> = {};
    if (filter.alg) where.alg = filter.alg;
    if (filter.status) where.status = In(filter.status);
    if (filter.expiresAtOrBefore !== undefined) where.expiresAt = LessThanOrEqual(filter.expiresAtOrBefore);
    const dir = order === 'asc' ? 'ASC' : 'DESC';
    return this.repo(tx).find({ where, order: { notBefore: dir, kid: dir } });
  }

  get(kid: string, tx?: StoreTxToken): Promise<LocalKey | null> {
    return this.repo(tx).findOneBy({ kid });
  }

  async insert(row: LocalKey, tx?: StoreTxToken): Promise<void> {
    await exclusive(this.db, tx, () => this.repo(tx).insert(row));
  }

  async update(
    kid: string,
    patch: LocalKeyPatch,
    opts: { onlyIfStatus?: LocalKey['status'] } = {},
    tx?: StoreTxToken,
  ): Promise<boolean> {
    const where = opts.onlyIfStatus ? { kid, status: opts.onlyIfStatus } : { kid };
    return changedAny(await exclusive(this.db, tx, () => this.repo(tx).update(where, patch)));
  }
}
