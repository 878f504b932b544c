import type { DataSource, EntityManager } from 'typeorm';

/**
 * Runs this layer's transactions one after another. SQLite has a single
 * connection in TypeORM, so two interleaved transactions would silently nest
 * as savepoints and could roll each other back; queueing them is cheap because
 * no transaction here waits on the network.
 */
export class SerialTransactions {
  private tail: Promise<unknown> = Promise.resolve();

  constructor(private readonly db: DataSource) {}

  run<T>(fn: (m: EntityManager) => Promise<T>): Promise<T> {
    const next = this.tail.then(() => this.db.transaction(fn));
    this.tail = next.catch(() => undefined);
    return next;
  }
}
