import type { Clock } from '../core/clock';
import { errorMessage } from '../core/errors';
import type { Metrics } from '../core/metrics';
import type { Logger } from '../logging/logger';
import type { OutboxClaims, OutboxItem, OutboxStore } from './ports/outbox-store';
import type { PartnerCall } from './partner-call';
import { authorityOf } from './partner-call';
import type { PartnerHealthService } from './partner-health';
import { withoutUrls } from './fetch-failure';
import { describeAnswer, type PartnerAnswer } from './partner-transport';
import { backoffDelay, classifyStatus, type RetryPolicy } from './retry-policy';
import { everyJob, type Job } from '../jobs/job';
import { StoppableFlight } from '../jobs/single-flight';

export interface DeliveryReport {
  item: OutboxItem;
  outcome: 'delivered' | 'retry' | 'final';
  message: string | null;
  /** The partner's HTTP status, or null when no answer came (network failure, timeout). */
  status: number | null;
}

/** The error an item purged by an admin keeps. */
export const PURGED_BY_ADMIN = 'purged by an admin';

/** The partner (server name) an item goes to; null when its address cannot be read. */
export function partnerOf(item: Pick<OutboxItem, 'url'>): string | null {
  try {
    return authorityOf(item.url);
  } catch {
    return null;
  }
}

/**
 * Sends due outbox items. Items of one request go out in the order they were
 * written (an accept before the teardown that follows it); a failure holds the
 * later ones back. Timing reads the injected clock, so tests move time instead
 * of waiting; the poll timer only decides how often we look.
 *
 * Answers are classified (retry-policy.ts): a transient failure is retried
 * when the partner's next attempt comes (partner-health.ts: the capped
 * backoff, no give-up deadline); 401/403/404/410 and other refusals stop the
 * item at once, marked failed with the partner's reason. A partner whose next
 * attempt is still ahead, or whose queue an admin paused, is skipped.
 */
export class DeliveryWorker {
  /** Passes never overlap; a kick during a pass asks for one more after it (not after stop()). */
  private readonly passes = new StoppableFlight(() => this.runOnce());
  /** The periodic pass (from the first moment on), for the app's JobRunner; kicks (a commit, an admin) come on top. */
  readonly job: Job;

  constructor(
    private readonly deps: {
      store: OutboxStore;
      clock: Clock;
      logger: Logger;
      metrics: Metrics;
      /** Sends a call; it must record the outcome in `health` (PartnerTransport with observe does). */
      send: (call: PartnerCall) => Promise<PartnerAnswer>;
      health: PartnerHealthService;
      retry: RetryPolicy;
      pollMs: number;
      /** Called after each attempt, so the handshake can show errors on the peer or request. */
      onReport?: (r: DeliveryReport) => Promise<void>;
      random?: () => number;
      /** Replicas: an item is sent only by the worker that claimed it (unset: this process is the only sender). */
      claims?: OutboxClaims;
    },
  ) {
    this.job = everyJob('outbox-delivery', deps.pollMs, () => this.pass());
  }

  /** Waits for the pass in flight and drops a queued one (the owner takes the job off its runner). */
  async stop(): Promise<void> {
    await this.passes.stop();
    // A send of one item (sendNow) in its own turn, too.
    await this.turn;
  }

  /** Runs a pass now (or right after the current one). */
  kick(): void {
    void this.pass();
  }

  /** A pass now or right after the current one; a failure is logged, not thrown. */
  private async pass(): Promise<void> {
    try {
      await this.passes.trigger();
    } catch (e) {
      this.deps.logger.error('outbox pass failed', { component: 'outbox', error: errorMessage(e) });
    }
  }

  /**
   * Passes and purges take turns: a purge waits for the pass in flight and a pass that starts while a
   * purge runs waits for it, so an item purged is never sent afterwards (the pass reads the queue after).
   */
  private turn: Promise<unknown> = Promise.resolve();
  /** Turns (passes, purges, sends of one item) asked for and not ended yet. */
  private turnsOpen = 0;
  private inTurn<T>(fn: () => Promise<T>): Promise<T> {
    this.turnsOpen += 1;
    const run = this.turn.then(fn).finally(() => {
      this.turnsOpen -= 1;
    });
    this.turn = run.catch(() => undefined);
    return run;
  }

  /**
   * Sends an item its transaction just committed (an accept) at once, in a
   * turn of its own instead of a pass: no read of the whole queue first, and
   * it does not wait behind other partners' items. The partner stores the
   * peer and applies it as soon as it hears. Only when no pass or purge runs
   * (it takes its turn with them, so the item is never sent twice): else, and
   * when its partner must wait or an earlier item of its request is still
   * pending, a pass sends it as before.
   */
  sendNow(item: OutboxItem): void {
    if (this.turnsOpen > 0) {
      this.kick();
      return;
    }
    this.inTurn(() => this.sendOne(item)).then(
      (passWanted) => {
        if (passWanted) this.kick();
      },
      (e: unknown) => {
        this.deps.logger.error('outbox send failed', { component: 'outbox', error: errorMessage(e) });
        this.kick();
      },
    );
  }

