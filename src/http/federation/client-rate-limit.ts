import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import { compileTrustProxy, type TrustProxySetting } from '../../config/trust-proxy';
import { clientAddress } from '../../core/client-address';
import type { Metrics } from '../../core/metrics';
import { DESCRIPTOR_PATH } from '../../federation/descriptor';
import type { HitResult, MaybeSharedHitLimiter } from '../../federation/rate-limiter';
import type { AddressTurns } from './address-turns';
import { isWarmUpCall } from './warm-up';

/** The error shape of the surface: v2 and the descriptor as the error middleware renders, v1 as µURU does. */
export type RefusalShape = 'v2' | 'v1';

/**
 * Answers a request on the federation listener before Express sees it, or
 * lets it through (false). The App consults it first for every request.
 * True also when the gate holds the request to decide later (a limit shared
 * by replicas waiting on its store): it then answers it, or calls `pass` to
 * hand it on as if it had returned false.
 */
export type RequestGate = (req: IncomingMessage, res: ServerResponse, pass: () => void) => boolean;

/** A route answered before Express: true when it answered the request, false to leave it to Express. */
export type FastRoute = (req: IncomingMessage, res: ServerResponse) => boolean;

const RATE_LIMITED = 'FED_RATE_LIMITED';
/** Set on a request the gate has counted, so the per-route limit does not count it again. */
const COUNTED = Symbol('uuru-fed.per-ip-counted');

type Marked = IncomingMessage & { [COUNTED]?: true };

/**
 * A 429 writer for one surface. The body is built once per Retry-After value
 * (at most one per second of the window) and reused: a refusal builds no
 * error object, goes through no error middleware, logs nothing and reads no
 * body (Node discards it).
 */
function refusalWriter(
  metrics: Metrics,
  endpoint: string,
  shape: RefusalShape,
): (res: ServerResponse, retryAfterS: number) => void {
  const refusals = metrics.federationRequests.labels({ endpoint, code: RATE_LIMITED });
  const bodies = new Map<number, Buffer>();
  return (res, retryAfterS) => {
    let body = bodies.get(retryAfterS);
    if (!body) {
      const message = `too many requests from this address; retry in ${retryAfterS} s`;
      body = Buffer.from(
        JSON.stringify(shape === 'v1' ? { detail: message } : { error: RATE_LIMITED, message }),
        'utf8',
      );
      bodies.set(retryAfterS, body);
    }
    refusals.inc();
    res.writeHead(429, {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': body.length,
      'Retry-After': String(retryAfterS),
    });
    res.end(body);
  };
}

/** Whether the flood gate in front of Express has counted this request against its address. */
export function wasCounted(req: IncomingMessage): boolean {
  return (req as Marked)[COUNTED] === true;
}

/**
 * Per-IP limit as route middleware. Behind the App's flood gate it only lets
 * the gate's counted requests pass; on its own (a router mounted without the
 * gate, or a path spelling the gate does not know) it counts and refuses.
 * With `turns`, a call it lets through goes on when its address has a turn
 * (address-turns.ts: a few calls of one address at a time).
 */
export function perIpLimit(
  limiter: MaybeSharedHitLimiter,
  metrics: Metrics,
  endpoint: string,
  shape: RefusalShape = 'v2',
  turns?: AddressTurns,
): RequestHandler {
  const refuse = refusalWriter(metrics, endpoint, shape);
  return (req, res, next) => {
    // req.ip is clientAddress() (App defines it), as the gate counts.
    const address = req.ip ?? 'unknown';
    const go = turns ? () => turns.enter(address, req, res, () => next()) : () => next();
    if ((req as Marked)[COUNTED]) {
      go();
      return;
    }
    const r = limiter.take(address);
    const decide = (v: HitResult): void => {
      if (v.ok) go();
      else refuse(res, v.retryAfterS);
    };
    if ('then' in r) r.then(decide, () => go());
    else decide(r);
  };
}

/**
 * The per-IP limit of the federation surfaces, in front of Express: a flood
 * from one address is refused after Node's HTTP parser and one map lookup,
 * without routing, so it takes as little CPU as possible from the partners
 * whose requests are let through. Paths are compared as Express routes them
 * (case-insensitive); anything else passes untouched (health, admin, panel).
 */
export function perIpGate(
  limiter: MaybeSharedHitLimiter,
  metrics: Metrics,
  opts: { trustProxy: TrustProxySetting },
): RequestGate {
  const trust = compileTrustProxy(opts.trustProxy);
  const v1 = refusalWriter(metrics, 'v1', 'v1');
  const v2 = refusalWriter(metrics, 'v2', 'v2');
  const descriptor = refusalWriter(metrics, 'descriptor', 'v2');
  const descriptorPath = DESCRIPTOR_PATH.toLowerCase();
  const surfaceOf = (url: string): ((res: ServerResponse, retryAfterS: number) => void) | null => {
    const end = url.indexOf('?');
    const path = (end < 0 ? url : url.slice(0, end)).toLowerCase();
    if (path === '/api/v1' || path.startsWith('/api/v1/')) return v1;
    if (path === '/federation/v2' || path.startsWith('/federation/v2/')) return v2;
    if (path === descriptorPath || path === `${descriptorPath}/`) return descriptor;
    return null;
  };
  return (req, res, pass) => {
    const refuse = surfaceOf(req.url ?? '/');
    if (!refuse) return false;
    // The process's own warm-up at start (warm-up.ts) is nobody's budget.
    const r = isWarmUpCall(req) ? ({ ok: true } as const) : limiter.take(clientAddress(req, trust));
    (req as Marked)[COUNTED] = true;
    if ('then' in r) {
      // The shared limit asks its store (SharedBurstLimiter never rejects; should it, the request goes on).
      r.then(
        (v) => (v.ok ? pass() : refuse(res, v.retryAfterS)),
        () => pass(),
      );
      return true;
    }
    if (r.ok) return false;
    refuse(res, r.retryAfterS);
    return true;
  };
}
