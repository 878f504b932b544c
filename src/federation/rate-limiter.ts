import type { Clock } from '../core/clock';

/**
 * Fixed-window counters per key (an IP, a partner's server name). In memory:
 * limits protect this process; a second replica counts on its own.
 */
export class RateLimiter {
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

  /** Whether a hit would be refused, without counting it. */
  wouldRefuse(key: string): { refused: false } | { refused: true; retryAfterS: number } {
    const now = this.clock.now();
    const w = this.windows.get(key);
    if (!w || now - w.start >= this.windowMs || w.count < this.limit) return { refused: false };
    return { refused: true, retryAfterS: Math.max(1, Math.ceil((w.start + this.windowMs - now) / 1000)) };
  }

  private sweep(now: number): void {
    for (const [k, w] of this.windows) if (now - w.start >= this.windowMs) this.windows.delete(k);
  }
}
