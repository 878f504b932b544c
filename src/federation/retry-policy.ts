import { exponentialBackoff } from '../jobs/backoff';

/**
 * When to try a notification again. Exponential backoff with jitter so that
 * many instances coming back after an outage do not retry in lockstep, capped
 * at maxMs and never given up while the partner is merely unreachable; 4xx
 * answers other than 408/429 are final (classifyAnswer).
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

/**
 * How a partner's answer is taken, for every outbound call:
 * - success: 2xx;
 * - transient: 408, 429, 5xx (and 1xx/3xx: redirects are not followed), like
 *   no answer at all: retried with the capped backoff, never given up;
 * - permanent: 401, 403, 404, 410: the partner says this will not work (it
 *   cannot authenticate us, forbids it, does not know it, or is gone); the
 *   item is stopped and marked, never retried;
 * - refused: every other 4xx: the partner understood and refused (final too).
 */
export type AnswerClass = 'success' | 'transient' | 'permanent' | 'refused';

export const PERMANENT_STATUSES: readonly number[] = [401, 403, 404, 410];

export function classifyAnswer(status: number): AnswerClass {
  if (status >= 200 && status < 300) return 'success';
  if (PERMANENT_STATUSES.includes(status)) return 'permanent';
  if (status === 408 || status === 429) return 'transient';
  if (status >= 400 && status < 500) return 'refused';
  return 'transient';
}

export function classifyStatus(status: number): DeliveryOutcome {
  const c = classifyAnswer(status);
  return c === 'success' ? 'delivered' : c === 'transient' ? 'retry' : 'final';
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
