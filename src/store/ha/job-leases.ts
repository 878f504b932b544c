import crypto from 'node:crypto';
import type { DataSource } from 'typeorm';
import type { Clock } from '../../core/clock';
import type { LeaseRecord } from '../../core/replicas';
import { isDuplicateKey, retryOnConflict } from '../typeorm/transactions';
import { execute, num, select } from './sql';

/**
 * Job leases in the shared database (`job_leases`, one row per job): a
 * replica runs a cluster job's period only after its UPDATE moved the row to
 * that period. The UPDATE is the decision, so it holds on a Galera cluster
 * too, where GET_LOCK and SELECT ... FOR UPDATE bind only the node that takes
 * them: two replicas writing the row through two nodes conflict, and the
 * loser's statement changes no row (or fails with 1213 and is retried by the
 * node, then finds the period taken). Each win bumps `token` (the fencing
 * token). A run that ends marks its period done; a holder that died (or whose
 * run failed) leaves it to whoever comes after its expiry. Shaped like
 * src/jobs' JobLeases.
 */
export class DbJobLeases {
  private readonly known = new Set<string>();

  constructor(
    private readonly db: DataSource,
    private readonly clock: Clock,
    private readonly holder: string,
  ) {}

  async acquire(
    job: string,
    period: number,
    ttlMs: number,
  ): Promise<{ token: number; release(ok: boolean): Promise<void> } | null> {
    await this.ensureRow(job);
    const now = this.clock.now();
    // A unique mark per attempt, so the read below finds this win and not an earlier one of the same holder.
    const mark = holderMark(this.holder);
    const won = await execute(
      this.db,
      'UPDATE `job_leases` SET `holder` = ?, `token` = `token` + 1, `period` = ?, `expiresAt` = ?, `done` = 0, `updatedAt` = ?' +
        ' WHERE `name` = ? AND (`period` < ? OR (`period` = ? AND `done` = 0 AND `expiresAt` <= ?))',
      [mark, period, now + ttlMs, now, job, period, period, now],
    );
    if (won !== 1) return null;
    const rows = await select<{ token: unknown }>(
      this.db,
      'SELECT `token` FROM `job_leases` WHERE `name` = ? AND `holder` = ?',
      [job, mark],
    );
    if (rows.length === 0) return null;
    const token = num(rows[0].token);
    return {
      token,
      release: async (ok: boolean) => {
        const at = this.clock.now();
        await execute(
          this.db,
          'UPDATE `job_leases` SET `done` = ?, `expiresAt` = ?, `updatedAt` = ? WHERE `name` = ? AND `token` = ?',
          [ok ? 1 : 0, ok ? now + ttlMs : at, at, job, token],
        );
      },
    };
  }

  /** Who holds which lease (the status views). */
  async list(): Promise<LeaseRecord[]> {
    const rows = await select<Record<string, unknown>>(
      this.db,
      'SELECT `name`, `holder`, `token`, `period`, `expiresAt`, `done` FROM `job_leases` ORDER BY `name`',
      [],
    );
    return rows.map((r) => ({
      job: String(r.name),
      holder: holderName(r.holder),
      token: num(r.token),
      period: num(r.period),
      expiresAt: num(r.expiresAt),
      done: num(r.done) === 1,
    }));
  }

  private async ensureRow(job: string): Promise<void> {
    if (this.known.has(job)) return;
    await ensureLeaseRow(this.db, this.clock, job);
    this.known.add(job);
  }
}

/**
 * A lease row (`job_leases`), free, made once: a row already there (made by
 * another replica) is left as it is. Two replicas making it at once through
 * two Galera nodes: the loser's INSERT can fail certification (1213) rather
 * than meet the winner's row as a duplicate key; it is then run again, and
 * finds the row.
 */
export async function ensureLeaseRow(db: DataSource, clock: Clock, name: string): Promise<void> {
  await retryOnConflict(async () => {
    try {
      await execute(
        db,
        'INSERT INTO `job_leases` (`name`, `holder`, `token`, `period`, `expiresAt`, `done`, `updatedAt`) VALUES (?, NULL, 0, -1, 0, 0, ?)',
        [name, clock.now()],
      );
    } catch (e) {
      if (!isDuplicateKey(e)) throw e;
    }
  });
}

/** A holder mark: the replica's name and a random suffix, unique per attempt or per process. */
export function holderMark(replica: string): string {
  return `${replica.slice(0, 63)}#${crypto.randomBytes(8).toString('hex')}`;
}

/** A holder mark's replica name (without the suffix holderMark added). */
export function holderName(holder: unknown): string | null {
  return holder === null || holder === undefined ? null : String(holder).replace(/#[0-9a-f]{16}$/, '');
}
