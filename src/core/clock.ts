/** Injectable time source: production uses the system clock, tests pin or advance it (test/harness/manual-clock.ts). */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
