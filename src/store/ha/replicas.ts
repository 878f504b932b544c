import type { DataSource } from 'typeorm';
import type { Clock } from '../../core/clock';
import type { ReplicaRecord } from '../../core/replicas';
import { isDuplicateKey } from '../typeorm/transactions';
import { DbJobLeases } from './job-leases';
import { execute, num, select } from './sql';

/** A replica is live while its last heartbeat is younger than this many beats. */
export const LIVE_BEATS = 3;

/**
 * The `replicas` table (migration 0017): each replica writes its own row (its
 * Asterisk node, version, start time) on every heartbeat and deletes it when
 * it stops; a killed replica's row stays and shows as not live once three
 * beats went by. Read by the status views with the job leases. Shaped like
 * src/core's ReplicaDirectory.
 */
export class DbReplicas {
  readonly self: { replicaId: string; asteriskNode: string | null };
  private readonly startedAt: number;

  constructor(
    private readonly db: DataSource,
    private readonly clock: Clock,
    replicaId: string,
    asteriskNode: string | null,
    private readonly version: string,
    private readonly heartbeatMs: number,
  ) {
    this.self = { replicaId, asteriskNode };
    this.startedAt = clock.now();
  }

  /** Writes this replica's row (a heartbeat). */
  async beat(): Promise<void> {
    const now = this.clock.now();
    const { replicaId, asteriskNode } = this.self;
    const changed = await execute(
      this.db,
      'UPDATE `replicas` SET `asteriskNode` = ?, `version` = ?, `startedAt` = ?, `lastSeenAt` = ? WHERE `replicaId` = ?',
      [asteriskNode, this.version, this.startedAt, now, replicaId],
    );
    if (changed > 0) return;
    try {
      await execute(
        this.db,
        'INSERT INTO `replicas` (`replicaId`, `asteriskNode`, `version`, `startedAt`, `lastSeenAt`) VALUES (?, ?, ?, ?, ?)',
        [replicaId, asteriskNode, this.version, this.startedAt, now],
      );
    } catch (e) {
      // A row written between the two statements (the same name started twice): the next beat updates it.
      if (!isDuplicateKey(e)) throw e;
    }
  }

  /** Takes this replica's row off (a clean stop). */
  async leave(): Promise<void> {
    await execute(this.db, 'DELETE FROM `replicas` WHERE `replicaId` = ?', [this.self.replicaId]);
  }

  async list(): Promise<{
    replicas: ReplicaRecord[];
    leases: Awaited<ReturnType<DbJobLeases['list']>>;
  }> {
    const rows = await select<Record<string, unknown>>(
      this.db,
      'SELECT `replicaId`, `asteriskNode`, `version`, `startedAt`, `lastSeenAt` FROM `replicas` ORDER BY `replicaId`',
      [],
    );
    const liveSince = this.clock.now() - LIVE_BEATS * this.heartbeatMs;
    const replicas = rows.map((r) => ({
      replicaId: String(r.replicaId),
      asteriskNode: r.asteriskNode === null || r.asteriskNode === undefined ? null : String(r.asteriskNode),
      version: String(r.version),
      startedAt: num(r.startedAt),
      lastSeenAt: num(r.lastSeenAt),
      live: num(r.lastSeenAt) >= liveSince,
    }));
    const leases = await new DbJobLeases(this.db, this.clock, this.self.replicaId).list();
    return { replicas, leases };
  }

  /** The Asterisk nodes of the live replicas. */
  liveNodes(): Promise<string[]> {
    return liveNodes(this.db, this.clock, this.heartbeatMs);
  }

  /**
   * Deletes the rows of replicas not seen for `notSeenForMs` (killed, or
   * gone for good) and gives back the leases they held: a node lease is free
   * at once, a job lease's period that was not done is taken over at the next
   * tick (one that was done stays done). Resolves with the replicas purged.
   * A cluster job (`replica-purge`).
   */
  async purgeGone(notSeenForMs: number): Promise<string[]> {
    const now = this.clock.now();
    const before = now - notSeenForMs;
    const rows = await select<{ replicaId: unknown }>(
      this.db,
      'SELECT `replicaId` FROM `replicas` WHERE `lastSeenAt` < ?',
      [before],
    );
    const purged: string[] = [];
    for (const r of rows) {
      const id = String(r.replicaId);
      // A heartbeat that came meanwhile keeps the row (and the leases).
      const gone = await execute(
        this.db,
        'DELETE FROM `replicas` WHERE `replicaId` = ? AND `lastSeenAt` < ?',
        [id, before],
      );
      if (gone !== 1) continue;
      // Holders are marks (holderMark in job-leases.ts): the replica's name cut to 63 characters, '#', 16 hex digits.
      await execute(
        this.db,
        'UPDATE `job_leases` SET `holder` = NULL, `expiresAt` = 0, `updatedAt` = ?' +
          ' WHERE `holder` IS NOT NULL AND LENGTH(`holder`) > 17 AND SUBSTR(`holder`, 1, LENGTH(`holder`) - 17) = ?',
        [now, id.slice(0, 63)],
      );
      purged.push(id);
    }
    return purged;
  }

  /**
   * Deletes the apply states (`peer_node_states`) of Asterisk nodes no
   * replica row names any more and whose states nobody wrote for
   * `notSeenForMs`: a node taken out of service (its replicas gone or moved to
   * another node name). A node whose replicas only stopped cleanly a moment
   * ago keeps its rows (their last write is recent, or they are rewritten by
   * its next reconcile anyway). Resolves with the nodes purged. Part of the
   * `replica-purge` job, after purgeGone.
   */
  async purgeUnboundNodes(notSeenForMs: number): Promise<string[]> {
    const before = this.clock.now() - notSeenForMs;
    const rows = await select<{ node: unknown }>(
      this.db,
      'SELECT `node` FROM `peer_node_states` GROUP BY `node` HAVING MAX(`updatedAt`) < ?',
      [before],
    );
    const purged: string[] = [];
    for (const r of rows) {
      const node = String(r.node);
      // A replica bound to it (listed, live or not, or started since the read above) keeps its rows.
      const gone = await execute(
        this.db,
        'DELETE FROM `peer_node_states` WHERE `node` = ? AND NOT EXISTS (SELECT 1 FROM `replicas` WHERE `asteriskNode` = ?)',
        [node, node],
      );
      if (gone > 0) purged.push(node);
    }
    return purged;
  }
}

/** The Asterisk nodes of the replicas seen within LIVE_BEATS heartbeats. */
export async function liveNodes(db: DataSource, clock: Clock, heartbeatMs: number): Promise<string[]> {
  const rows = await select<{ asteriskNode: unknown }>(
    db,
    'SELECT DISTINCT `asteriskNode` FROM `replicas` WHERE `lastSeenAt` >= ? AND `asteriskNode` IS NOT NULL',
    [clock.now() - LIVE_BEATS * heartbeatMs],
  );
  return rows.map((r) => String(r.asteriskNode));
}
