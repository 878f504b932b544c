import type { Clock } from '../core/clock';

/** What counting a hit answers: let through, or the seconds to wait. */
export type HitResult = { ok: true } | { ok: false; retryAfterS: number };

/** Counts a hit of a key; when over its limit, the seconds to wait. */
export interface HitLimiter {
  take(key: string): HitResult;
}

/** The same counted in a store replicas share (src/store/ha/rate-limits.ts): one round trip per hit. */
export interface SharedHitLimiter {
  take(key: string): Promise<HitResult>;
}

/**
 * Fixed-window counters per key (an IP, a partner's server name). In memory:
 * limits protect this process; a second replica counts on its own.
 */
export class RateLimiter implements HitLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>();
  private lastSweep = 0;

  constructor(
    private readonly clock: Clock,
    private readonly limit: number,
    private readonly windowMs: number,
  ) {}

  /** Counts one hit; when over the limit returns the seconds until the window resets. */
  take(key: string): { ok: true } | { ok: false; retryAfterS: number } {
    const now = this.clock.now();
    // At most one sweep a second: with 10,000 keys all inside their window (many addresses
    // flooding at once) sweeping on every hit would make each refusal cost O(keys).
    if (this.windows.size > 10_000 && now - this.lastSweep >= 1000) {
      this.lastSweep = now;
      this.sweep(now);
    }
    let w = this.windows.get(key);
    if (!w || now - w.start >= this.windowMs) {
      w = { start: now, count: 0 };
      this.windows.set(key, w);
    }
    if (w.count >= this.limit) {
      return { ok: false, retryAfterS: Math.max(1, Math.ceil((w.start + this.windowMs - now) / 1000)) };
    }
    w.count += 1;
    return { ok: true };
  }

  private sweep(now: number): void {
    for (const [k, w] of this.windows) if (now - w.start >= this.windowMs) this.windows.delete(k);
  }
}

/**
 * A steady rate with a bounded burst per key (the generic cell rate
 * algorithm): `limit` per window on average, of which at most `burst` at
 * once; after a burst, one more every window/limit. Used for the per-IP limit. Unlike a fixed window it
 * never lets a key spend a whole window's budget in one go, once more right
 * after the window turns, which is what a flood from one address does: with
 * a per-minute limit of 3,000 the whole minute's worth of full-cost requests
 * (signature checks, body parsing) arrived within the first second and slowed
 * every partner down for it.
 */
export class BurstLimiter implements HitLimiter {
  /** Per key: when the key's bucket is empty again (its theoretical arrival time, ms). */
  private readonly due = new Map<string, number>();
  private lastSweep = 0;
  private readonly intervalMs: number;
  private readonly toleranceMs: number;

  constructor(
    private readonly clock: Clock,
    limit: number,
    windowMs: number,
    readonly burst: number,
  ) {
    this.intervalMs = windowMs / limit;
    this.toleranceMs = (Math.max(1, Math.min(burst, limit)) - 1) * this.intervalMs;
  }

  take(key: string): { ok: true } | { ok: false; retryAfterS: number } {
    const now = this.clock.now();
    if (this.due.size > 10_000 && now - this.lastSweep >= 1000) {
      this.lastSweep = now;
      for (const [k, t] of this.due) if (t <= now) this.due.delete(k);
    }
    const due = Math.max(this.due.get(key) ?? now, now);
    const wait = due - this.toleranceMs - now;
    if (wait > 0) return { ok: false, retryAfterS: Math.max(1, Math.ceil(wait / 1000)) };
    this.due.set(key, due + this.intervalMs);
    return { ok: true };
  }
}

/**
 * The burst of the per-IP limit: two seconds' worth, at least 120 requests (the
 * default limit: what a client may send at once stays as it was), at most the
 * whole limit.
 */
export function perIpBurst(limitPerMinute: number): number {
  return Math.min(limitPerMinute, Math.max(120, Math.ceil(limitPerMinute / 30)));
}
