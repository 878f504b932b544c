import { exponentialBackoff } from '../jobs/backoff';

/**
 * When to try a notification again. Exponential backoff with jitter so that
 * many instances coming back after an outage do not retry in lockstep; 4xx
 * answers other than 408/429 are final (the partner understood and refused).
 */

export interface RetryPolicy {
  baseMs: number;
  maxMs: number;
}

/**
 * Delay before attempt number `attempts + 1`, given `attempts` failures so far; random in [d/2, d]
 * (the one formula: src/jobs/backoff.ts).
 */
export function backoffDelay(attempts: number, p: RetryPolicy, random: () => number = Math.random): number {
  return exponentialBackoff(attempts - 1, { initialMs: p.baseMs, maxMs: p.maxMs, jitter: [0.5, 1] }, random);
}

export type DeliveryOutcome = 'delivered' | 'retry' | 'final';

export function classifyStatus(status: number): DeliveryOutcome {
  if (status >= 200 && status < 300) return 'delivered';
  if (status === 408 || status === 429) return 'retry';
  if (status >= 400 && status < 500) return 'final';
  return 'retry';
}

/**
 * Whether a final answer to a queued accept means the partner will never hold
 * the peering, so our side is torn down. A 401 does not: the partner could not
 * authenticate us (clock skew, our rotated key not fetched yet), which says
 * nothing about the peering; the accept is given up like any other and the peer
 * stays with its partner_error for anti-entropy and the admin.
 */
export function refusalTearsDownAccept(status: number): boolean {
  return classifyStatus(status) === 'final' && status !== 401;
}
