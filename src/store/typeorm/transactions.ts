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
    const next = this.tail.then(() => this.db.transaction((m) => fn(new TypeormTx(this.db, m))));
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
