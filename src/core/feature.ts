import type { DataSource } from 'typeorm';
import type { Config } from '../config/schema';
import type { JobRunner } from '../jobs/job-runner';
import type { Logger } from '../logging/logger';
import type { Clock } from './clock';
import type { Metrics } from './metrics';
import type { Notifier } from './notifications';

/**
 * The shapes every feature and the composition root (src/app.ts) share. They
 * live here, not in app.ts, so a feature imports them without importing the
 * root that imports the feature (a type cycle the boundary check forbids).
 * The database handle is carried through by type only: core opens nothing.
 */

/** What the service layers get once the database is open. */
export interface ServiceContext {
  config: Config;
  db: DataSource;
  clock: Clock;
  logger: Logger;
  fetch: typeof fetch;
  metrics: Metrics;
  /** Where layers tell a change once (src/notify); absent when a test builds a feature alone: nothing is told. */
  notifier?: Notifier;
  /**
   * Where features add their background jobs; the app starts it before the
   * features and stops it after them. Absent when a test builds one feature
   * on its own: the feature then runs its jobs itself (see runnerFor).
   */
  jobs?: JobRunner;
}

/**
 * A started feature: a name and a way to start and stop its background
 * work. Routes a feature adds to the listeners are typed in
 * src/http/http-feature.ts, so this contract knows nothing about express.
 */
export interface Feature {
  name: string;
  start?(): Promise<void>;
  stop?(): Promise<void>;
}
