/**
 * The per-IP limit's buckets when replicas share them (issue 16). The limit is
 * a generic cell rate algorithm (src/federation/rate-limiter.ts BurstLimiter):
 * per key one number, the moment its bucket is empty again (`due`, ms). A
 * shared store keeps that number for every replica; a replica takes hits from
 * it a few at a time (`reserve`) and spends them without asking again, so the
 * store sees one round trip per handful of requests, not one per request.
 *
 * Implemented on the database (src/store/ha/rate-limits.ts DbSharedBuckets)
 * and on Valkey (src/store/valkey/buckets.ts ValkeySharedBuckets), both with
 * this arithmetic (`reserveHits`) and a compare-and-set.
 */

/** The shape of a bucket: one hit per `intervalMs` on average, `toleranceMs` of it at once (the burst). */
export interface BucketSpec {
  intervalMs: number;
  toleranceMs: number;
}

/** What a reservation got: hits to spend (0 when the bucket is empty) and, when 0, how long until one is free. */
export interface Reservation {
  granted: number;
  retryAfterMs: number;
}

/** Buckets every replica reads and writes (the database, or Valkey). */
export interface SharedBuckets {
  /** Takes up to `want` hits from the key's bucket at once (as many as it holds, none when it is empty). */
  reserve(key: string, want: number, spec: BucketSpec): Promise<Reservation>;
}

/**
 * The arithmetic of one reservation on a bucket whose `due` is given (null:
 * no row, a full bucket). Each hit taken moves `due` one interval on from
 * max(due, now); a hit may be taken while `due - now` stays within the
 * tolerance. Returns the new `due` (unchanged when nothing was granted).
 */
export function reserveHits(
  due: number | null,
  now: number,
  want: number,
  spec: BucketSpec,
): Reservation & { due: number } {
  const from = Math.max(due ?? now, now);
  // Hits that fit: the first needs from - now <= tolerance, each further one an interval more.
  const room = Math.floor((now + spec.toleranceMs - from) / spec.intervalMs) + 1;
  const granted = Math.max(0, Math.min(Math.floor(want), room));
  if (granted === 0)
    return { granted: 0, retryAfterMs: Math.max(1, from - spec.toleranceMs - now), due: from };
  return { granted, retryAfterMs: 0, due: from + granted * spec.intervalMs };
}

/** Rounds of read-then-compare-and-set before a reservation gives up (the limiter then counts on its own for a while). */
const RESERVE_ROUNDS = 8;

/**
 * One reservation on a shared bucket, whatever holds it: read the bucket's
 * due time, take hits with reserveHits, write the new due time (whole
 * milliseconds, rounded up: never a hit more than the bucket allows) only if
 * the store still holds what was read; another replica moving it first means
 * reading again. `read` gives the due time (null: a full bucket) and whatever
 * `write` needs to compare against; `write` answers whether it wrote.
 */
export async function reserveByCompareAndSet<T>(
  store: {
    read(): Promise<{ due: number | null; seen: T }>;
    write(seen: T, due: number, granted: number, now: number): Promise<boolean>;
  },
  now: () => number,
  want: number,
  spec: BucketSpec,
  what: string,
): Promise<Reservation> {
  for (let round = 0; round < RESERVE_ROUNDS; round++) {
    const { due: before, seen } = await store.read();
    const at = now();
    const r = reserveHits(before, at, want, spec);
    if (r.granted === 0) return { granted: 0, retryAfterMs: r.retryAfterMs };
    if (await store.write(seen, Math.ceil(r.due), r.granted, at))
      return { granted: r.granted, retryAfterMs: 0 };
  }
  throw new Error(`the shared rate-limit bucket ${what} kept changing under ${RESERVE_ROUNDS} reservations`);
}
