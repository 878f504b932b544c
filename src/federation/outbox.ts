import crypto from 'node:crypto';
import type { Clock } from '../core/clock';
import type { PartnerCall } from './partner-call';
import type { OutboxItem, OutboxKind, OutboxStore } from './ports/outbox-store';
import type { StoreTx } from './ports/transactions';

/**
 * What an item's expires_at holds since items are no longer given up (issue
 * 14): the largest time a Date can hold, so an older version reading the
 * table after a downgrade does not give them up either. Nothing reads it.
 */
export const NO_DEADLINE = 8.64e15;

/**
 * The persistent outbox: a notification is written in the same transaction as
 * the state change it reports, so it cannot be lost between the two; the
 * delivery worker sends it later.
 */
export class Outbox {
  constructor(
    private readonly deps: {
      store: OutboxStore;
      clock: Clock;
      onEnqueued?: () => void;
      /** Sends one committed item at once (the delivery worker's sendNow); without it, sendNow kicks. */
      onSendNow?: (item: OutboxItem) => void;
    },
  ) {}

  /** Adds a notification inside the caller's transaction. */
  async enqueue(
    tx: StoreTx,
    p: { kind: OutboxKind; call: PartnerCall; peerName: string | null; requestId: string | null },
  ): Promise<OutboxItem> {
    const now = this.deps.clock.now();
    const item: OutboxItem = {
      id: crypto.randomUUID(),
      kind: p.kind,
      dialect: p.call.dialect,
      peerName: p.peerName,
      requestId: p.requestId,
      method: p.call.method,
      url: p.call.url,
      body: p.call.body,
      state: 'pending',
      attempts: 0,
      nextAttemptAt: now,
      expiresAt: NO_DEADLINE,
      lastError: null,
      createdAt: now,
      updatedAt: now,
    };
    await this.deps.store.insert(item, tx);
    return item;
  }

  /** Wakes the delivery worker after the enqueuing transaction committed. */
  kick(): void {
    this.deps.onEnqueued?.();
  }

  /**
   * After the enqueuing transaction committed: sends this item right away
   * (see DeliveryWorker.sendNow), for a notification the partner acts on at
   * once (an accept: it applies the trunk as soon as it stores the peer).
   */
  sendNow(item: OutboxItem): void {
    if (this.deps.onSendNow) this.deps.onSendNow(item);
    else this.kick();
  }

  /** Pending notifications per request_id, with the newest error among them. */
  async pendingByRequest(
    requestIds: string[],
  ): Promise<Map<string, { count: number; lastError: string | null }>> {
    const out = new Map<string, { count: number; lastError: string | null }>();
    if (requestIds.length === 0) return out;
    const rows = await this.deps.store.listPending({ requestIds });
    for (const r of rows) {
      const key = r.requestId ?? '';
      const prev = out.get(key) ?? { count: 0, lastError: null };
      out.set(key, { count: prev.count + 1, lastError: r.lastError ?? prev.lastError });
    }
    return out;
  }

  /** Pending notifications (oldest first), then up to `failedLimit` given-up ones (newest first). */
  async list(filter: { state?: 'pending' | 'failed'; failedLimit: number }): Promise<OutboxItem[]> {
    const { store } = this.deps;
    const pending = filter.state === 'failed' ? [] : await store.listPending();
    const failed = filter.state === 'pending' ? [] : await store.listFailed(filter.failedLimit);
    return [...pending, ...failed];
  }

  async pendingCount(): Promise<number> {
    return this.deps.store.countPending();
  }

  /** The newest notification of a kind for a request (any state), e.g. to resend a lost accept. */
  async latest(requestId: string, kind: OutboxKind): Promise<OutboxItem | null> {
    return this.deps.store.latest(requestId, kind);
  }

  /** Replaces an item's error text, e.g. to say what its final failure led to. */
  async setLastError(tx: StoreTx, id: string, lastError: string): Promise<void> {
    await this.deps.store.update(id, { lastError, updatedAt: this.deps.clock.now() }, tx);
  }

  /** Drops pending notifications made pointless by the partner (e.g. it tore the peering down). */
  async cancelPending(tx: StoreTx, requestId: string, reason: string): Promise<void> {
    await this.deps.store.updatePending(
      { state: 'failed', lastError: reason, updatedAt: this.deps.clock.now() },
      { requestId },
      tx,
    );
  }
}
