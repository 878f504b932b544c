import { type DataSource, LessThanOrEqual } from 'typeorm';
import type { Clock } from '../../core/clock';
import { NonceEntity, type NonceRecord } from '../entities';
import { HotStatement, preparedSql } from './prepared-sql';
import { exclusive, isDuplicateKey } from './transactions';

/**
 * Nonces in the database (primary key keyId+nonce), so that replicas sharing
 * it refuse each other's replays too; the unique key makes the check and the
 * reservation one atomic insert.
 */
export class TypeormNonceStore {
  /** The reservation, once per signed request (see preparedSql, HotStatement). */
  private insert: HotStatement | null = null;

  constructor(
    private readonly db: DataSource,
    private readonly clock: Clock,
  ) {}

  /** Never inside another transaction: on SQLite a reservation made while one is open waits for it (see exclusive). */
  reserve(keyId: string, nonce: string, expiresAt: number): Promise<boolean> {
    return exclusive(this.db, undefined, () => this.reserveNow(keyId, nonce, expiresAt));
  }

  private async reserveNow(keyId: string, nonce: string, expiresAt: number): Promise<boolean> {
    const now = this.clock.now();
    const repo = this.db.getRepository<NonceRecord>(NonceEntity);
    this.insert ??= new HotStatement(
      this.db,
      preparedSql(
        this.db,
        NonceEntity,
        ({ table, col }) =>
          `INSERT INTO ${table} (${col('keyId')}, ${col('nonce')}, ${col('expiresAt')}) VALUES (?, ?, ?)`,
      ),
    );
    try {
      await this.insert.run([keyId, nonce, expiresAt]);
      return true;
    } catch (e) {
      if (!isDuplicateKey(e)) throw e;
    }
    // A leftover that already expired (not yet purged) does not count as a replay.
    const existing = await repo.findOneBy({ keyId, nonce });
    if (existing && existing.expiresAt <= now) {
      const res = await repo.delete({ keyId, nonce, expiresAt: LessThanOrEqual(now) });
      if ((res.affected ?? 0) > 0) {
        try {
          await repo.insert({ keyId, nonce, expiresAt });
          return true;
        } catch (e) {
          if (!isDuplicateKey(e)) throw e;
        }
      }
    }
    return false;
  }

  async purgeExpired(): Promise<number> {
    const res = await exclusive(this.db, undefined, () =>
      this.db
        .getRepository<NonceRecord>(NonceEntity)
        .delete({ expiresAt: LessThanOrEqual(this.clock.now()) }),
    );
    return res.affected ?? 0;
  }
}
