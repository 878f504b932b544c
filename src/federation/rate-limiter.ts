import type { Clock } from '../core/clock';
import type { BucketSpec, SharedBuckets } from '../core/rate-buckets';

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

/** A limiter whose answer may need a round trip (the shared per-IP limit); BurstLimiter answers at once. */
export interface MaybeSharedHitLimiter {
  take(key: string): HitResult | Promise<HitResult>;
}

/** How the shared per-IP limit holds hits it reserved, and what it does when the store fails. */
export interface SharedBurstOptions {
  /**
   * How long hits reserved from the shared bucket may be spent locally, ms
   * (default 200). A reservation takes about that long's worth of the rate
   * (at least 1): the bound of the overshoot (see SharedBurstLimiter).
   */
  holdMs?: number;
  /** After the store failed, how long this replica counts on its own before asking it again, ms (default 1000). */
  fallbackMs?: number;
  /** Called when a reservation failed (the limiter then counts on `fallback`). */
  onError?: (e: unknown) => void;
}

type Held = { left: number; until: number };

/**
 * The per-IP limit of replicas (issue 16): the same bucket as BurstLimiter,
 * kept in a store every replica shares (SharedBuckets, src/core), so one
 * address sending to two replicas behind a balancer gets one limit, not two.
 *
 * Not one round trip per request: a replica reserves a few hits of a key at a
 * time (holdMs worth of the rate, at least one) and spends them locally; a key
 * whose bucket is empty is refused locally until a reservation's worth has
 * refilled, so a flood costs the store one round trip per reservation, not
 * per request.
 * Concurrent requests of a key wait on one reservation. Reserved hits unspent
 * after holdMs lapse (given to nobody). Overshoot: hits are taken from the
 * shared bucket before they are spent, so the total never exceeds what one
 * bucket allows, except that a hit may be spent up to holdMs after it was
 * reserved: over any period the limit is exceeded by at most
 * replicas × max(1, holdMs × rate) hits. Without replicas the sidecar uses
 * BurstLimiter alone (no store, no promise).
 *
 * When the store fails, the replica counts on `fallback` (its own
 * BurstLimiter, in memory) for fallbackMs, then tries the store again: a
 * database outage neither lets a flood through nor refuses everyone.
 *
 * Hand-written rather than rate-limiter-flexible's MySQL limiter: that one
 * makes one round trip per request that is not yet blocked (its in-memory
 * block starts only once the key's points are spent), and it counts fixed
 * windows, not the burst-bounded rate of BurstLimiter (issue 13).
 */
export class SharedBurstLimiter implements MaybeSharedHitLimiter {
  private readonly held = new Map<string, Held>();
  /** Per key: refused locally until then (the store said the bucket is empty). */
  private readonly blocked = new Map<string, number>();
  private readonly pending = new Map<string, Promise<void>>();
  private readonly spec: BucketSpec;
  private readonly holdMs: number;
  private readonly chunk: number;
  private readonly fallbackMs: number;
  private storeDownUntil = 0;
  private lastSweep = 0;

  constructor(
    private readonly clock: Clock,
    limit: number,
    windowMs: number,
    burst: number,
    private readonly buckets: SharedBuckets,
    private readonly fallback: HitLimiter,
    private readonly opts: SharedBurstOptions = {},
  ) {
    const intervalMs = windowMs / limit;
    this.spec = { intervalMs, toleranceMs: (Math.max(1, Math.min(burst, limit)) - 1) * intervalMs };
    this.holdMs = opts.holdMs ?? 200;
    this.fallbackMs = opts.fallbackMs ?? 1000;
    this.chunk = Math.max(1, Math.min(Math.floor(burst), Math.floor(this.holdMs / intervalMs)));
  }

  /** How many hits one reservation asks for. */
  get reservationSize(): number {
    return this.chunk;
  }

  take(key: string): HitResult | Promise<HitResult> {
    const now = this.clock.now();
    if (now - this.lastSweep >= 1000 && this.held.size + this.blocked.size > 10_000) {
      this.lastSweep = now;
      for (const [k, h] of this.held) if (h.until <= now) this.held.delete(k);
      for (const [k, t] of this.blocked) if (t <= now) this.blocked.delete(k);
    }
    const local = this.takeLocally(key, now);
    if (local) return local;
    if (now < this.storeDownUntil) return this.fallback.take(key);
    return this.takeShared(key);
  }

  /** A held hit, or the refusal of a key known to be empty; null when the store must be asked. */
  private takeLocally(key: string, now: number): HitResult | null {
    const h = this.held.get(key);
    if (h && h.until > now && h.left > 0) {
      h.left -= 1;
      return { ok: true };
    }
    const until = this.blocked.get(key);
    if (until !== undefined && until > now) {
      return { ok: false, retryAfterS: Math.max(1, Math.ceil((until - now) / 1000)) };
    }
    return null;
  }

  private async takeShared(key: string): Promise<HitResult> {
    // Each round either gets hits (the bucket drains, so the rounds end) or learns the key is empty.
    for (;;) {
      let p = this.pending.get(key);
      if (!p) {
        p = this.reserve(key).finally(() => this.pending.delete(key));
        this.pending.set(key, p);
      }
      await p;
      const now = this.clock.now();
      if (now < this.storeDownUntil) return this.fallback.take(key);
      const r = this.takeLocally(key, now);
      if (r) return r;
    }
  }

  private async reserve(key: string): Promise<void> {
    try {
      const r = await this.buckets.reserve(key, this.chunk, this.spec);
      const now = this.clock.now();
      if (r.granted > 0) {
        this.held.set(key, { left: r.granted, until: now + this.holdMs });
        this.blocked.delete(key);
      } else {
        this.held.delete(key);
        // Asked again once a whole reservation's worth is free: a flood costs one round trip per reservation.
        this.blocked.set(key, now + r.retryAfterMs + (this.chunk - 1) * this.spec.intervalMs);
      }
    } catch (e) {
      this.storeDownUntil = this.clock.now() + this.fallbackMs;
      this.opts.onError?.(e);
    }
  }
}
