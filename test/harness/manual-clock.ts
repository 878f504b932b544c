import type { Clock } from '../../src/core/clock';

/** A clock tests can set and advance (the sidecar itself only ever uses systemClock). */
export class ManualClock implements Clock {
  constructor(private t: number = Date.parse('2026-01-01T00:00:00Z')) {}
  now(): number {
    return this.t;
  }
  set(ms: number): void {
    this.t = ms;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}
