/**
 * A piece of scheduled or background work, declared once and run by the
 * JobRunner: a name (logs, metrics), when it runs, and run(), which must be
 * idempotent: the runner may run it again after a failure, on the next tick,
 * or right after a run that was in flight when a trigger came.
 */
export interface Job {
  name: string;
  schedule: JobSchedule;
  /** Run once as soon as the job is started (besides its schedule). */
  runAtStart?: boolean;
  /**
   * 'cluster': with replicas (JobRunner given leases) a scheduled run happens on one replica per
   * period, the one that wins the job's lease; 'replica' (default): every replica runs it (work on
   * its own Asterisk, its own panel, or safe in parallel like the outbox's claimed deliveries).
   * Triggered runs are never leased: they answer something that happened on this replica.
   */
  scope?: 'cluster' | 'replica';
  /** The period a cluster job runs once in, ms; default: its everyMs/gapMs, a minute for cron. */
  periodMs?: number;
  run(): Promise<unknown>;
}

/** A job's lease for one period, won by one replica (src/store/job-leases.ts on the shared database). */
export interface JobLease {
  /** The fencing token: grows with every lease of the job, so a late holder's writes can be told apart. */
  readonly token: number;
  /** Marks the period's run ended (ok: not taken over again after the lease expires). */
  release(ok: boolean): Promise<void>;
}

/** Cluster-wide leases of the jobs: rows won by an UPDATE, never a database lock (locks are node-local on Galera). */
export interface JobLeases {
  /** The lease of `job` for the period `period` (a number that grows with time), or null when another replica won it. */
  acquire(job: string, period: number, ttlMs: number): Promise<JobLease | null>;
}

/**
 * When a job runs on its own. Every run, scheduled or triggered, goes through
 * the job's single flight: never two at once, at most one queued.
 * - cron: a node-cron expression (config.jobs.*Cron).
 * - everyMs: a tick every so many ms whatever the runs take (fixed rate); a tick
 *   during a run queues one run after it.
 * - gapMs: the next tick so many ms after the last scheduled run ended (fixed
 *   delay): a slow run pushes the next one back instead of queuing it.
 * - 'on-trigger': only when triggered.
 */
export type JobSchedule = { cron: string } | { everyMs: number } | { gapMs: number } | 'on-trigger';

/** What the runner hands back for a job: trigger it, or take it off (waiting for a run in flight). */
export interface JobHandle {
  readonly name: string;
  /** Runs the job now, or right after the run in flight (coalesced); resolves when that run ended. Never rejects. */
  trigger(): Promise<void>;
  /** Stops its schedule, drops a queued run, waits for the run in flight and forgets the job. */
  remove(): Promise<void>;
}

/** A job that runs at start and then every `everyMs` (a pass over the whole state each time). */
export function everyJob(name: string, everyMs: number, run: () => Promise<unknown>): Job {
  return { name, schedule: { everyMs }, runAtStart: true, run };
}
