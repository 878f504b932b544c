import { EventEmitter } from 'node:events';
import { assertNever, nextEvent, waitUntil } from '../harness/wait';

describe('test harness: waitUntil', () => {
  it('treats null, undefined, false, 0 and an empty string as "not yet"', async () => {
    const answers: unknown[] = [null, undefined, false, 0, '', { ok: 1 }];
    let calls = 0;
    const v = await waitUntil(() => answers[calls++], { what: 'an object', intervalMs: 1 });
    expect(v).toEqual({ ok: 1 });
    expect(calls).toBe(6);
  });

  it('times out naming what it waited for and the last value', async () => {
    await expect(
      waitUntil(() => null, { what: 'the peer row', timeoutMs: 50, intervalMs: 5 }),
    ).rejects.toThrow(/waiting for the peer row \(last value null\)/);
  });

  it('names the last error when the probe throws', async () => {
    await expect(
      waitUntil(
        () => {
          throw new Error('connection refused');
        },
        { what: 'the port', timeoutMs: 30, intervalMs: 5 },
      ),
    ).rejects.toThrow(/waiting for the port \(threw connection refused\)/);
  });

  it('accepts a falsy value when an explicit predicate says so', async () => {
    let n = 3;
    const v = await waitUntil(() => --n, { what: 'zero', until: (x) => x === 0, intervalMs: 1 });
    expect(v).toBe(0);
  });

  it('stops at once when abort gives a reason', async () => {
    await expect(
      waitUntil(() => false, { what: 'asterisk to start', abort: () => 'process exited with 1' }),
    ).rejects.toThrow('asterisk to start: process exited with 1');
  });
});

describe('test harness: assertNever', () => {
  it('passes after the whole window when nothing happened', async () => {
    const t0 = Date.now();
    let probes = 0;
    await assertNever(() => (probes++, false), { what: 'a reload', windowMs: 200, intervalMs: 20 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(200);
    expect(probes).toBeGreaterThanOrEqual(5);
  });

  it('fails as soon as it happens, naming it', async () => {
    const t0 = Date.now();
    let n = 0;
    await expect(
      assertNever(() => ++n >= 3, { what: 'a second reload', windowMs: 5000, intervalMs: 10 }),
    ).rejects.toThrow(/a second reload happened \d+ ms into a 5000 ms window/);
    expect(Date.now() - t0).toBeLessThan(2000);
  });
});

describe('test harness: nextEvent', () => {
  it('resolves with the first matching payload', async () => {
    const e = new EventEmitter();
    const got = nextEvent<number>(e, 'n', (x) => x > 1, 1000);
    e.emit('n', 1);
    e.emit('n', 2);
    await expect(got).resolves.toBe(2);
  });
});
