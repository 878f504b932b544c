import type { Clock } from '../../core/clock';
import { type BucketSpec, type Reservation, reserveByCompareAndSet } from '../../core/rate-buckets';
import { KEY_PREFIX, type ValkeyConnection } from './client';

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
    const read = async () => {
      const raw = await this.valkey.client.get(k);
      return { due: raw === null ? null : Number(raw), seen: raw ?? '' };
    };
    const write = async (raw: string, due: number, _granted: number, now: number): Promise<boolean> =>
      (await this.valkey.client.eval(
        COMPARE_AND_SET,
        1,
        k,
        raw,
        String(due),
        String(Math.max(1, due - now)),
      )) === 1;
    return reserveByCompareAndSet({ read, write }, () => this.clock.now(), want, spec, k);
  }
}
