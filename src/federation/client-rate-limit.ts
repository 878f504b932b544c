import type { RequestHandler } from 'express';
import { AppError } from '../core/errors';
import type { Metrics } from '../core/metrics';
import type { RateLimiter } from './rate-limiter';

/** Per-IP limit, mounted before any parsing or crypto. `render` lets the v1 routes answer in µURU's shape. */
export function perIpLimit(limiter: RateLimiter, metrics: Metrics, endpoint: string): RequestHandler {
  return (req, _res, next) => {
    const r = limiter.take(req.ip ?? 'unknown');
    if (r.ok) {
      next();
      return;
    }
    metrics.federationRequests.inc({ endpoint, code: 'FED_RATE_LIMITED' });
    next(
      new AppError(
        'FED_RATE_LIMITED',
        429,
        `too many requests from this address; retry in ${r.retryAfterS} s`,
        {
          headers: { 'Retry-After': String(r.retryAfterS) },
        },
      ),
    );
  };
}
