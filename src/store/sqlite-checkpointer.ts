import { Worker } from 'node:worker_threads';
import type { DataSource } from 'typeorm';
import { sqliteConnection } from './typeorm/prepared-sql';

/** How often the worker copies the WAL into the database file. */
const CHECKPOINT_EVERY_MS = 1000;
/** SQLite's own automatic checkpoint (pages), restored when the worker goes. */
const SQLITE_DEFAULT_AUTOCHECKPOINT = 1000;

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
 * WAL checkpoints off the event loop (SQLite only). SQLite copies the WAL
 * into the database file inside the commit that crosses
 * `wal_autocheckpoint` pages, and syncs both files there: on the event loop,
 * one request's nonce insert took 15-45 ms every few hundred commits on the
 * loaded bench machine (docs/performance-decisions.md). Here the
 * connection TypeORM uses no longer checkpoints; a worker thread with its own
 * connection to the file does, every second. Durability is SQLite's own: the
 * same checkpoint with the same syncs, only on another thread. If the worker
 * fails, the connection checkpoints by itself again.
 */
export class SqliteCheckpointer {
  private constructor(
    private readonly worker: Worker,
    private readonly restore: () => void,
  ) {}

  /** Starts it for a SQLite file database; null for anything else (MariaDB, `:memory:`). */
  static start(db: DataSource, onError: (message: string) => void): SqliteCheckpointer | null {
    const connection = sqliteConnection(db);
    if (!connection || connection.memory) return null;
    const restore = () => {
      if (connection.open) connection.pragma(`wal_autocheckpoint = ${SQLITE_DEFAULT_AUTOCHECKPOINT}`);
    };
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        driver: require.resolve('better-sqlite3'),
        file: connection.name,
        everyMs: CHECKPOINT_EVERY_MS,
      },
      resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 2 },
    });
    worker.on('message', (m: unknown) => onError(String(m)));
    worker.on('error', (e: Error) => onError(e.message));
    // However the worker ends (a failure, a stop), the connection checkpoints by itself again.
    worker.on('exit', restore);
    worker.unref();
    connection.pragma('wal_autocheckpoint = 0');
    return new SqliteCheckpointer(worker, restore);
  }

  /** Stops the worker (its connection closed) and hands checkpoints back to the connection. */
  async stop(): Promise<void> {
    this.restore();
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    this.worker.postMessage('stop');
    await Promise.race([exited, new Promise<void>((r) => setTimeout(r, 2000).unref())]);
    await this.worker.terminate();
  }
}
