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
