import cron, { type ScheduledTask } from 'node-cron';
import { errorMessage } from '../core/errors';
import type { Logger } from '../logging/logger';

/** A background job: a name, a cron schedule and an idempotent run(). */
export interface ScheduledJob {
  name: string;
  schedule: string;
  run(): Promise<unknown>;
}

/** Starts cron jobs; a run still going when the next one is due is not started twice. */
export class JobScheduler {
  private tasks: ScheduledTask[] = [];
  private readonly busy = new Set<string>();

  constructor(private readonly logger: Logger) {}

  start(jobs: ScheduledJob[]): void {
    for (const job of jobs) {
      this.tasks.push(
        cron.schedule(job.schedule, async () => {
          if (this.busy.has(job.name)) return;
          this.busy.add(job.name);
          try {
            await job.run();
          } catch (e) {
            this.logger.error('scheduled job failed', {
              component: 'jobs',
              job: job.name,
              error: errorMessage(e),
            });
          } finally {
            this.busy.delete(job.name);
          }
        }),
      );
    }
  }

  async stop(): Promise<void> {
    for (const t of this.tasks) await t.stop();
    for (const t of this.tasks) await t.destroy();
    this.tasks = [];
  }
}