  /** sendNow's turn; true when a pass is wanted after it (the item was left to one, or others are due). */
  private async sendOne(item: OutboxItem): Promise<boolean> {
    const { store, claims } = this.deps;
    const now = this.deps.clock.now();
    if (item.requestId !== null) {
      // Items of one request go out in order: only the oldest pending one may go now.
      const [first] = await store.listPending({ requestIds: [item.requestId] });
      if (first?.id !== item.id) return true;
    }
    if (!(await this.partnerReady(item, now))) return true;
    const token = claims ? await claims.claim(item.id) : null;
    // Replicas: another one holds the item (it sends it).
    if (claims && token === null) return false;
    try {
      await this.deliver(item);
    } finally {
      if (claims && token !== null) await claims.release(item.id, token);
    }
    const pending = await store.listPending();
    await this.updateMetrics(pending);
    return pending.some((i) => i.nextAttemptAt <= this.deps.clock.now());
  }

  /** One pass over due items; returns once they were tried. Also callable from tests and admin actions. */
  runOnce(): Promise<DeliveryReport[]> {
    return this.inTurn(() => this.passOnce());
  }

  private async passOnce(): Promise<DeliveryReport[]> {
    const { store } = this.deps;
    const pending = await store.listPending();
    await this.updateMetrics(pending);
    const now = this.deps.clock.now();
    const headOfRequest = new Set<string>();
    const due: OutboxItem[] = [];
    for (const item of pending) {
      const key = item.requestId ?? item.id;
      if (headOfRequest.has(key)) continue;
      headOfRequest.add(key);
      if (item.nextAttemptAt <= now) due.push(item);
    }
    const reports: DeliveryReport[] = [];
    for (const item of due) {
      // Re-read for each item: a failure of an earlier item of this partner moves its next attempt.
      if (!(await this.partnerReady(item, now))) continue;
      const claims = this.deps.claims;
      if (!claims) {
        reports.push(await this.deliver(item));
        continue;
      }
      const token = await claims.claim(item.id);
      if (token === null) continue;
      try {
        // The list may be stale: another replica may have tried the item since (attempts, next attempt).
        const fresh = await store.get(item.id);
        if (fresh?.state === 'pending' && fresh.nextAttemptAt <= now) reports.push(await this.deliver(fresh));
      } finally {
        await claims.release(item.id, token);
      }
    }
    if (reports.some((r) => r.outcome !== 'retry')) {
      await this.updateMetrics(await store.listPending());
    }
    return reports;
  }

  /**
   * A pass of its own, after the one in progress: an admin's "retry now"
   * must not send an item a timer pass is sending at the same moment.
   */
  async runExclusive(): Promise<DeliveryReport[]> {
    await this.passes.idle();
    // Started now unless a kick came in between: then the queued pass, which also began after this call.
    return this.passes.trigger();
  }

  /** Whether the item's partner may be tried now: not paused, its next attempt reached. */
  private async partnerReady(item: OutboxItem, now: number): Promise<boolean> {
    const server = partnerOf(item);
    if (!server) return true;
    const h = await this.deps.health.get(server);
    if (!h) return true;
    return h.queuePausedAt === null && (h.nextAttemptAt === null || h.nextAttemptAt <= now);
  }

  /** Pending items of one partner (server name), oldest first. */
  async pendingOf(server: string): Promise<OutboxItem[]> {
    const key = server.toLowerCase();
    return (await this.deps.store.listPending()).filter((i) => partnerOf(i) === key);
  }

  /** Makes the partner's pending items due now and runs a pass (a verified request from it, an admin's resume). */
  async wakePartner(server: string): Promise<number> {
    const now = this.deps.clock.now();
    let n = 0;
    for (const item of await this.pendingOf(server)) {
      if (item.nextAttemptAt <= now) continue;
      await this.deps.store.update(item.id, { nextAttemptAt: now, updatedAt: now });
      n++;
    }
    this.kick();
    return n;
  }

  /**
   * Gives up every pending item of a partner (admin "purge"): each is marked
   * failed with PURGED_BY_ADMIN and reported like a final failure. Takes its
   * turn with the passes (inTurn), so it never races a delivery of the same item.
   */
  purgePartner(server: string): Promise<number> {
    return this.inTurn(() => this.purgeNow(server));
  }

