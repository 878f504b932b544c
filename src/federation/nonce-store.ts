import { type DataSource, LessThanOrEqual, QueryFailedError } from 'typeorm';
import type { Clock } from '../core/clock';
import { NonceEntity, type NonceRecord } from '../store/entities';

/**
 * Replay protection: a nonce is reserved once per keyid until it expires.
 * Kept in the database (primary key keyId+nonce) so that replicas sharing the
 * database refuse each other's replays too; the unique key makes the check
 * and the reservation one atomic insert. Expired nonces are deleted by the
 * nonce-purge job (purgeExpired, every 5 minutes, src/federation/index.ts).
 */
export class NonceStore {
  constructor(
    private readonly db: DataSource,
    private readonly clock: Clock,
  ) {}

  /** True when the nonce was free and is now reserved until expiresAt (epoch ms); false on reuse. */
  async reserve(keyId: string, nonce: string, expiresAt: number): Promise<boolean> {
    const now = this.clock.now();
    const repo = this.db.getRepository<NonceRecord>(NonceEntity);
    try {
      await repo.insert({ keyId, nonce, expiresAt });
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

  /** Deletes expired nonces; returns how many went. */
  async purgeExpired(): Promise<number> {
    const res = await this.db
      .getRepository<NonceRecord>(NonceEntity)
      .delete({ expiresAt: LessThanOrEqual(this.clock.now()) });
    return res.affected ?? 0;
  }
}

function isDuplicateKey(e: unknown): boolean {
  if (!(e instanceof QueryFailedError)) return false;
  const d = e.driverError as { code?: unknown; errno?: unknown } | undefined;
  const code = typeof d?.code === 'string' ? d.code : '';
  return code === 'ER_DUP_ENTRY' || d?.errno === 1062 || code.startsWith('SQLITE_CONSTRAINT');
}
