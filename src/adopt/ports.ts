import type { PeeringStore } from '../federation/ports';
import type { V1Forget, V1Records } from '../federation/v1-import';
import type { AsteriskRowRef } from './plan';

export type { AsteriskRowRef, V1Forget, V1Records };

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

/**
 * The protocol core's import of v1 records another implementation made
 * (src/federation/v1-import.ts), the one writer of the peering tables:
 * adopt decides what, the protocol writes it.
 */
export interface V1RecordImport {
  importAll(records: V1Records): Promise<void>;
  forget(which: V1Forget): Promise<{ peers: string[]; requests: string[] }>;
}

/** What adopt works on in the sidecar: its peerings (read), their import, and the Asterisk side's claims. */
export interface AdoptSidecar {
  peerings: Pick<PeeringStore, 'listPeers' | 'listOutgoing' | 'listIncoming'>;
  imports: V1RecordImport;
  claims: RealtimeRowClaims;
  backend: 'files' | 'realtime';
}
