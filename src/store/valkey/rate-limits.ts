import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { KEY_PREFIX, type ValkeyConnection } from './client';

type HitResult = { ok: true } | { ok: false; retryAfterS: number };

/**
 * A fixed-window limit counted in Valkey (config.ha.valkeyUrl), so replicas
 * count together: rate-limiter-flexible's Redis limiter (one atomic script per
 * hit: the key's counter, made with the window as its expiry). While Valkey
 * does not answer, each replica counts in its own memory instead (the
 * library's insurance limiter): the limits keep protecting each process, at
 * most once per replica, and federation keeps answering; the counts in Valkey
 * take over again when it is back. Unlike the database limiter a refused hit
 * is counted too, which changes nothing: the window does not move.
 * Shaped like src/federation's SharedHitLimiter.
 */
export class ValkeyRateLimiter {
  private readonly limiter: RateLimiterRedis;

  constructor(
    valkey: ValkeyConnection,
    /** Keeps limiters apart ("origin", "ip", ...). */
    name: string,
    limit: number,
    windowMs: number,
  ) {
    const duration = Math.max(1, Math.round(windowMs / 1000));
    const keyPrefix = `${KEY_PREFIX}rate:${name}`;
    this.limiter = new RateLimiterRedis({
      storeClient: valkey.client,
      keyPrefix,
      points: limit,
      duration,
      // Not connected: straight to the insurance limiter, no wait for a time-out.
      rejectIfRedisNotReady: true,
      insuranceLimiter: new RateLimiterMemory({ keyPrefix, points: limit, duration }),
    });
  }

  async take(key: string): Promise<HitResult> {
    try {
      await this.limiter.consume(key.slice(0, 300));
      return { ok: true };
    } catch (e) {
      if (!(e instanceof RateLimiterRes)) throw e;
      return { ok: false, retryAfterS: Math.max(1, Math.ceil(e.msBeforeNext / 1000)) };
    }
  }
}
