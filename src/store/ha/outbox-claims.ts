import crypto from 'node:crypto';
import type { DataSource } from 'typeorm';
import type { Clock } from '../../core/clock';
import { execute } from './sql';

/**
 * Claims of outbox items by one replica's delivery worker (columns
 * `claimedBy`, `claimToken`, `claimExpiresAt` of `outbox`, migration 0016):
 * an UPDATE that only a pending, unclaimed (or expired) item lets through, so
 * of two replicas that read the same pending item one sends it. Never SELECT
 * ... FOR UPDATE SKIP LOCKED: on Galera it skips only rows locked on the same
 * node. A claim expires after `claimMs` (a replica that died mid-delivery), so
 * a partner may in that case get an item twice; the protocol's answers are
 * idempotent for that (an accept already applied answers as delivered).
 * Shaped like src/federation/ports' OutboxClaims.
 */
export class DbOutboxClaims {
  constructor(
    private readonly db: DataSource,
    private readonly clock: Clock,
    private readonly holder: string,
    private readonly claimMs: number,
  ) {}

  async claim(id: string, opts: { evenIfNotDue?: boolean } = {}): Promise<string | null> {
    const now = this.clock.now();
    const token = crypto.randomUUID();
    const won = await execute(
      this.db,
      "UPDATE `outbox` SET `claimedBy` = ?, `claimToken` = ?, `claimExpiresAt` = ? WHERE `id` = ? AND `state` = 'pending'" +
        ' AND (`claimExpiresAt` IS NULL OR `claimExpiresAt` <= ?)' +
        (opts.evenIfNotDue ? '' : ' AND `nextAttemptAt` <= ?'),
      [this.holder, token, now + this.claimMs, id, now, ...(opts.evenIfNotDue ? [] : [now])],
    );
    return won === 1 ? token : null;
  }

  /**
   * Gives back the claims this replica's name still holds, at its start: they
   * are from its previous life (killed mid-delivery), so the items are sent
   * again at once instead of after `claimMs`. Only a replica with a name of
   * its own (ha.replicaId) finds any: the default name has the process id in
   * it. Resolves with the number of claims given back.
   */
  async releaseOwn(): Promise<number> {
    return execute(
      this.db,
      'UPDATE `outbox` SET `claimedBy` = NULL, `claimToken` = NULL, `claimExpiresAt` = NULL WHERE `claimedBy` = ?',
      [this.holder],
    );
  }

  async release(id: string, token: string): Promise<void> {
    await execute(
      this.db,
      'UPDATE `outbox` SET `claimedBy` = NULL, `claimToken` = NULL, `claimExpiresAt` = NULL WHERE `id` = ? AND `claimToken` = ?',
      [id, token],
    );
  }
}
