/**
 * An open store transaction. The protocol core never looks inside: it gets
 * one from Transactions.run and hands it back to the store methods that
 * should write in it. A store refuses a transaction another store opened.
 */
export interface StoreTx {
  readonly storeTx: true;
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
