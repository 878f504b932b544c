import { ManualClock } from '../harness/manual-clock';
import { Metrics } from '../../src/core/metrics';
import { exponentialBackoff } from '../../src/jobs/backoff';
import type { Job } from '../../src/jobs/job';
import { type CancelTimer, JobRunner, type JobTimers } from '../../src/jobs/job-runner';
import { SingleFlight } from '../../src/jobs/single-flight';
import { captureLogger } from '../harness/test-logger';

/** src/jobs: the backoff formula, the single flight and the runner, on a manual clock. */

/** Lets every settled promise run its callbacks. */
const flush = () => new Promise<void>((r) => setImmediate(r));

interface Deferred<T> {
  promise: Promise<T>;
  resolve(v: T): void;
  reject(e: unknown): void;
}

/** The runs of controlled jobs, so that afterEach can end those a test left open. */
const made: Deferred<void>[] = [];

/** A promise the test settles. */
function deferred<T = void>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Timers on a ManualClock: advance() fires what falls due, in order; cron ticks are fired by hand. */
class ManualTimers implements JobTimers {
  private timers: { at: number; seq: number; fn: () => void }[] = [];
  private seq = 0;
  private readonly crons = new Map<string, Set<() => void>>();

  constructor(private readonly clock: ManualClock) {}

  after(ms: number, fn: () => void): CancelTimer {
    const t = { at: this.clock.now() + ms, seq: this.seq++, fn };
    this.timers.push(t);
    return () => {
      this.timers = this.timers.filter((x) => x !== t);
    };
  }

  cron(expression: string, fn: () => void): CancelTimer {
    const set = this.crons.get(expression) ?? new Set();
    set.add(fn);
    this.crons.set(expression, set);
    return () => {
      set.delete(fn);
    };
  }

  get pending(): number {
    return this.timers.length + [...this.crons.values()].reduce((n, s) => n + s.size, 0);
  }

  fireCron(expression: string): void {
    for (const fn of this.crons.get(expression) ?? []) fn();
  }

  async advance(ms: number): Promise<void> {
    const target = this.clock.now() + ms;
    for (;;) {
      await flush();
      const due = this.timers.filter((t) => t.at <= target).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.clock.set(due.at);
      due.fn();
    }
    this.clock.set(target);
    await flush();
  }
}

describe('exponentialBackoff', () => {
  const b = { initialMs: 100, maxMs: 2000 };

  it('doubles from the initial delay and stops at the maximum', () => {
    expect([0, 1, 2, 3, 4, 5, 100].map((a) => exponentialBackoff(a, b))).toEqual([
      100, 200, 400, 800, 1600, 2000, 2000,
    ]);
    expect(exponentialBackoff(-3, b)).toBe(100);
    expect(exponentialBackoff(10_000, { initialMs: 1, maxMs: Number.MAX_SAFE_INTEGER })).toBe(2 ** 30);
  });

  it('spreads by the jitter factor and never exceeds the maximum', () => {
    const j = { ...b, jitter: [0.5, 1.5] as const };
    expect(exponentialBackoff(2, j, () => 0)).toBe(200);
    expect(exponentialBackoff(2, j, () => 0.5)).toBe(400);
    expect(exponentialBackoff(2, j, () => 0.999999)).toBe(600);
    expect(exponentialBackoff(9, j, () => 0.999999)).toBe(2000);
    expect(exponentialBackoff(9, j, () => 0)).toBe(1000);
  });
});

