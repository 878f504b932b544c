import type { Clock } from '../core/clock';
import { errorMessage } from '../core/errors';
import type { Logger } from '../logging/logger';
import type { PartnerCall } from './partner-call';
import { authorityOf } from './partner-call';
import type { PartnerHealth, PartnerHealthStore } from './ports/partner-health-store';
import { type AnswerClass, backoffDelay, classifyAnswer, type RetryPolicy } from './retry-policy';

const DAY_MS = 24 * 3600 * 1000;
/**
 * A verified inbound request, and a successful answer of a partner already
 * healthy, are written at most this often per partner (the signed path and
 * calls to a partner stay cheap).
 */
const INBOUND_WRITE_EVERY_MS = 60_000;

/**
 * True when `next` (the row after a successful answer) differs from `row`
 * only in its last success and update time, and the stored last success is
 * less than INBOUND_WRITE_EVERY_MS old: nothing an admin or the outbox acts on
 * changed, so it need not be written.
 */
function unchangedBut(row: PartnerHealth, next: PartnerHealth, now: number): boolean {
  if (row.lastSuccessAt === null || now - row.lastSuccessAt >= INBOUND_WRITE_EVERY_MS) return false;
  if (row.lastSuccessAt > now) return false;
  const { lastSuccessAt: _a, updatedAt: _b, ...rest } = row;
  const { lastSuccessAt: _c, updatedAt: _d, ...restNext } = next;
  return (Object.keys(rest) as (keyof typeof rest)[]).every((k) => rest[k] === restNext[k]);
}

/** A partner's HTTP answer (partner-transport.ts's PartnerAnswer, by shape). */
interface PartnerAnswer {
  status: number;
  json: unknown;
}

/** What one outbound call to a partner showed. */
export type CallResult = { answered: number } | { transient: string };

function freshRow(serverName: string, now: number): PartnerHealth {
  return {
    serverName: serverName.toLowerCase(),
    consecutiveFailures: 0,
    failingSince: null,
    nextAttemptAt: null,
    lastSuccessAt: null,
    lastFailureAt: null,
    lastError: null,
    failureDays: 0,
    lastFailureDay: null,
    suspendedAt: null,
    suspendedReason: null,
    lastInboundAt: null,
    queuePausedAt: null,
    updatedAt: now,
  };
}

/**
 * Each partner's health, kept per server name in partner_health (this class
 * is its one writer). Outbound: every call to a partner is classified
 * (retry-policy.ts, classifyAnswer); a transient failure (no answer, 408, 429,
 * 5xx) counts a failure, sets failing-since and the next attempt (the one
 * backoff formula, capped at retry.maxMs, never given up), and after failures
 * on `suspendAfterDays` distinct UTC days marks the partner suspended with the
 * reason; any answer (the partner is there) ends the run of failures and lifts
 * a suspension by itself. Inbound: a request whose signature verified is the
 * partner's last inbound contact and wakes its queue (next attempt = now).
 * An admin may pause its queue. Writes are serialised in this process.
 */
export class PartnerHealthService {
  private chain: Promise<unknown> = Promise.resolve();
  /** Rows read or written by this process (the one writer), to keep the signed path off the database. */
  private readonly cache = new Map<string, PartnerHealth>();

  constructor(
    private readonly deps: {
      store: PartnerHealthStore;
      clock: Clock;
      logger: Logger;
      retry: RetryPolicy;
      suspendAfterDays: number;
      random?: () => number;
      /**
       * Told when a partner that was failing (or waiting for its next attempt) is heard from again:
       * a verified request from it, or an answer to any of our calls. The outbox wakes its queue.
       */
      onWake?: (serverName: string) => void;
    },
  ) {}

  /** Runs fn after every update queued before it, so two calls never interleave their read-modify-write. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async load(serverName: string): Promise<PartnerHealth | null> {
    const key = serverName.toLowerCase();
    const cached = this.cache.get(key);
    if (cached) return { ...cached };
    const row = await this.deps.store.get(key);
    if (row) this.cache.set(key, { ...row });
    return row;
  }

  private async save(row: PartnerHealth): Promise<PartnerHealth> {
    await this.deps.store.put(row);
    this.cache.set(row.serverName, { ...row });
    return row;
  }

  get(serverName: string): Promise<PartnerHealth | null> {
    return this.load(serverName);
  }

  async list(): Promise<PartnerHealth[]> {
    return this.deps.store.list();
  }

  /** Records what an outbound call showed; returns the partner's row after it. */
  recordOutbound(serverName: string, result: CallResult): Promise<PartnerHealth> {
    return this.serial(async () => {
      const now = this.deps.clock.now();
      const row = (await this.load(serverName)) ?? freshRow(serverName, now);
      if ('transient' in result) return this.save(this.failed(row, result.transient, now));
      const next = this.answered(row, result.answered, now);
      // A healthy partner answering again changes only its last success: written at most every
      // INBOUND_WRITE_EVERY_MS, as inbound contact is, so a call to a partner costs no write.
      if (unchangedBut(row, next, now)) return row;
      const saved = await this.save(next);
      if (row.consecutiveFailures > 0) this.deps.onWake?.(saved.serverName);
      return saved;
    });
  }