  private async purgeNow(server: string): Promise<number> {
    const now = this.deps.clock.now();
    const { claims } = this.deps;
    let purged = 0;
    for (const item of await this.pendingOf(server)) {
      // Replicas: an item another replica is sending right now (a live claim) is left to that attempt.
      const token = claims ? await claims.claim(item.id, { evenIfNotDue: true }) : null;
      if (claims && token === null) continue;
      let changed: number;
      try {
        changed = await this.deps.store.updatePending(
          { state: 'failed', lastError: PURGED_BY_ADMIN, updatedAt: now },
          { id: item.id },
        );
      } finally {
        if (claims && token !== null) await claims.release(item.id, token);
      }
      if (changed === 0) continue;
      purged++;
      this.deps.logger.warn(`outbox ${item.kind} purged`, {
        component: 'outbox',
        kind: item.kind,
        peer: item.peerName,
        partner: server,
        requestId: item.requestId,
      });
      await this.report({ item, outcome: 'final', message: PURGED_BY_ADMIN, status: null });
    }
    await this.updateMetrics(await this.deps.store.listPending());
    return purged;
  }

  /** Makes every pending item due now (admin "retry now"). */
  async makeAllDue(): Promise<number> {
    const now = this.deps.clock.now();
    const partners = new Set((await this.deps.store.listPending()).map(partnerOf));
    for (const p of partners) if (p) await this.deps.health.makeDue(p);
    return this.deps.store.updatePending({ nextAttemptAt: now });
  }

  private async deliver(item: OutboxItem): Promise<DeliveryReport> {
    const call: PartnerCall = {
      dialect: item.dialect,
      method: item.method as PartnerCall['method'],
      url: item.url,
      body: item.body,
    };
    let outcome: DeliveryReport['outcome'];
    let message: string | null = null;
    let status: number | null = null;
    try {
      const answer = await this.deps.send(call);
      status = answer.status;
      outcome = classifyStatus(answer.status);
      if (outcome !== 'delivered' && alreadyDone(item, answer)) outcome = 'delivered';
      if (outcome !== 'delivered') {
        const d = describeAnswer(answer);
        message = `partner answered ${answer.status}${d.code ? ` ${d.code}` : ''}: ${d.message}`;
      }
    } catch (e) {
      outcome = 'retry';
      message = withoutUrls(errorMessage(e));
    }
    const now = this.deps.clock.now();
    const attempts = item.attempts + 1;
    const { store } = this.deps;
    // Only while still pending: an item purged meanwhile (by an admin, on another replica) stays purged.
    const only = { id: item.id };
    if (outcome === 'delivered') {
      await store.updatePending({ state: 'delivered', attempts, lastError: null, updatedAt: now }, only);
    } else if (outcome === 'final') {
      await store.updatePending({ state: 'failed', attempts, lastError: message, updatedAt: now }, only);
    } else {
      // No deadline: a partner that is merely unreachable is tried again at its next attempt, capped at retry.maxMs.
      const server = partnerOf(item);
      const health = server ? await this.deps.health.get(server) : null;
      const next =
        health?.nextAttemptAt != null && health.nextAttemptAt > now
          ? health.nextAttemptAt
          : now + backoffDelay(attempts, this.deps.retry, this.deps.random);
      await store.updatePending({ attempts, lastError: message, nextAttemptAt: next, updatedAt: now }, only);
    }
    const log = outcome === 'delivered' ? 'debug' : 'warn';
    this.deps.logger[log](`outbox ${item.kind} ${outcome}`, {
      component: 'outbox',
      kind: item.kind,
      peer: item.peerName,
      requestId: item.requestId,
      attempts,
      error: message ?? undefined,
    });
    const report: DeliveryReport = { item: { ...item, attempts }, outcome, message, status };
    await this.report(report);
    return report;
  }

  private async report(report: DeliveryReport): Promise<void> {
    await this.deps.onReport?.(report).catch((e) =>
      this.deps.logger.error('outbox report handler failed', {
        component: 'outbox',
        error: errorMessage(e),
      }),
    );
  }

  private async updateMetrics(pending: OutboxItem[]): Promise<void> {
    this.deps.metrics.outboxDepth.set(pending.length);
    const oldest = pending.reduce((min, i) => Math.min(min, i.createdAt), Number.POSITIVE_INFINITY);
    this.deps.metrics.outboxOldestAge.set(
      Number.isFinite(oldest) ? Math.max(0, (this.deps.clock.now() - oldest) / 1000) : 0,
    );
  }
}

/** A revoke or teardown the partner no longer knows about has reached its goal. */
function alreadyDone(item: OutboxItem, answer: PartnerAnswer): boolean {
  if (item.dialect !== 'v2' || answer.status !== 404) return false;
  const code = describeAnswer(answer).code;
  return (
    (item.kind === 'revoke' && code === 'FED_UNKNOWN_REQUEST') ||
    (item.kind === 'teardown' && code === 'FED_UNKNOWN_PEER')
  );
}