describe('SingleFlight', () => {
  it('runs at once, never two at a time, and folds a burst into one queued run', async () => {
    const runs: Deferred<number>[] = [];
    let active = 0;
    let most = 0;
    const flight = new SingleFlight(async () => {
      active++;
      most = Math.max(most, active);
      const d = deferred<number>();
      runs.push(d);
      try {
        return await d.promise;
      } finally {
        active--;
      }
    });
    const first = flight.trigger();
    expect(runs).toHaveLength(1); // started synchronously
    expect(flight.busy).toBe(true);
    const burst = [flight.trigger(), flight.trigger(), flight.trigger()];
    expect(new Set(burst).size).toBe(1); // all joined the one queued run
    runs[0].resolve(1);
    expect(await first).toBe(1);
    await flush();
    expect(runs).toHaveLength(2);
    runs[1].resolve(2);
    expect(await Promise.all(burst)).toEqual([2, 2, 2]);
    await flight.idle();
    expect(flight.busy).toBe(false);
    expect(runs).toHaveLength(2);
    expect(most).toBe(1);
  });

  it('a failed run rejects its callers only; the queued run still goes', async () => {
    let n = 0;
    const gate = deferred();
    const flight = new SingleFlight(async () => {
      n++;
      if (n === 1) {
        await gate.promise;
        throw new Error('boom');
      }
      return n;
    });
    const first = flight.trigger();
    const queued = flight.trigger();
    gate.resolve();
    await expect(first).rejects.toThrow('boom');
    expect(await queued).toBe(2);
  });

  it('drops the queued run when rerunWhen says no; its callers get the last result', async () => {
    let stopped = false;
    let n = 0;
    const gate = deferred();
    const flight = new SingleFlight(
      async () => {
        n++;
        await gate.promise;
        return n;
      },
      { rerunWhen: () => !stopped },
    );
    const first = flight.trigger();
    const queued = flight.trigger();
    stopped = true;
    gate.resolve();
    expect(await first).toBe(1);
    expect(await queued).toBe(1);
    await flight.idle();
    expect(n).toBe(1);
  });

  it('idle() waits for the queued run too', async () => {
    const gates = [deferred(), deferred()];
    let n = 0;
    const flight = new SingleFlight(() => gates[n++].promise);
    void flight.trigger();
    void flight.trigger();
    let idle = false;
    const waiting = flight.idle().then(() => (idle = true));
    gates[0].resolve();
    await flush();
    expect(idle).toBe(false);
    gates[1].resolve();
    await waiting;
    expect(n).toBe(2);
  });
});

