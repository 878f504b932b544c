import cron from 'node-cron';
import { errorMessage } from '../core/errors';
import { FencedOut, runFenced } from '../core/fence';
import type { Metrics } from '../core/metrics';
import type { Logger } from '../logging/logger';
import type { Job, JobHandle, JobLeases } from './job';
import { SingleFlight } from './single-flight';

/** Cancels a timer; may finish asynchronously (node-cron's stop). */
export type CancelTimer = () => void | Promise<void>;

/** The runner's time source for schedules; tests substitute a manual one. */
export interface JobTimers {
  /** Calls fn once after ms. */
  after(ms: number, fn: () => void): CancelTimer;
  /** Calls fn whenever the cron expression matches. */
  cron(expression: string, fn: () => void): CancelTimer;
}

/** Node's timers (unref'd: a pending job never keeps the process alive) and node-cron. */
export const systemTimers: JobTimers = {
  after(ms, fn) {
    const t = setTimeout(fn, ms);
    t.unref();
    return () => clearTimeout(t);
  },
  cron(expression, fn) {
    const task = cron.schedule(expression, fn);
    return async () => {
      await task.stop();
      await task.destroy();
    };
  },
};

interface Entry {
  job: Job;
  flight: SingleFlight<void>;
  cancel: CancelTimer | null;
  /** Bumped when the schedule is disarmed, so a tick already under way does not re-arm it. */
  generation: number;
  removed: boolean;
  /** Runs that failed so far (a leased run that failed leaves its period to be taken over). */
  failures: number;
}

/**
 * Runs every background job of the sidecar. The composition root (src/app.ts)
 * starts it before the features and stops it with the app; features add their
 * jobs while they start (a job added to a started runner starts at once) and
 * take them off while they stop. Each job has one single flight, so a run never
 * overlaps another run of the same job, and each run is logged and counted
 * (uuru_fed_job_runs_total, uuru_fed_job_duration_seconds). A failing run is
 * logged and does not stop the schedule.
 */
export class JobRunner {
  private readonly entries = new Map<string, Entry>();
  /** Scheduled runs still taking or giving back their lease (stop() waits for them). */
  private readonly leasing = new Set<Promise<void>>();
  private started = false;
  private stopping = false;

  constructor(
    private readonly deps: {
      readonly logger: Logger;
      metrics?: Metrics;
      timers?: JobTimers;
      /** Replicas: cluster jobs take a lease per period (src/store/job-leases.ts); unset: every job runs here. */
      leases?: JobLeases;
      /** The time periods are counted in (default Date.now). */
      now?: () => number;
    },
  ) {}

  private get timers(): JobTimers {
    return this.deps.timers ?? systemTimers;
  }

  /** From now on cluster jobs take a lease per period (the composition sets it once the database is open). */
  useLeases(leases: JobLeases): void {
    this.deps.leases = leases;
  }

  /** The names of the jobs added, in order. */
  get names(): string[] {
    return [...this.entries.keys()];
  }

  add(job: Job): JobHandle {
    if (this.entries.has(job.name)) throw new Error(`a job named ${job.name} is already added`);
    const entry: Entry = {
      job,
      flight: new SingleFlight(() => this.runOnce(entry), {
        rerunWhen: () => !entry.removed && !this.stopping,
      }),
      cancel: null,
      generation: 0,
      removed: false,
      failures: 0,
    };
    this.entries.set(job.name, entry);
    if (this.started) this.arm(entry);
    return {
      name: job.name,
      trigger: () => this.triggerEntry(entry),
      remove: () => this.remove(entry),
    };
  }

