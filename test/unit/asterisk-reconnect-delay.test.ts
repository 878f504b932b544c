import { reconnectDelay } from '../../src/asterisk/reconnecting-link';

describe('reconnectDelay', () => {
  const b = { initialMs: 500, maxMs: 30_000 };

  it('doubles from the initial delay and stops at the maximum', () => {
    const mid = () => 0.5; // no jitter
    expect([0, 1, 2, 3, 6, 7, 50].map((a) => reconnectDelay(a, b, mid))).toEqual([
      500, 1000, 2000, 4000, 30_000, 30_000, 30_000,
    ]);
  });

  it('jitters by at most a quarter either way and never exceeds the maximum', () => {
    expect(reconnectDelay(2, b, () => 0)).toBe(1500);
    expect(reconnectDelay(2, b, () => 0.999999)).toBe(2500);
    expect(reconnectDelay(10, b, () => 0.999999)).toBe(30_000);
    expect(reconnectDelay(10, b, () => 0)).toBe(22_500);
  });
});