describe('JobRunner', () => {
  let clock: ManualClock;
  let timers: ManualTimers;
  let logs: ReturnType<typeof captureLogger>;
  let metrics: Metrics;
  let runner: JobRunner;

  beforeEach(() => {
    clock = new ManualClock();
    timers = new ManualTimers(clock);
    logs = captureLogger('debug');
    metrics = new Metrics();
    runner = new JobRunner({ logger: logs.logger, metrics, timers });
  });

  afterEach(async () => {
    for (const d of made.splice(0)) d.resolve();
    await runner.stop();
  });

  /** A job whose runs the test ends one by one (or at once, with auto). */
  function controlled(
    name: string,
    schedule: Job['schedule'],
    opts: { auto?: boolean; runAtStart?: boolean } = {},
  ) {
    const runs: { at: number; done: Deferred<void> }[] = [];
    const job: Job = {
      name,
      schedule,
      runAtStart: opts.runAtStart,
      run: async () => {
        const done = deferred();
        made.push(done);
        runs.push({ at: clock.now(), done });
        if (opts.auto) done.resolve();
        await done.promise;
      },
    };
    return { job, runs, startedAt: () => runs.map((r) => r.at - Date.parse('2026-01-01T00:00:00Z')) };
  }

  it('everyMs: a tick at each period, whatever the run takes; ticks during a run queue one run', async () => {
    const j = controlled('poll', { everyMs: 1000 });
    runner.add(j.job);
    runner.start();
    await timers.advance(999);
    expect(j.runs).toHaveLength(0);
    await timers.advance(1);
    expect(j.startedAt()).toEqual([1000]);
    // The run takes 3.5 periods: three ticks come meanwhile and fold into one run after it.
    await timers.advance(3500);
    expect(j.runs).toHaveLength(1);
    j.runs[0].done.resolve();
    await flush();
    expect(j.startedAt()).toEqual([1000, 4500]);
    j.runs[1].done.resolve();
    await timers.advance(500);
    expect(j.startedAt()).toEqual([1000, 4500, 5000]);
  });

  it('gapMs: the next tick a full gap after the last run ended', async () => {
    const j = controlled('monitor', { gapMs: 1000 });
    runner.add(j.job);
    runner.start();
    await timers.advance(1000);
    expect(j.startedAt()).toEqual([1000]);
    await timers.advance(2500);
    j.runs[0].done.resolve();
    await timers.advance(999);
    expect(j.runs).toHaveLength(1);
    await timers.advance(1);
    expect(j.startedAt()).toEqual([1000, 4500]);
  });

  it('cron and runAtStart: runs on each cron tick, and once when started', async () => {
    const j = controlled('nightly', { cron: '17 3 * * *' }, { auto: true, runAtStart: true });
    runner.add(j.job);
    expect(j.runs).toHaveLength(0);
    runner.start();
    await flush();
    expect(j.runs).toHaveLength(1);
    timers.fireCron('17 3 * * *');
    await flush();
    expect(j.runs).toHaveLength(2);
  });

  it('trigger: runs now, or once right after the run in flight, and resolves when its run ended', async () => {
    const j = controlled('reconcile', 'on-trigger');
    const handle = runner.add(j.job);
    runner.start();
    await timers.advance(60_000);
    expect(j.runs).toHaveLength(0);
    let firstDone = false;
    const first = handle.trigger().then(() => (firstDone = true));
    const second = [handle.trigger(), runner.trigger('reconcile'), handle.trigger()];
    await flush();
    expect(j.runs).toHaveLength(1);
    j.runs[0].done.resolve();
    await first;
    await flush();
    expect(firstDone).toBe(true);
    expect(j.runs).toHaveLength(2);
    j.runs[1].done.resolve();
    await Promise.all(second);
    expect(j.runs).toHaveLength(2);
    await expect(runner.trigger('nope')).rejects.toThrow(/no job named nope/);
  });

  it('a failing run is logged and counted; the schedule goes on and trigger does not reject', async () => {
    let n = 0;
    runner.add({
      name: 'flaky',
      schedule: { everyMs: 100 },
      run: async () => {
        n++;
        if (n === 1) throw new Error('partner down');
      },
    });
    runner.start();
    await timers.advance(100);
    await timers.advance(100);
    expect(n).toBe(2);
    await expect(runner.trigger('flaky')).resolves.toBeUndefined();
    expect(logs.text()).toMatch(/partner down.*flaky.*scheduled job failed/s);
    const runs = await metrics.jobRuns.get();
    const count = (result: string) =>
      runs.values.find((v) => v.labels.job === 'flaky' && v.labels.result === result)?.value;
    expect([count('error'), count('ok')]).toEqual([1, 2]);
  });

  it('a job added to a started runner starts at once; names are unique', async () => {
    runner.start();
    const j = controlled('late', { everyMs: 50 }, { auto: true });
    runner.add(j.job);
    await timers.advance(50);
    expect(j.runs).toHaveLength(1);
    expect(() => runner.add(j.job)).toThrow(/already added/);
    expect(runner.names).toEqual(['late']);
  });

  it('stop: no more ticks, the queued run is dropped, the run in flight is waited for', async () => {
    const j = controlled('outbox', { everyMs: 100 });
    runner.add(j.job);
    runner.start();
    await timers.advance(100);
    await timers.advance(100); // a tick during the run: one queued
    let stopped = false;
    const stopping = runner.stop().then(() => (stopped = true));
    await flush();
    expect(stopped).toBe(false);
    expect(timers.pending).toBe(0);
    j.runs[0].done.resolve();
    await stopping;
    await timers.advance(1000);
    expect(j.runs).toHaveLength(1);
  });

  it('remove: takes one job off (schedule, queued run) and forgets it; others go on', async () => {
    const a = controlled('a', { gapMs: 100 });
    const b = controlled('b', { everyMs: 100 }, { auto: true });
    const ha = runner.add(a.job);
    runner.add(b.job);
    runner.start();
    await timers.advance(100);
    void ha.trigger(); // queued behind a's run in flight
    const removing = ha.remove();
    a.runs[0].done.resolve();
    await removing;
    await timers.advance(300);
    expect(a.runs).toHaveLength(1);
    expect(b.runs).toHaveLength(4);
    expect(runner.names).toEqual(['b']);
    await expect(ha.trigger()).resolves.toBeUndefined();
    expect(a.runs).toHaveLength(1);
  });
});
