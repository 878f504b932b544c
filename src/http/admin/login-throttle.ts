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

/**
 * Where failures are kept: this process's memory (MemoryFailureLog), or the
 * database replicas share (src/store/ha/login-failures.ts).
 */
export interface FailureLog {
  /** The key's failure times after `since`, oldest first. */
  recent(key: string, since: number): Promise<number[]>;
  /** Records one failure now for each key; forgets what left the window. */
  add(keys: string[], windowMs: number): Promise<void>;
  clear(key: string): Promise<void>;
}

export class MemoryFailureLog implements FailureLog {
  private readonly failures = new Map<string, number[]>();

  constructor(private readonly clock: Clock) {}

  async recent(key: string, since: number): Promise<number[]> {
    return (this.failures.get(key) ?? []).filter((t) => t > since);
  }

  async add(keys: string[], windowMs: number): Promise<void> {
    const now = this.clock.now();
    for (const key of keys) {
      const list = await this.recent(key, now - windowMs);
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

  async clear(key: string): Promise<void> {
    this.failures.delete(key);
  }
}

export class LoginThrottle {
  constructor(
    private readonly clock: Clock,
    private readonly limits: LoginThrottleLimits = DEFAULT_LOGIN_LIMITS,
    private readonly log: FailureLog = new MemoryFailureLog(clock),
  ) {}

  /** Throws LOGIN_THROTTLED (429, Retry-After) when either limit is reached. */
  async check(username: string, address: string): Promise<void> {
    const waits = [
      await this.waitMs(`u:${username.toLowerCase()}`, this.limits.perUsername),
      await this.waitMs(`a:${address}`, this.limits.perAddress),
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

  async recordFailure(username: string, address: string): Promise<void> {
    await this.log.add([`u:${username.toLowerCase()}`, `a:${address}`], this.limits.windowMs);
  }

  /** A correct password clears the account's count (the address keeps its own). */
  async recordSuccess(username: string): Promise<void> {
    await this.log.clear(`u:${username.toLowerCase()}`);
  }

  private async waitMs(key: string, limit: number): Promise<number> {
    const list = await this.log.recent(key, this.clock.now() - this.limits.windowMs);
    if (list.length < limit) return 0;
    return list[list.length - limit] + this.limits.windowMs - this.clock.now();
  }
}
