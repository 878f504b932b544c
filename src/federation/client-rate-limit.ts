import type { RequestHandler } from 'express';
import type { Metrics } from '../core/metrics';
import type { RateLimiter } from './rate-limiter';

/** The error shape of the surface: v2 and the descriptor as the error middleware renders, v1 as µURU does. */
export type RefusalShape = 'v2' | 'v1';

const RATE_LIMITED = 'FED_RATE_LIMITED';

/**
 * Per-IP limit, mounted before any parsing or crypto. A flood is answered
 * here and nowhere else: no error object, no error middleware, no logging,
 * no body parsing (Node discards the unread body), no per-request label
 * lookup; the 429 body is built once per Retry-After value (at most one per
 * second of the window) and reused. A refusal thus costs about what the HTTP
 * parser already spent on the request, which keeps the event loop free for
 * the requests that are let through.
 */
export function perIpLimit(
  limiter: RateLimiter,
  metrics: Metrics,
  endpoint: string,
  shape: RefusalShape = 'v2',
): RequestHandler {
  const refusals = metrics.federationRequests.labels({ endpoint, code: RATE_LIMITED });
  const bodies = new Map<number, Buffer>();
  const bodyFor = (retryAfterS: number): Buffer => {
    let body = bodies.get(retryAfterS);
    if (!body) {
      const message = `too many requests from this address; retry in ${retryAfterS} s`;
      body = Buffer.from(
        JSON.stringify(shape === 'v1' ? { detail: message } : { error: RATE_LIMITED, message }),
        'utf8',
      );
      bodies.set(retryAfterS, body);
    }
    return body;
  };
  return (req, res, next) => {
    const r = limiter.take(req.ip ?? 'unknown');
    if (r.ok) {
      next();
      return;
    }
    refusals.inc();
    const body = bodyFor(r.retryAfterS);
    res.writeHead(429, {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': body.length,
      'Retry-After': String(r.retryAfterS),
    });
    res.end(body);
  };
}
