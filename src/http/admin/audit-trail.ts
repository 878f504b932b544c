import type { DataSource } from 'typeorm';
import { In, LessThan } from 'typeorm';
import type { Clock } from '../../core/clock';
import { isAppError } from '../../core/errors';
import type { Logger } from '../../logging/logger';
import { isDatabaseUnavailable } from '../../store/database-errors';
import { type AuditEvent, AuditEventEntity } from '../../store/entities';
import type { Job } from '../../jobs/job';
import type { Principal } from './admin-auth';
import { queuedWrite } from '../../store/write-queue';

/** Rows one retention statement deletes: small enough that other writes (one write queue on SQLite) wait little. */
export const AUDIT_PRUNE_BATCH = 500;
const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * The audit trail: who did which admin action, when, and how it ended. The
 * admin API's route table and the panel's actions call record() once per
 * action, after it ran and before the answer leaves, so a client that got
 * its answer finds the row. This is the only writer of `audit_events`
 * (inserts, and the retention job's deletes: config admin.auditRetentionDays).
 *
 * What is stored is chosen here, never copied from a request: the actor's
 * name, an action name, a target (an id or a peering name as given) and an
 * error code. Bodies, tokens, passwords and secrets are never recorded.
 */

export type AuditVia = 'api' | 'panel' | 'cli';

export interface AuditRecord {
  /** local: the operating-system user who ran a CLI command on the database directly. */
  actorKind: 'admin' | 'token' | 'local';
  actor: string;
  via: AuditVia;
  action: string;
  target: string | null;
  /** null: the action succeeded; else what it failed with. */
  error: unknown;
}

/** The error code an action failed with, as its answer carries it. */
export function auditErrorCode(e: unknown): string {
  if (isAppError(e)) return e.code;
  if (isDatabaseUnavailable(e)) return 'FED_UNAVAILABLE';
  return 'INTERNAL';
}

export function auditActorOf(p: Principal): Pick<AuditRecord, 'actorKind' | 'actor'> {
  return { actorKind: p.kind === 'token' ? 'token' : 'admin', actor: p.name };
}

export interface AuditEventView {
  id: number;
  at: string;
  actor: string;
  actor_kind: string;
  via: string;
  action: string;
  target: string | null;
  outcome: 'ok' | 'error';
  error_code: string | null;
}

export interface AuditPage {
  events: AuditEventView[];
  /** Pass as `cursor` for the next (older) page; null on the last page. */
  next_cursor: string | null;
}

const clip = (s: string, max: number) => (s.length > max ? `${s.slice(0, max - 1)}…` : s);

export class AuditTrail {
  constructor(
    private readonly db: DataSource,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  /**
   * Stores one action. Never throws: the action already happened, so a
   * failed write is logged (at error level, with what was lost) rather than
   * turned into a failed answer.
   */
  async record(r: AuditRecord): Promise<void> {
    const row: Omit<AuditEvent, 'seq'> = {
      at: this.clock.now(),
      actorKind: r.actorKind,
      actor: clip(r.actor, 64),
      via: r.via,
      action: clip(r.action, 64),
      target: r.target === null ? null : clip(r.target, 255),
      outcome: r.error === null ? 'ok' : 'error',
      errorCode: r.error === null ? null : auditErrorCode(r.error),
    };
    try {
      await queuedWrite(this.db, () => this.db.getRepository(AuditEventEntity).insert(row));
    } catch (e) {
      this.logger.error('audit trail: could not store an admin action', {
        component: 'audit',
        action: row.action,
        actor: row.actor,
        outcome: row.outcome,
        err: e,
      });
    }
  }

  /**
   * Deletes the events older than `before` (epoch ms), oldest first, at most
   * `batch` rows per statement, each in its own turn of the write queue.
   * Returns how many went.
   */
  async prune(before: number, batch = AUDIT_PRUNE_BATCH): Promise<number> {
    const repo = this.db.getRepository(AuditEventEntity);
    let deleted = 0;
    for (;;) {
      // Oldest first along the primary key: `seq` grows with `at`, so the scan stops at the first young row.
      const rows = await repo.find({
        select: { seq: true },
        where: { at: LessThan(before) },
        order: { seq: 'ASC' },
        take: batch,
      });
      if (rows.length === 0) return deleted;
      const seqs = rows.map((r) => r.seq);
      await queuedWrite(this.db, () => repo.delete({ seq: In(seqs) }));
      deleted += seqs.length;
      if (rows.length < batch) return deleted;
    }
  }

  /** The retention job: once a day (and at start), the events older than `days` go. */
  retentionJob(days: number): Job {
    return {
      name: 'audit-retention',
      schedule: { cron: '41 4 * * *' },
      runAtStart: true,
      scope: 'cluster',
      run: async () => {
        const deleted = await this.prune(this.clock.now() - days * DAY_MS);
        if (deleted > 0)
          this.logger.info('audit trail: old events deleted', { component: 'audit', deleted, days });
        return deleted;
      },
    };
  }

  /** Newest first; `cursor` continues after the last event of the previous page. */
  async list(opts: { limit: number; cursor?: string }): Promise<AuditPage> {
    const before = opts.cursor === undefined ? undefined : Number(opts.cursor);
    const rows = await this.db.getRepository(AuditEventEntity).find({
      where: before === undefined ? {} : { seq: LessThan(before) },
      order: { seq: 'DESC' },
      take: opts.limit + 1,
    });
    const page = rows.slice(0, opts.limit);
    const more = rows.length > opts.limit;
    return {
      events: page.map((e) => ({
        id: Number(e.seq),
        at: new Date(e.at).toISOString(),
        actor: e.actor,
        actor_kind: e.actorKind,
        via: e.via,
        action: e.action,
        target: e.target,
        outcome: e.outcome === 'ok' ? 'ok' : 'error',
        error_code: e.errorCode,
      })),
      next_cursor: more && page.length > 0 ? String(page[page.length - 1].seq) : null,
    };
  }
}
