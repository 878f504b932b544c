/**
 * The one retry/backoff formula: exponential growth from initialMs, capped at
 * maxMs, optionally spread by a jitter factor. Every retry site (outbox
 * delivery, partner key refetch, AMI/ARI reconnects and module reloads, the
 * database at start-up) uses it with its own numbers; the numbers are policy,
 * the shape is not.
 */
export interface Backoff {
  initialMs: number;
  maxMs: number;
  /**
   * The delay is multiplied by a factor drawn uniformly from [low, high), so
   * that many sidecars (or many items) failing together do not retry in step.
   * Omitted: no jitter. The result never exceeds maxMs.
   */
  jitter?: readonly [low: number, high: number];
}

/** Delay before retry number `attempt + 1`, given `attempt` (0-based) failures before it. */
export function exponentialBackoff(attempt: number, b: Backoff, random: () => number = Math.random): number {
  // The exponent is clamped so that a long outage cannot overflow to Infinity before the cap applies.
  const base = Math.min(b.maxMs, b.initialMs * 2 ** Math.min(Math.max(attempt, 0), 30));
  if (!b.jitter) return base;
  const [low, high] = b.jitter;
  return Math.round(Math.min(b.maxMs, base * low + random() * (base * (high - low))));
}
