import { AsyncLocalStorage } from 'node:async_hooks';
import type { DataSource, EntityManager } from 'typeorm';
import { QueryFailedError } from 'typeorm';
import { type Fence, FencedOut, currentFence } from '../../core/fence';

/**
 * An open transaction as the protocol core sees it: a token with the same
 * shape as src/federation/ports' StoreTx (the store does not import the
 * layer above; the composition checks the shapes match).
 */
export interface StoreTxToken {
  readonly storeTx: true;
  afterEnd(fn: (committed: boolean) => void): void;
}

class TypeormTx implements StoreTxToken {
  readonly storeTx = true as const;
  private ends: ((committed: boolean) => void)[] = [];
  constructor(
    readonly db: DataSource,
    readonly manager: EntityManager,
  ) {}

  afterEnd(fn: (committed: boolean) => void): void {
    this.ends.push(fn);
  }

  /** Called once the transaction committed or rolled back: runs the hooks (a throwing one does not stop the rest). */
  ended(committed: boolean): void {
    const ends = this.ends;
    this.ends = [];
    for (const fn of ends) {
      try {
        fn(committed);
      } catch {
        // A hook only drops caches; the transaction's outcome stands.
      }
    }
  }
}

/** The manager to run a statement with: the transaction's when given, else the data source's. */
export function managerOf(db: DataSource, tx?: StoreTxToken): EntityManager {
  if (!tx) return db.manager;
  if (tx instanceof TypeormTx && tx.db === db) return tx.manager;
  throw new Error('a transaction opened by another store was passed to this one');
}

/**
 * One queue per data source for its transactions and, on SQLite, for its
 * writes made without a transaction. SQLite has a single connection in
 * TypeORM: a statement issued while a transaction sits at an await runs
 * inside that transaction and is rolled back with it (a nonce reserved then
 * vanished, and the signed request could be replayed). So on SQLite a plain
 * write waits its turn behind open transactions; on MariaDB (a pool) it runs
 * at once. Code already running in a queued unit (a transaction body, or a
 * plain write) that calls a store without its tx runs directly, as before,
 * instead of waiting for itself.
 */
class WriteQueue {
  private tail: Promise<unknown> = Promise.resolve();
  private readonly inside = new AsyncLocalStorage<{ open: boolean }>();

  /** True while the caller runs inside a unit this queue let through. */
  holds(): boolean {
    return this.inside.getStore()?.open === true;
  }

  enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(async () => {
      const unit = { open: true };
      try {
        return await this.inside.run(unit, fn);
      } finally {
        unit.open = false;
      }
    });
    this.tail = next.catch(() => undefined);
    return next;
  }
}

const queues = new WeakMap<DataSource, WriteQueue>();

function queueOf(db: DataSource): WriteQueue {
  let q = queues.get(db);
  if (!q) {
    q = new WriteQueue();
    queues.set(db, q);
  }
  return q;
}

/** True for a data source on a single shared connection (SQLite through better-sqlite3). */
function sharesOneConnection(db: DataSource): boolean {
  return db.options.type === 'better-sqlite3';
}

/**
 * Runs a write (one or more statements) made with `tx` when given; without
 * it, on SQLite, after every transaction queued before it has ended and
 * before any queued after it opens, so it never lands inside someone else's
 * transaction. Every store write without a tx goes through here.
 */
export function exclusive<T>(db: DataSource, tx: StoreTxToken | undefined, fn: () => Promise<T>): Promise<T> {
  if (tx || !sharesOneConnection(db)) return fn();
  const q = queueOf(db);
  return q.holds() ? fn() : q.enqueue(fn);
}

/** True while the caller runs inside a unit of the data source's write queue (a transaction body, a queued write). */
export function insideQueuedUnit(db: DataSource): boolean {
  return queues.get(db)?.holds() === true;
}

/**
 * Runs transactions one after another (one queue per data source, shared
 * with exclusive()). SQLite has a single connection in TypeORM, so two
 * interleaved transactions would silently nest as savepoints and could roll
 * each other back; queueing them is cheap because no transaction of the
 * protocol waits on the network.
 */
