/** Backoff for the long-lived Asterisk links (AMI socket, ARI WebSocket). */
export interface ReconnectBackoff {
  initialMs: number;
  maxMs: number;
}

/**
 * Delay before reconnect attempt `attempt` (0-based): doubling from initialMs
 * up to maxMs, with ±25 % jitter so that many sidecars restarted together do
 * not reconnect in step.
 */
export function reconnectDelay(
  attempt: number,
  b: ReconnectBackoff,
  random: () => number = Math.random,
): number {
  const base = Math.min(b.maxMs, b.initialMs * 2 ** Math.min(Math.max(attempt, 0), 20));
  return Math.round(Math.min(b.maxMs, base * (0.75 + random() * 0.5)));
}
