import type { Clock } from '../../core/clock';
import { type BucketSpec, type Reservation, reserveHits } from '../../core/rate-buckets';
import { KEY_PREFIX, type ValkeyConnection } from './client';

/** Rounds of read-then-compare-and-set before a reservation gives up (the limiter then counts on its own for a while). */
const RESERVE_ROUNDS = 8;

/**
 * The compare-and-set of a reservation, atomic in the server: sets KEYS[1] to
 * ARGV[2], expiring after ARGV[3] ms, only while it still holds ARGV[1] (''
 * for no key). 1 when set, 0 when another replica moved it first.
 */
const COMPARE_AND_SET = `local v = redis.call('GET', KEYS[1])
if (v or '') ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1`;

/**
 * The per-IP limit's buckets in Valkey (src/core's SharedBuckets, as
 * DbSharedBuckets in the database): a key per address holding the bucket's
 * due time (ms), set by the same arithmetic (reserveHits) and the same
 * read-then-compare-and-set, the compare-and-set a short script the server
 * runs at once. The key expires when the bucket is full again (no key: a full
 * bucket), so nothing needs a purge. Valkey not answering throws: the
 * limiter (SharedBurstLimiter) then counts on its own for a while.
 */
export class ValkeySharedBuckets {
  constructor(
    private readonly valkey: ValkeyConnection,
    private readonly clock: Clock,
    /** Keeps bucket sets apart. */
    private readonly name = 'ip',
  ) {}

  async reserve(key: string, want: number, spec: BucketSpec): Promise<Reservation> {
    const k = `${KEY_PREFIX}bucket:${this.name}:${key.slice(0, 300)}`;
    for (let round = 0; round < RESERVE_ROUNDS; round++) {
      const raw = await this.valkey.client.get(k);
      const before = raw === null ? null : Number(raw);
      const now = this.clock.now();
      const r = reserveHits(before, now, want, spec);
      if (r.granted === 0) return { granted: 0, retryAfterMs: r.retryAfterMs };
      // Whole milliseconds, rounded up: never a hit more than the bucket allows.
      const due = Math.ceil(r.due);
      const set = await this.valkey.client.eval(
        COMPARE_AND_SET,
        1,
        k,
        raw ?? '',
        String(due),
        String(Math.max(1, due - now)),
      );
      if (set === 1) return { granted: r.granted, retryAfterMs: 0 };
    }
    throw new Error(`the shared rate-limit bucket ${k} kept changing under ${RESERVE_ROUNDS} reservations`);
  }
}
