import type { DataSource } from 'typeorm';
import type { Clock } from '../../core/clock';
import { type BucketSpec, type Reservation, reserveByCompareAndSet } from '../../core/rate-buckets';
import { isDuplicateKey } from '../typeorm/transactions';
import { execute, num, select } from './sql';

type HitResult = { ok: true } | { ok: false; retryAfterS: number };

/**
 * A fixed-window limit counted in the shared database (`rate_limit_windows`,
 * one row per limiter and key), so replicas behind one address count
 * together. A hit is one UPDATE that only a window with room (or a window
 * that has ended, which it restarts) lets through; a key's first hit inserts
 * its row. Refused hits are not counted, as in the in-memory RateLimiter.
 * Hand-written rather than rate-limiter-flexible's MySQL limiter (which
 * ValkeyRateLimiter uses for Redis): that one creates its own table at run
 * time, outside the migrations, and wants a mysql pool of its own beside
 * TypeORM's, for two statements. Shaped like src/federation's SharedHitLimiter.
 */
export class DbRateLimiter {
  constructor(
    private readonly db: DataSource,
    private readonly clock: Clock,
    /** Prefix that keeps limiters apart in the one table ("origin", "login"...). */
    private readonly name: string,
    private readonly limit: number,
    private readonly windowMs: number,
  ) {}

  async take(key: string): Promise<HitResult> {
    const k = `${this.name}:${key}`.slice(0, 300);
    const now = this.clock.now();
    const ended = now - this.windowMs;
    // SET runs left to right on MariaDB/MySQL: `hits` is set from the old `windowStart`, then `windowStart`.
    const hit = () =>
      execute(
        this.db,
        'UPDATE `rate_limit_windows` SET `hits` = CASE WHEN `windowStart` <= ? THEN 1 ELSE `hits` + 1 END,' +
          ' `windowStart` = CASE WHEN `windowStart` <= ? THEN ? ELSE `windowStart` END' +
          ' WHERE `limiterKey` = ? AND (`windowStart` <= ? OR `hits` < ?)',
        [ended, ended, now, k, ended, this.limit],
      );
    if ((await hit()) === 1) return { ok: true };
    try {
      await execute(
        this.db,
        'INSERT INTO `rate_limit_windows` (`limiterKey`, `windowStart`, `hits`) VALUES (?, ?, 1)',
        [k, now],
      );
      return { ok: true };
    } catch (e) {
      if (!isDuplicateKey(e)) throw e;
    }
    // The row exists: full, or another replica inserted it just now.
    if ((await hit()) === 1) return { ok: true };
    const rows = await select<{ windowStart: unknown }>(
      this.db,
      'SELECT `windowStart` FROM `rate_limit_windows` WHERE `limiterKey` = ?',
      [k],
    );
    const start = rows.length > 0 ? num(rows[0].windowStart) : now;
    return { ok: false, retryAfterS: Math.max(1, Math.ceil((start + this.windowMs - now) / 1000)) };
  }

  /** Deletes windows that ended (the shared-state purge job). */
  static async purge(db: DataSource, olderThan: number): Promise<number> {
    return execute(db, 'DELETE FROM `rate_limit_windows` WHERE `windowStart` < ?', [olderThan]);
  }
}

/**
 * The per-IP limit's buckets in the shared database (src/core's
 * SharedBuckets): rows of `rate_limit_windows` keyed `ip:<address>` whose
 * `windowStart` holds the bucket's due time (when it is empty again, ms) and
 * `hits` the last reservation's size. A reservation reads the row, computes
 * with reserveHits and writes the new due time only if the row still holds
 * the one it read: the UPDATE decides, as for the job leases, so it holds on
 * Galera too (two nodes' writes conflict and the loser finds the row moved,
 * then reads again). No row is a full bucket; the purge deletes rows whose
 * due time is a minute past (full again since). Two round trips per
 * reservation; SharedBurstLimiter makes one per handful of requests.
 */
export class DbSharedBuckets {
  constructor(
    private readonly db: DataSource,
    private readonly clock: Clock,
    /** Prefix of the keys in the one table. */
    private readonly name = 'ip',
  ) {}

  async reserve(key: string, want: number, spec: BucketSpec): Promise<Reservation> {
    const k = `${this.name}:${key}`.slice(0, 300);
    const read = async () => {
      const rows = await select<{ windowStart: unknown }>(
        this.db,
        'SELECT `windowStart` FROM `rate_limit_windows` WHERE `limiterKey` = ?',
        [k],
      );
      const due = rows.length > 0 ? num(rows[0].windowStart) : null;
      return { due, seen: due };
    };
    const write = async (before: number | null, due: number, granted: number): Promise<boolean> => {
      if (before !== null) {
        const moved = await execute(
          this.db,
          'UPDATE `rate_limit_windows` SET `windowStart` = ?, `hits` = ? WHERE `limiterKey` = ? AND `windowStart` = ?',
          [due, granted, k, before],
        );
        return moved === 1;
      }
      try {
        await execute(
          this.db,
          'INSERT INTO `rate_limit_windows` (`limiterKey`, `windowStart`, `hits`) VALUES (?, ?, ?)',
          [k, due, granted],
        );
        return true;
      } catch (e) {
        if (!isDuplicateKey(e)) throw e;
        return false;
      }
    };
    return reserveByCompareAndSet({ read, write }, () => this.clock.now(), want, spec, k);
  }
}
