import { type Backoff, exponentialBackoff } from '../jobs/backoff';

/** Backoff for the long-lived Asterisk links (AMI socket, ARI WebSocket). */
export interface ReconnectBackoff {
  initialMs: number;
  maxMs: number;
}

/**
 * Delay before reconnect attempt `attempt` (0-based): doubling from initialMs
 * up to maxMs, with ±25 % jitter so that many sidecars restarted together do
 * not reconnect in step (the one formula: src/jobs/backoff.ts).
 */
export function reconnectDelay(
  attempt: number,
  b: ReconnectBackoff,
  random: () => number = Math.random,
): number {
  return exponentialBackoff(attempt, { ...b, jitter: [0.75, 1.25] }, random);
}

/** A module reload refused because another one runs (AMI, ARI): 100 ms doubling up to 2 s, no jitter. */
export const RELOAD_RETRY: Backoff = { initialMs: 100, maxMs: 2000 };
