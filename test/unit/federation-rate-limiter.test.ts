import { BurstLimiter, RateLimiter, perIpBurst } from '../../src/federation/rate-limiter';

const MINUTE = 60_000;

function manualClock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe('per-IP limit with a bounded burst', () => {
  it('lets a burst through at once, then one request per window/limit', () => {
    const clock = manualClock();
    const limiter = new BurstLimiter(clock, 3000, MINUTE, 500);
    let passed = 0;
    for (let i = 0; i < 2000; i++) if (limiter.take('flooder').ok) passed++;
    expect(passed).toBe(500);
    expect(limiter.take('flooder')).toEqual({ ok: false, retryAfterS: 1 });
    // Another address has its own bucket.
    expect(limiter.take('partner').ok).toBe(true);
    clock.advance(20); // 60 s / 3,000
    expect(limiter.take('flooder').ok).toBe(true);
    expect(limiter.take('flooder').ok).toBe(false);
    clock.advance(1000);
    let more = 0;
    for (let i = 0; i < 1000; i++) if (limiter.take('flooder').ok) more++;
    expect(more).toBe(50);
  });

  it('keeps the per-minute rate over time, with no second burst when a minute turns', () => {
    const clock = manualClock();
    const bursty = new BurstLimiter(clock, 3000, MINUTE, 500);
    const fixed = new RateLimiter(clock, 3000, MINUTE);
    let passedBurst = 0;
    let passedFixed = 0;
    let firstSecondFixed = 0;
    // A closed-loop flooder: a request every millisecond for two minutes.
    for (let ms = 0; ms < 2 * MINUTE; ms++) {
      if (bursty.take('x').ok) passedBurst++;
      if (fixed.take('x').ok) {
        passedFixed++;
        if (ms < 1000) firstSecondFixed++;
      }
      clock.advance(1);
    }
    // The per-minute rate over the two minutes: the burst, then 50 a second.
    expect(passedBurst).toBeGreaterThanOrEqual(500 + 2 * 3000 - 1);
    expect(passedBurst).toBeLessThanOrEqual(500 + 2 * 3000);
    expect(passedFixed).toBe(2 * 3000);
    // ... but the fixed window let a whole minute's worth through within the first second.
    expect(firstSecondFixed).toBe(1000);
  });

  it('a small limit keeps its whole budget as the burst; the wait names the next free request', () => {
    const clock = manualClock();
    const limiter = new BurstLimiter(clock, 5, MINUTE, perIpBurst(5));
    for (let i = 0; i < 5; i++) expect(limiter.take('a').ok).toBe(true);
    expect(limiter.take('a')).toEqual({ ok: false, retryAfterS: 12 });
    clock.advance(12_000);
    expect(limiter.take('a').ok).toBe(true);
    expect(limiter.take('a').ok).toBe(false);
  });

  it.each([
    [1, 1],
    [5, 5],
    [120, 120],
    [600, 120],
    [3000, 120],
    [6000, 200],
  ])('a limit of %i per minute bursts %i', (limit, burst) => {
    expect(perIpBurst(limit)).toBe(burst);
  });
});
