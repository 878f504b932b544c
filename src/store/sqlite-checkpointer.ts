import { Worker } from 'node:worker_threads';
import type BetterSqlite3 from 'better-sqlite3';
import type { DataSource } from 'typeorm';
import { sqliteConnection } from './typeorm/prepared-sql';

/** How often the worker copies the WAL into the database file. */
const CHECKPOINT_EVERY_MS = 1000;
/** SQLite's own automatic checkpoint (pages), restored when the worker goes. */
const SQLITE_DEFAULT_AUTOCHECKPOINT = 1000;

/** When the worker runs: the connection's write rate, sampled on a timer. */
export interface CheckpointerTiming {
  /** How often the connection's count of changed rows is read (one `SELECT total_changes()`). */
  sampleEveryMs: number;
  /** Rows changed per second from which a sample counts as busy. */
  busyRowsPerSecond: number;
  /** Busy samples in a row that start the worker. */
  busySamples: number;
  /** Samples below the mark in a row that stop it again. */
  quietSamples: number;
}

/** What the checkpointer reports: a failed checkpoint (or worker), and the worker starting and stopping. */
export interface CheckpointerEvents {
  error(message: string): void;
  running?(running: boolean): void;
}

/**
 * 50 rows a second (a signed request's nonce is one row of three pages) fills
 * SQLite's 1,000-page mark every 7 s or sooner. Two seconds of that in a row
 * (four samples) start the worker: a steady load (signed requests) goes on
 * longer, while a burst (an apply of every peer at start: 1,000 rows in well
 * under a second) is over before. A minute under the mark stops it.
 */
const DEFAULT_TIMING: CheckpointerTiming = {
  sampleEveryMs: 500,
  busyRowsPerSecond: 50,
  busySamples: 4,
  quietSamples: 120,
};

/**
 * The worker's code: its own connection to the same file, a PASSIVE checkpoint
 * on each tick (it never waits for the writer nor holds it up: it copies what
 * the readers allow and syncs, then returns).
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true });
db.pragma('busy_timeout = 0');
const timer = setInterval(() => {
  try { db.pragma('wal_checkpoint(PASSIVE)'); } catch (e) { parentPort.postMessage(String(e && e.message)); }
}, workerData.everyMs);
parentPort.on('message', () => { clearInterval(timer); db.close(); parentPort.close(); });
`;

/**
 * WAL checkpoints off the event loop while the database is written to
 * steadily (SQLite only). SQLite copies the WAL into the database file inside
 * the commit that crosses `wal_autocheckpoint` pages, and syncs both files
 * there: on the event loop, one request's nonce insert took 15-45 ms every few
 * hundred commits on the loaded bench machine (docs/performance-decisions.md).
 * While the connection TypeORM uses changes rows at a steady rate, it no
 * longer checkpoints; a worker thread with its own connection to the file
 * does, every second. Durability is SQLite's own: the same checkpoint with the
 * same syncs, only on another thread. If the worker fails, the connection
 * checkpoints by itself again.
 *
 * The worker is a second V8 isolate (about 10 MB of RSS), so it runs only
 * while the write rate is steady (see CheckpointerTiming): a sidecar at rest,
 * or one that writes a burst now and then (an apply of every peer), pays one
 * checkpoint on the loop now and then instead, as SQLite does by default.
 */
export class SqliteCheckpointer {
  private worker: Worker | null = null;
  private readonly timer: NodeJS.Timeout;
  private readonly changedRows: BetterSqlite3.Statement<[], number>;
  private lastChanged: number;
  private busy = 0;
  private quiet = 0;
  /** A worker failed: the connection keeps its own checkpoints from then on (the failure was reported). */
  private failed = false;

  private constructor(
    private readonly connection: BetterSqlite3.Database,
    private readonly events: CheckpointerEvents,
    private readonly timing: CheckpointerTiming,
  ) {
    this.changedRows = connection.prepare<[], number>('SELECT total_changes()').pluck();
    this.lastChanged = this.changedRows.get() ?? 0;
    this.timer = setInterval(() => this.sample(), timing.sampleEveryMs);
    this.timer.unref();
  }

  /** Starts watching a SQLite file database's write rate; null for anything else (MariaDB, `:memory:`). */
  static start(
    db: DataSource,
    events: CheckpointerEvents,
    timing: Partial<CheckpointerTiming> = {},
  ): SqliteCheckpointer | null {
    const connection = sqliteConnection(db);
    if (!connection || connection.memory) return null;
    return new SqliteCheckpointer(connection, events, { ...DEFAULT_TIMING, ...timing });
  }

  /** Whether the worker thread is running now. */
  get workerRunning(): boolean {
    return this.worker !== null;
  }

  private sample(): void {
    if (!this.connection.open) return;
    const changed = this.changedRows.get() ?? 0;
    const perSecond = ((changed - this.lastChanged) * 1000) / this.timing.sampleEveryMs;
    this.lastChanged = changed;
    if (perSecond >= this.timing.busyRowsPerSecond) {
      this.busy++;
      this.quiet = 0;
    } else {
      this.quiet++;
      this.busy = 0;
    }
    if (!this.worker && !this.failed && this.busy >= this.timing.busySamples) this.startWorker();
    else if (this.worker && this.quiet >= this.timing.quietSamples) void this.stopWorker();
  }

  private restore(): void {
    if (this.connection.open) this.connection.pragma(`wal_autocheckpoint = ${SQLITE_DEFAULT_AUTOCHECKPOINT}`);
  }

  private startWorker(): void {
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        driver: require.resolve('better-sqlite3'),
        file: this.connection.name,
        everyMs: CHECKPOINT_EVERY_MS,
      },
      resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 2 },
      // Plain JavaScript: none of the parent's node options (a loader such as ts-node, which the harness's
      // source entry preloads, does not fit in the worker's 16 MB heap: it died at start).
      execArgv: [],
    });
    worker.on('message', (m: unknown) => this.events.error(String(m)));
    worker.on('error', (e: Error) => {
      this.failed = true;
      this.events.error(e.message);
    });
    // However the worker ends (a failure, a stop), the connection checkpoints by itself again.
    worker.on('exit', () => {
      if (this.worker === worker) {
        this.worker = null;
        this.events.running?.(false);
      }
      if (this.worker === null) this.restore();
    });
    worker.unref();
    this.worker = worker;
    this.connection.pragma('wal_autocheckpoint = 0');
    this.events.running?.(true);
  }

  private async stopWorker(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    this.worker = null;
    this.restore();
    this.events.running?.(false);
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.postMessage('stop');
    await Promise.race([exited, new Promise<void>((r) => setTimeout(r, 2000).unref())]);
    await worker.terminate();
  }

  /** Stops watching and the worker if it runs (its connection closed); checkpoints are the connection's again. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.stopWorker();
  }
}
