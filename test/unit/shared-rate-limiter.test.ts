import {
  type BucketSpec,
  type Reservation,
  reserveHits,
  type SharedBuckets,
} from '../../src/core/rate-buckets';
import { BurstLimiter, SharedBurstLimiter, perIpBurst } from '../../src/federation/rate-limiter';

const MINUTE = 60_000;

function manualClock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

/**
 * An in-memory stand-in for the shared table (the database's DbSharedBuckets
 * runs the same reserveHits on its row; the integration test in
 * ha-galera.test.ts runs it): what two replicas' limiters share here.
 */
class MemoryBuckets implements SharedBuckets {
  readonly due = new Map<string, number>();
  calls = 0;
  /** Set to make the next reservations fail (a database outage, which this stand-in cannot have by itself). */
  failing = false;

  constructor(private readonly clock: { now(): number }) {}

  reserve(key: string, want: number, spec: BucketSpec): Promise<Reservation> {
    this.calls++;
    if (this.failing) return Promise.reject(new Error('connection refused'));
    const r = reserveHits(this.due.get(key) ?? null, this.clock.now(), want, spec);
    if (r.granted > 0) this.due.set(key, r.due);
    return Promise.resolve({ granted: r.granted, retryAfterMs: r.retryAfterMs });
  }
}

function replicas(limit: number, n: number, opts: { holdMs?: number } = {}) {
  const clock = manualClock();
  const store = new MemoryBuckets(clock);
  const errors: unknown[] = [];
  const make = () =>
    new SharedBurstLimiter(
      clock,
      limit,
      MINUTE,
      perIpBurst(limit),
      store,
      new BurstLimiter(clock, limit, MINUTE, perIpBurst(limit)),
      { ...opts, onError: (e) => errors.push(e) },
    );
  return { clock, store, errors, limiters: Array.from({ length: n }, make) };
}

describe('reserveHits (the bucket arithmetic every shared store runs)', () => {
  it('decides hit by hit exactly as the in-memory BurstLimiter', () => {
    const clock = manualClock();
    const spec: BucketSpec = { intervalMs: MINUTE / 50, toleranceMs: 9 * (MINUTE / 50) };
    const memory = new BurstLimiter(clock, 50, MINUTE, 10);
    let due: number | null = null;
    // A seeded sequence of gaps: bursts and pauses.
    let seed = 7;
    for (let i = 0; i < 2000; i++) {
      seed = (seed * 16807) % 2147483647;
      clock.advance(seed % 7 === 0 ? seed % 5000 : seed % 50);
      const r = reserveHits(due, clock.now(), 1, spec);
      if (r.granted > 0) due = r.due;
      const m = memory.take('k');
      expect(r.granted === 1).toBe(m.ok);
      if (!m.ok) expect(Math.max(1, Math.ceil(r.retryAfterMs / 1000))).toBe(m.retryAfterS);
    }
  });

  it('grants what the bucket holds, up to the number asked for', () => {
    const spec: BucketSpec = { intervalMs: 100, toleranceMs: 400 };
    expect(reserveHits(null, 0, 3, spec)).toEqual({ granted: 3, retryAfterMs: 0, due: 300 });
    expect(reserveHits(300, 0, 10, spec)).toEqual({ granted: 2, retryAfterMs: 0, due: 500 });
    expect(reserveHits(500, 0, 1, spec)).toEqual({ granted: 0, retryAfterMs: 100, due: 500 });
  });
});

describe('the per-IP limit shared by replicas (SharedBurstLimiter)', () => {
  it('one address alternating between two replicas gets one limit, not two', async () => {
    const { limiters } = replicas(10, 2);
    const answers = [];
    for (let i = 0; i < 40; i++) answers.push(await limiters[i % 2].take('198.51.100.7'));
    expect(answers.filter((r) => r.ok)).toHaveLength(10);
    expect(answers.slice(10).every((r) => !r.ok)).toBe(true);
    // Each replica on its own (the in-memory limit) would have let 10 through: 20 in all.
    expect(answers[39]).toEqual({ ok: false, retryAfterS: 6 });
  });

  it('a flood costs the store one round trip per reservation, and none per refusal', async () => {
    const { limiters, store } = replicas(3000, 1);
    const [limiter] = limiters;
    // 200 ms worth of 50 a second: 10 hits a reservation.
    expect(limiter.reservationSize).toBe(10);
    let passed = 0;
    for (let i = 0; i < 5000; i++) if ((await limiter.take('flooder')).ok) passed++;
    expect(passed).toBe(120);
    // 12 reservations of 10, then one that found the bucket empty; the other refusals were answered locally.
    expect(store.calls).toBe(13);
    // An answer in memory is no promise: the gate answers it at once, as without replicas.
    expect(limiter.take('flooder')).toEqual({ ok: false, retryAfterS: 1 });
  });

  it('concurrent requests of one address wait on one reservation', async () => {
    const { limiters, store } = replicas(10, 1);
    const answers = await Promise.all(Array.from({ length: 30 }, () => limiters[0].take('a')));
    expect(answers.filter((r) => r.ok)).toHaveLength(10);
    // One hit per reservation at 10 a minute: 10 reservations and the one that found the bucket empty.
    expect(store.calls).toBe(11);
  });

  it('over time two replicas let through the rate of one bucket, within replicas × reservation', async () => {
    const { clock, limiters, store } = replicas(3000, 2);
    let passed = 0;
    // A flood through both replicas, a request to each every millisecond, for ten seconds.
    for (let ms = 0; ms < 10_000; ms++) {
      for (const l of limiters) if ((await l.take('x')).ok) passed++;
      clock.advance(1);
    }
    const oneBucket = 120 + 10 * 50;
    const bound = 2 * limiters[0].reservationSize;
    expect(passed).toBeLessThanOrEqual(oneBucket + bound);
    expect(passed).toBeGreaterThanOrEqual(oneBucket - bound);
    // In memory each replica would have had its own bucket: twice as many.
    // An empty address is asked for again once a reservation's worth refilled, not at each free hit.
    expect(store.calls).toBeLessThan(passed / 3);
  });

  it('hits reserved and not spent within holdMs lapse instead of adding to a later burst', async () => {
    const { clock, limiters, store } = replicas(3000, 2, { holdMs: 200 });
    const [a, b] = limiters;
    expect((await a.take('k')).ok).toBe(true); // A holds 9 more
    for (let i = 0; i < 200; i++) await b.take('k'); // B spends the rest of the burst
    clock.advance(60_000); // the bucket is full again
    let passed = 0;
    for (let i = 0; i < 400; i++) if ((await (i % 2 ? a : b).take('k')).ok) passed++;
    // A's 9 old hits lapsed: the burst is the bucket's 120, not 129.
    expect(passed).toBe(120);
    expect(store.calls).toBeGreaterThan(12);
  });

  it('while the store fails the replica counts on its own bucket, then asks the store again', async () => {
    const { clock, limiters, store, errors } = replicas(10, 1);
    const [limiter] = limiters;
    store.failing = true;
    let passed = 0;
    for (let i = 0; i < 30; i++) if ((await limiter.take('a')).ok) passed++;
    // Its own bucket of 10: a failing database lets no flood through and refuses no one within the limit.
    expect(passed).toBe(10);
    expect(store.calls).toBe(1);
    expect(errors).toHaveLength(1);
    store.failing = false;
    clock.advance(1000);
    expect((await limiter.take('b')).ok).toBe(true);
    expect(store.calls).toBe(2);
    expect(store.due.has('b')).toBe(true);
  });
});