  /** Starts every schedule (and the jobs that run at start). */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.stopping = false;
    for (const e of this.entries.values()) this.arm(e);
  }

  /** Stops every schedule, drops queued runs and waits for the runs in flight. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.started = false;
    await Promise.all([...this.entries.values()].map((e) => this.disarm(e)));
    await Promise.all([...this.leasing]);
    await Promise.all([...this.entries.values()].map((e) => e.flight.idle()));
  }

  /** Runs the named job now, or right after its run in flight; resolves when that run ended. */
  trigger(name: string): Promise<void> {
    const e = this.entries.get(name);
    if (!e) return Promise.reject(new Error(`no job named ${name}`));
    return this.triggerEntry(e);
  }

  private triggerEntry(e: Entry): Promise<void> {
    if (e.removed) return Promise.resolve();
    // runOnce never rejects; the catch only keeps a broken promise from becoming an unhandled rejection.
    return e.flight.trigger().catch(() => undefined);
  }

  private async remove(e: Entry): Promise<void> {
    if (e.removed) return;
    e.removed = true;
    await this.disarm(e);
    await e.flight.idle();
    if (this.entries.get(e.job.name) === e) this.entries.delete(e.job.name);
  }

  private arm(e: Entry): void {
    const { schedule } = e.job;
    const generation = e.generation;
    const live = () => e.generation === generation && !e.removed;
    if (schedule === 'on-trigger') {
      // Nothing to arm.
    } else if ('cron' in schedule) {
      e.cancel = this.timers.cron(schedule.cron, () => void this.scheduled(e));
    } else if ('everyMs' in schedule) {
      const tick = () => {
        if (!live()) return;
        e.cancel = this.timers.after(schedule.everyMs, tick);
        void this.scheduled(e);
      };
      e.cancel = this.timers.after(schedule.everyMs, tick);
    } else {
      const tick = () => {
        e.cancel = null;
        if (!live()) return;
        void this.scheduled(e).then(() => {
          if (live()) e.cancel = this.timers.after(schedule.gapMs, tick);
        });
      };
      e.cancel = this.timers.after(schedule.gapMs, tick);
    }
    if (e.job.runAtStart) void this.scheduled(e);
  }

  /**
   * A scheduled run. A cluster job on a runner with leases first wins its lease for the current
   * period (or skips the run: another replica has it, counted as result "skipped"); the lease is
   * released after the run, marked done when it did not fail.
   */
  private scheduled(e: Entry): Promise<void> {
    const leases = this.deps.leases;
    if (!leases || e.job.scope !== 'cluster' || e.removed) return this.triggerEntry(e);
    const p = this.leased(e, leases).finally(() => this.leasing.delete(p));
    this.leasing.add(p);
    return p;
  }

  private async leased(e: Entry, leases: JobLeases): Promise<void> {
    const periodMs = periodOf(e.job);
    const period = Math.floor((this.deps.now ?? Date.now)() / periodMs);
    let lease;
    try {
      lease = await leases.acquire(e.job.name, period, Math.max(periodMs, 30_000));
    } catch (err) {
      this.deps.logger.warn('job lease not taken', {
        component: 'jobs',
        job: e.job.name,
        error: errorMessage(err),
      });
      return;
    }
    if (!lease || this.stopping || e.removed) {
      if (lease) await lease.release(false).catch(() => undefined);
      else this.deps.metrics?.jobRuns.inc({ job: e.job.name, result: 'skipped' });
      return;
    }
    // Which replica ran which period with which fencing token (`fence`: a field named token is redacted): the trail that shows a period ran once.
    this.deps.logger.debug('cluster job period won', {
      component: 'jobs',
      job: e.job.name,
      period,
      fence: lease.token,
    });
    const failed = e.failures;
    // The run's transactions hold the lease's token (src/core/fence.ts): once another replica took the lease, they are refused.
    await runFenced({ lease: e.job.name, token: lease.token }, () => this.triggerEntry(e));
    await lease.release(e.failures === failed).catch((err: unknown) =>
      this.deps.logger.warn('job lease not released', {
        component: 'jobs',
        job: e.job.name,
        error: errorMessage(err),
      }),
    );
  }

  private async disarm(e: Entry): Promise<void> {
    e.generation++;
    const cancel = e.cancel;
    e.cancel = null;
    await cancel?.();
  }

  private async runOnce(entry: Entry): Promise<void> {
    const job = entry.job;
    const started = performance.now();
    let result: 'ok' | 'error' = 'ok';
    try {
      await job.run();
    } catch (e) {
      result = 'error';
      entry.failures++;
      if (e instanceof FencedOut)
        // This replica was paused past its lease and another replica runs the period now: nothing was written.
        this.deps.logger.warn('cluster job run fenced off: another replica took its lease over', {
          component: 'jobs',
          job: job.name,
          fence: e.fence.token,
        });
      else
        this.deps.logger.error('scheduled job failed', {
          component: 'jobs',
          job: job.name,
          error: errorMessage(e),
        });
    } finally {
      const seconds = (performance.now() - started) / 1000;
      this.deps.metrics?.jobRuns.inc({ job: job.name, result });
      this.deps.metrics?.jobDuration.observe({ job: job.name }, seconds);
    }
  }
}

/** The period a cluster job runs once in: its own, else its interval, else a minute (cron's resolution). */
function periodOf(job: Job): number {
  if (job.periodMs) return job.periodMs;
  const s = job.schedule;
  if (s !== 'on-trigger' && 'everyMs' in s) return s.everyMs;
  if (s !== 'on-trigger' && 'gapMs' in s) return s.gapMs;
  return 60_000;
}

/**
 * The runner a feature adds its jobs to: the app's (ServiceContext.jobs), or,
 * for a feature built and started on its own (tests that start one feature
 * without the app), a runner of its own, started at once. The feature takes
 * its jobs off in stop() either way.
 */
export function runnerFor(ctx: { jobs?: JobRunner; logger: Logger; metrics?: Metrics }): JobRunner {
  if (ctx.jobs) return ctx.jobs;
  const own = new JobRunner({ logger: ctx.logger, metrics: ctx.metrics });
  own.start();
  return own;
}
