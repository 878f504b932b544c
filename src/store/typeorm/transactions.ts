import type { DataSource, EntityManager } from 'typeorm';
import { QueryFailedError } from 'typeorm';

/**
 * An open transaction as the protocol core sees it: a token with the same
 * shape as src/federation/ports' StoreTx (the store does not import the
 * layer above; the composition checks the shapes match).
 */
export interface StoreTxToken {
  readonly storeTx: true;
}

class TypeormTx implements StoreTxToken {
  readonly storeTx = true as const;
  constructor(
    readonly db: DataSource,
    readonly manager: EntityManager,
  ) {}
}

/** The manager to run a statement with: the transaction's when given, else the data source's. */
export function managerOf(db: DataSource, tx?: StoreTxToken): EntityManager {
  if (!tx) return db.manager;
  if (tx instanceof TypeormTx && tx.db === db) return tx.manager;
  throw new Error('a transaction opened by another store was passed to this one');
}

/**
 * Runs transactions one after another. SQLite has a single connection in
 * TypeORM, so two interleaved transactions would silently nest as savepoints
 * and could roll each other back; queueing them is cheap because no
 * transaction of the protocol waits on the network.
 */
export class TypeormTransactions {
  private tail: Promise<unknown> = Promise.resolve();

  constructor(private readonly db: DataSource) {}

  run<T>(fn: (tx: StoreTxToken) => Promise<T>): Promise<T> {
    const next = this.tail.then(() =>
      retryOnConflict(() => this.db.transaction((m) => fn(new TypeormTx(this.db, m)))),
    );
    this.tail = next.catch(() => undefined);
    return next;
  }
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
