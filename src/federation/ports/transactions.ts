/**
 * An open store transaction. The protocol core never looks inside: it gets
 * one from Transactions.run and hands it back to the store methods that
 * should write in it. A store refuses a transaction another store opened.
 */
export interface StoreTx {
  readonly storeTx: true;
  /**
   * Runs `fn` once the transaction has ended, right after its commit or its
   * rollback (`committed` says which), before run() returns. For what a
   * writer must do only when its rows are final, e.g. drop a cache a reader
   * could have filled between the statement and the commit.
   */
  afterEnd(fn: (committed: boolean) => void): void;
}

/**
 * Runs the protocol's transactions. Everything written with the given tx
 * commits together or not at all (a throw rolls it back). Implementations run
 * them one after another: no transaction here waits on the network, and on
 * SQLite two interleaved ones would share the single connection.
 */
export interface Transactions {
  run<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T>;
}
