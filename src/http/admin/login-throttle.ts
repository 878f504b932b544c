import type { Clock } from '../../core/clock';
import { AppError } from '../../core/errors';

/**
 * Limits failed logins per username (against guessing one account's
 * password) and per client address (against spraying many accounts). Failures
 * count inside a sliding window; once a limit is reached, further attempts
 * are refused before the password is even checked, until the oldest failure
 * leaves the window.
 */
export interface LoginThrottleLimits {
  windowMs: number;
  perUsername: number;
  perAddress: number;
}

export const DEFAULT_LOGIN_LIMITS: LoginThrottleLimits = {
  windowMs: 15 * 60 * 1000,
  perUsername: 5,
  perAddress: 20,
};

const MAX_TRACKED_KEYS = 10000;

export class LoginThrottle {
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly clock: Clock,
    private readonly limits: LoginThrottleLimits = DEFAULT_LOGIN_LIMITS,
  ) {}

  /** Throws LOGIN_THROTTLED (429, Retry-After) when either limit is reached. */
  check(username: string, address: string): void {
    const waits = [
      this.waitMs(`u:${username.toLowerCase()}`, this.limits.perUsername),
      this.waitMs(`a:${address}`, this.limits.perAddress),
    ];
    const wait = Math.max(...waits);
    if (wait > 0) {
      const seconds = Math.ceil(wait / 1000);
      throw new AppError(
        'LOGIN_THROTTLED',
        `too many failed logins; wait ${seconds} s before trying again (or ask another admin to reset the password with "uuru-fed admin create --replace")`,
        { headers: { 'Retry-After': String(seconds) }, details: { retry_after_s: seconds } },
      );
    }
  }

  recordFailure(username: string, address: string): void {
    const now = this.clock.now();
    for (const key of [`u:${username.toLowerCase()}`, `a:${address}`]) {
      const list = this.recent(key);
      list.push(now);
      this.failures.delete(key);
      this.failures.set(key, list);
    }
    while (this.failures.size > MAX_TRACKED_KEYS) {
      const oldest = this.failures.keys().next().value;
      if (oldest === undefined) break;
      this.failures.delete(oldest);
    }
  }

  /** A correct password clears the account's count (the address keeps its own). */
  recordSuccess(username: string): void {
    this.failures.delete(`u:${username.toLowerCase()}`);
  }

  private recent(key: string): number[] {
    const since = this.clock.now() - this.limits.windowMs;
    return (this.failures.get(key) ?? []).filter((t) => t > since);
  }

  private waitMs(key: string, limit: number): number {
    const list = this.recent(key);
    if (list.length < limit) return 0;
    return list[list.length - limit] + this.limits.windowMs - this.clock.now();
  }
}
