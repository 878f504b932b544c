import type { OutboxItem, OutboxKind } from '../../core/records';
import type { StoreTx } from './transactions';

export type { OutboxItem, OutboxKind };

export type OutboxPatch = Partial<
  Pick<OutboxItem, 'state' | 'attempts' | 'nextAttemptAt' | 'lastError' | 'updatedAt'>
>;

/**
 * The outbox table: notifications to partners, written in the transaction of
 * the change they report and sent later by the delivery worker.
 */
export interface OutboxStore {
  insert(item: OutboxItem, tx?: StoreTx): Promise<void>;
  /** Pending items, oldest first (created_at, then id); only those of the given requests when asked. */
  listPending(filter?: { requestIds?: string[] }): Promise<OutboxItem[]>;
  /** Given-up items, most recently updated first, at most limit. */
  listFailed(limit: number): Promise<OutboxItem[]>;
  countPending(): Promise<number>;
  /** The newest item of a kind for a request, any state. */
  latest(requestId: string, kind: OutboxKind): Promise<OutboxItem | null>;
  /** One item by id, any state. */
  get(id: string): Promise<OutboxItem | null>;
  update(id: string, patch: OutboxPatch, tx?: StoreTx): Promise<void>;
  /** Patches every pending item of a request, or the one item of an id (all pending items without either); returns how many. */
  updatePending(
    patch: OutboxPatch,
    filter?: { requestId?: string; id?: string },
    tx?: StoreTx,
  ): Promise<number>;
}

/**
 * Replicas: which delivery worker sends an item. A claim is won by a row
 * update (src/store/ha/outbox-claims.ts); a single sidecar has none.
 */
export interface OutboxClaims {
  /**
   * The claim's token when this replica may send the pending item now; null when another holds it, it is
   * no longer pending or (unless evenIfNotDue, for an admin's purge) its next attempt is still ahead.
   */
  claim(id: string, opts?: { evenIfNotDue?: boolean }): Promise<string | null>;
  /** Gives the item up after its attempt was recorded. */
  release(id: string, token: string): Promise<void>;
}