export class TypeormTransactions {
  constructor(private readonly db: DataSource) {}

  run<T>(fn: (tx: StoreTxToken) => Promise<T>): Promise<T> {
    return queueOf(this.db).enqueue(() =>
      retryOnConflict(async () => {
        let tx: TypeormTx | undefined;
        let committed = false;
        try {
          const fence = currentFence();
          const result = await this.db.transaction(async (m) => {
            if (fence) await holdFence(m, fence);
            return fn((tx = new TypeormTx(this.db, m)));
          });
          committed = true;
          return result;
        } finally {
          tx?.ended(committed);
        }
      }),
    );
  }
}

/**
 * The fence check of a leased job run's transaction (src/core/fence.ts): an
 * UPDATE of the lease row that only matches while the row holds the run's
 * token, made first in the transaction. It changes the row (`updatedAt`
 * moves on, at least by 1), so the row is part of the transaction's writes:
 * on one MariaDB a takeover waits for the row lock until this transaction
 * ended; on Galera a takeover committed through another node makes this
 * transaction lose certification (1213, run again whole by retryOnConflict),
 * and the rerun finds the token moved on. No row matched: FencedOut, the
 * transaction is rolled back before it wrote anything.
 */
async function holdFence(m: EntityManager, fence: Fence): Promise<void> {
  const qr = m.queryRunner;
  if (!qr) throw new Error('a transaction without its query runner');
  const now = Date.now();
  const r = await qr.query(
    'UPDATE `job_leases` SET `updatedAt` = CASE WHEN `updatedAt` < ? THEN ? ELSE `updatedAt` + 1 END' +
      ' WHERE `name` = ? AND `token` = ?',
    [now, now, fence.lease, fence.token],
    true,
  );
  if ((r.affected ?? 0) !== 1) throw new FencedOut(fence);
}

/** True when the database refused a row because a unique or primary key already holds its value. */
export function isDuplicateKey(e: unknown): boolean {
  if (!(e instanceof QueryFailedError)) return false;
  const d = e.driverError as { code?: unknown; errno?: unknown } | undefined;
  const code = typeof d?.code === 'string' ? d.code : '';
  return code === 'ER_DUP_ENTRY' || d?.errno === 1062 || code.startsWith('SQLITE_CONSTRAINT');
}

/** True for MariaDB's 1213 (ER_LOCK_DEADLOCK): a deadlock, or on Galera a write that lost certification to another node's. */
export function isWriteConflict(e: unknown): boolean {
  const d = e instanceof QueryFailedError ? (e.driverError as { code?: unknown; errno?: unknown }) : e;
  if (typeof d !== 'object' || d === null) return false;
  const { code, errno } = d as { code?: unknown; errno?: unknown };
  return errno === 1213 || code === 'ER_LOCK_DEADLOCK';
}

/** Attempts of one transaction that keeps losing to conflicting writes, before its error is thrown. */
export const CONFLICT_ATTEMPTS = 5;

/**
 * Runs a whole transaction again when it failed with 1213: the database rolled
 * all of it back (at COMMIT, or on the statement running when a Galera node
 * applied a conflicting write), so the only correct retry is from the start.
 * The protocol's transactions wait on no network, so a rerun repeats nothing
 * outside the database. Short random pauses (5-50 ms, growing) let the winner
 * finish first.
 */
export async function retryOnConflict<T>(
  run: () => Promise<T>,
  opts: { attempts?: number; onRetry?: (attempt: number) => void } = {},
): Promise<T> {
  const attempts = opts.attempts ?? CONFLICT_ATTEMPTS;
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (e) {
      if (!isWriteConflict(e) || attempt >= attempts) throw e;
      opts.onRetry?.(attempt);
      await new Promise((r) => setTimeout(r, Math.min(50, 5 * attempt) * (0.5 + Math.random() / 2)));
    }
  }
}