  private failed(row: PartnerHealth, message: string, now: number): PartnerHealth {
    const day = Math.floor(now / DAY_MS);
    const consecutiveFailures = row.consecutiveFailures + 1;
    const next: PartnerHealth = {
      ...row,
      consecutiveFailures,
      failingSince: row.failingSince ?? now,
      lastFailureAt: now,
      lastError: message,
      failureDays: row.lastFailureDay === day ? row.failureDays : row.failureDays + 1,
      lastFailureDay: day,
      nextAttemptAt: now + backoffDelay(consecutiveFailures, this.deps.retry, this.deps.random),
      updatedAt: now,
    };
    if (next.suspendedAt === null && next.failureDays >= this.deps.suspendAfterDays) {
      next.suspendedAt = now;
      next.suspendedReason = `no answer on ${next.failureDays} distinct days since ${new Date(next.failingSince ?? now).toISOString()}: ${message}`;
      this.deps.logger.warn('partner suspended', {
        component: 'partner-health',
        partner: row.serverName,
        reason: next.suspendedReason,
      });
    }
    return next;
  }

  private answered(row: PartnerHealth, status: number, now: number): PartnerHealth {
    if (row.suspendedAt !== null) {
      this.deps.logger.info('partner answers again; suspension lifted', {
        component: 'partner-health',
        partner: row.serverName,
        status,
      });
    }
    const ok = classifyAnswer(status) === 'success';
    return {
      ...row,
      consecutiveFailures: 0,
      failingSince: null,
      nextAttemptAt: null,
      failureDays: 0,
      lastFailureDay: null,
      suspendedAt: null,
      suspendedReason: null,
      lastSuccessAt: ok ? now : row.lastSuccessAt,
      lastError: ok ? null : `answered HTTP ${status}`,
      updatedAt: now,
    };
  }

  /**
   * A request from the partner verified: its inbound health, and a wake-up of
   * its queue (true when the partner was waiting for its next attempt).
   */
  recordInbound(serverName: string): Promise<boolean> {
    return this.serial(async () => {
      const now = this.deps.clock.now();
      const row = (await this.load(serverName)) ?? freshRow(serverName, now);
      const wake = row.nextAttemptAt !== null && row.nextAttemptAt > now;
      const stale = row.lastInboundAt === null || now - row.lastInboundAt >= INBOUND_WRITE_EVERY_MS;
      if (!wake && !stale) return false;
      await this.save({
        ...row,
        lastInboundAt: now,
        nextAttemptAt: wake ? now : row.nextAttemptAt,
        updatedAt: now,
      });
      if (wake) this.deps.onWake?.(row.serverName);
      return wake;
    });
  }

  /** Makes a partner waiting for its next attempt due now (an admin's "retry now"). */
  makeDue(serverName: string): Promise<void> {
    return this.serial(async () => {
      const now = this.deps.clock.now();
      const row = await this.load(serverName);
      if (!row || row.nextAttemptAt === null || row.nextAttemptAt <= now) return;
      await this.save({ ...row, nextAttemptAt: now, updatedAt: now });
    });
  }

  /** Pauses (true) or resumes (false) the partner's queue; resuming makes it due now. */
  setPaused(serverName: string, paused: boolean): Promise<PartnerHealth> {
    return this.serial(async () => {
      const now = this.deps.clock.now();
      const row = (await this.load(serverName)) ?? freshRow(serverName, now);
      return this.save({
        ...row,
        queuePausedAt: paused ? (row.queuePausedAt ?? now) : null,
        nextAttemptAt: paused ? row.nextAttemptAt : row.nextAttemptAt === null ? null : now,
        updatedAt: now,
      });
    });
  }

  /**
   * A send function that records every call's outcome: answers (any status)
   * and transient failures (the send threw: no answer, timeout, an answer too
   * large). Calls whose address cannot be parsed are not recorded.
   */
  observe(
    send: (call: PartnerCall) => Promise<PartnerAnswer>,
  ): (call: PartnerCall) => Promise<PartnerAnswer> {
    return async (call) => {
      let server: string | null;
      try {
        server = authorityOf(call.url);
      } catch {
        server = null;
      }
      let answer: PartnerAnswer;
      try {
        answer = await send(call);
      } catch (e) {
        if (server) await this.safely(server, { transient: errorMessage(e) });
        throw e;
      }
      if (server) {
        const cls: AnswerClass = classifyAnswer(answer.status);
        await this.safely(
          server,
          cls === 'transient' ? { transient: `HTTP ${answer.status}` } : { answered: answer.status },
        );
      }
      return answer;
    };
  }

  private async safely(server: string, r: CallResult): Promise<void> {
    try {
      await this.recordOutbound(server, r);
    } catch (e) {
      this.deps.logger.error('could not record partner health', {
        component: 'partner-health',
        partner: server,
        error: errorMessage(e),
      });
    }
  }
}
