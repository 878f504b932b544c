import crypto from 'node:crypto';
import type { DataSource } from 'typeorm';
import type { Clock } from '../../core/clock';
import type { AsteriskNodeLease } from '../../core/replicas';
import { ensureLeaseRow, holderMark, holderName } from './job-leases';
import { execute, num, select } from './sql';

/** The `job_leases` row of an Asterisk node's lease: `node:` and the node's name (a long name shortened by a digest). */
export function nodeLeaseName(node: string): string {
  const name = `node:${node}`;
  if (name.length <= 100) return name;
  const digest = crypto.createHash('sha256').update(node).digest('hex').slice(0, 16);
  return `node:${node.slice(0, 78)}~${digest}`;
}

/**
 * The lease of one Asterisk node (src/core's AsteriskNodeLease), a row of
 * `job_leases` named by nodeLeaseName: of the replicas bound to that node
 * only the holder reconciles it. Each replica calls tick() once a heartbeat:
 * the holder renews (an UPDATE on its own holder mark and token), the others
 * try to take it, which an UPDATE only does once the holder let it expire
 * (`ttlMs` after its last renewal) or gave it back. As with the job leases,
 * the UPDATE decides (on Galera too: two takers through two nodes conflict
 * and one changes no row); each take bumps `token`. The holder believes it
 * holds the lease one heartbeat less than the row says, so that a holder
 * whose renewals stall has stopped applying before another replica may take
 * the node over. A replica names itself by a mark of its own per process
 * (replica name and a random suffix), so a replica restarted under the same
 * name waits for its former self's lease to expire like any other.
 */
export class DbNodeLease implements AsteriskNodeLease {
  readonly name: string;
  private readonly mark: string;
  private token: number | null = null;
  /** Until when (this clock) this replica counts the lease as its own. */
  private until = 0;
  private lastHolder: string | null = null;
  private rowMade = false;
  private readonly listeners = new Set<() => void>();

  constructor(
    private readonly db: DataSource,
    private readonly clock: Clock,
    replica: string,
    readonly node: string,
    private readonly ttlMs: number,
    /** How much earlier than the row's expiry this replica stops counting the lease as its own. */
    private readonly marginMs: number,
  ) {
    this.name = nodeLeaseName(node);
    this.mark = holderMark(replica);
  }

  held(): boolean {
    return this.token !== null && this.clock.now() < this.until;
  }

  holder(): string | null {
    return this.lastHolder;
  }

  onGained(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Renews the lease, or takes it when free or expired. Resolves with whether this replica holds it. */
  async tick(): Promise<boolean> {
    await this.ensureRow();
    const now = this.clock.now();
    const wasHeld = this.held();
    if (this.token !== null) {
      const renewed = await execute(
        this.db,
        'UPDATE `job_leases` SET `expiresAt` = ?, `updatedAt` = ? WHERE `name` = ? AND `holder` = ? AND `token` = ?',
        [now + this.ttlMs, now, this.name, this.mark, this.token],
      );
      if (renewed === 1) return this.holding(now, wasHeld);
      this.token = null;
    }
    const won = await execute(
      this.db,
      'UPDATE `job_leases` SET `holder` = ?, `token` = `token` + 1, `period` = -1, `done` = 0, `expiresAt` = ?, `updatedAt` = ?' +
        ' WHERE `name` = ? AND (`holder` IS NULL OR `expiresAt` <= ?)',
      [this.mark, now + this.ttlMs, now, this.name, now],
    );
    const rows = await select<{ holder: unknown; token: unknown }>(
      this.db,
      'SELECT `holder`, `token` FROM `job_leases` WHERE `name` = ?',
      [this.name],
    );
    const row = rows[0];
    this.lastHolder = holderName(row?.holder);
    if (won === 1 && row && row.holder === this.mark) {
      this.token = num(row.token);
      return this.holding(now, false);
    }
    this.until = 0;
    return false;
  }

  /** Gives the lease back (a clean stop): another replica of the node takes it at its next tick. */
  async release(): Promise<void> {
    const token = this.token;
    this.token = null;
    this.until = 0;
    if (token === null) return;
    await execute(
      this.db,
      'UPDATE `job_leases` SET `holder` = NULL, `expiresAt` = 0, `updatedAt` = ? WHERE `name` = ? AND `holder` = ? AND `token` = ?',
      [this.clock.now(), this.name, this.mark, token],
    );
  }

  private holding(since: number, wasHeld: boolean): boolean {
    this.until = since + this.ttlMs - this.marginMs;
    this.lastHolder = holderName(this.mark);
    if (!wasHeld)
      for (const l of this.listeners) {
        try {
          l();
        } catch {
          // A listener's failure is its own; the lease stands.
        }
      }
    return true;
  }

  private async ensureRow(): Promise<void> {
    if (this.rowMade) return;
    await ensureLeaseRow(this.db, this.clock, this.name);
    this.rowMade = true;
  }
}
