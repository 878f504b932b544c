import type { PeeringStore, Transactions } from '../federation/ports';
import type { AsteriskRowRef } from './plan';

export type { AsteriskRowRef };

/**
 * The realtime backend's claim on rows in Asterisk's realtime tables: the
 * rows it treats as its own (changes, and deletes when no peer wants them).
 * Implemented by the Asterisk layer, the one writer of that record.
 */
export interface RealtimeRowClaims {
  claim(rows: AsteriskRowRef[]): Promise<void>;
  release(rows: AsteriskRowRef[]): Promise<void>;
  /** Which of these rows are claimed. */
  claimed(rows: AsteriskRowRef[]): Promise<AsteriskRowRef[]>;
}

/** What adopt works on in the sidecar: its peerings, and the Asterisk side's claims. */
export interface AdoptSidecar {
  peerings: PeeringStore;
  transactions: Transactions;
  claims: RealtimeRowClaims;
  backend: 'files' | 'realtime';
  now(): number;
}
