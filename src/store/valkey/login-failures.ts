import crypto from 'node:crypto';
import type { Clock } from '../../core/clock';
import { KEY_PREFIX, orUnavailable, type ValkeyConnection } from './client';

const WHAT = 'login throttles';

/**
 * The login throttle's failures in Valkey (config.ha.valkeyUrl), shared by the
 * replicas instead of `login_failures`: one sorted set per key (`u:<username>`,
 * `a:<address>`) of failure times, trimmed to the window and expiring with it.
 * Shaped like src/http/admin's FailureLog; the throttle decides with what it
 * reads. Valkey unreachable: VALKEY_UNAVAILABLE (the sign-in is refused; a
 * guesser never gets a pass because the count cannot be read).
 */
export class ValkeyLoginFailures {
  constructor(
    private readonly valkey: ValkeyConnection,
    private readonly clock: Clock,
  ) {}

  /** The times of the key's failures after `since`, oldest first. */
  async recent(key: string, since: number): Promise<number[]> {
    const times = await orUnavailable(WHAT, () =>
      this.valkey.client.zrangebyscore(failuresKey(key), `(${since}`, '+inf', 'WITHSCORES'),
    );
    // [member, score, member, score, ...]
    const out: number[] = [];
    for (let i = 1; i < times.length; i += 2) out.push(Number(times[i]));
    return out;
  }

  async add(keys: string[], windowMs: number): Promise<void> {
    const now = this.clock.now();
    const m = this.valkey.client.multi();
    for (const key of keys) {
      const k = failuresKey(key);
      // A unique member per failure: two at the same millisecond both count.
      m.zadd(k, now, `${now}:${crypto.randomBytes(6).toString('hex')}`)
        .zremrangebyscore(k, '-inf', now - windowMs)
        .pexpire(k, windowMs);
    }
    await orUnavailable(WHAT, async () => {
      const results = await m.exec();
      if (!results) throw new Error('transaction aborted');
      for (const [e] of results) if (e) throw e;
    });
  }

  async clear(key: string): Promise<void> {
    await orUnavailable(WHAT, () => this.valkey.client.del(failuresKey(key)));
  }
}

const failuresKey = (key: string) => `${KEY_PREFIX}login-failures:${key.slice(0, 300)}`;
