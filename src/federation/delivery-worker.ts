import type { Clock } from '../core/clock';
import { errorMessage } from '../core/errors';
import type { Metrics } from '../core/metrics';
import type { Logger } from '../logging/logger';
import type { OutboxItem, OutboxStore } from './ports/outbox-store';
import type { PartnerCall } from './partner-call';
import { withoutUrls } from './fetch-failure';
import { describeAnswer, type PartnerAnswer } from './partner-transport';
import { backoffDelay, classifyStatus, type RetryPolicy } from './retry-policy';
import type { Job } from '../jobs/job';
import { SingleFlight } from '../jobs/single-flight';

export interface DeliveryReport {
  item: OutboxItem;
  outcome: 'delivered' | 'retry' | 'final';
  message: string | null;
  /** The partner's HTTP status, or null when no answer came (network failure, timeout). */
  status: number | null;
}

/**
 * Sends due outbox items. Items of one request go out in the order they were
 * written (an accept before the teardown that follows it); a failure holds the
 * later ones back. Timing reads the injected clock, so tests move time instead
 * of waiting; the poll timer only decides how often we look.
 */
export class DeliveryWorker {
  private stopped = false;
  /** Passes never overlap; a kick during a pass asks for one more after it (not after stop()). */
  private readonly passes = new SingleFlight(() => this.runOnce(), { rerunWhen: () => !this.stopped });
  /** The periodic pass (from the first moment on), for the app's JobRunner; kicks (a commit, an admin) come on top. */
  readonly job: Job;

  constructor(
    private readonly deps: {
      store: OutboxStore;
      clock: Clock;
      logger: Logger;
      metrics: Metrics;
      send: (call: PartnerCall) => Promise<PartnerAnswer>;
      retry: RetryPolicy;
      pollMs: number;
      /** Called after each attempt, so the handshake can show errors on the peer or request. */
      onReport?: (r: DeliveryReport) => Promise<void>;
      random?: () => number;
    },
  ) {
    this.job = {
      name: 'outbox-delivery',
      schedule: { everyMs: deps.pollMs },
      runAtStart: true,
      run: () => this.pass(),
    };
  }

  /** Waits for the pass in flight and drops a queued one (the owner takes the job off its runner). */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.passes.idle();
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

  /** One pass over due items; returns once they were tried. Also callable from tests and admin actions. */
  async runOnce(): Promise<DeliveryReport[]> {
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
    for (const item of due) reports.push(await this.deliver(item));
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

  /** Makes every pending item due now (admin "retry now"). */
  async makeAllDue(): Promise<number> {
    const now = this.deps.clock.now();
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
    if (outcome === 'retry' && now >= item.expiresAt) {
      outcome = 'final';
      message = `gave up after ${attempts} attempts: ${message ?? ''}`;
    }
    if (outcome === 'delivered') {
      await store.update(item.id, { state: 'delivered', attempts, lastError: null, updatedAt: now });
    } else if (outcome === 'final') {
      await store.update(item.id, { state: 'failed', attempts, lastError: message, updatedAt: now });
    } else {
      const next = now + backoffDelay(attempts, this.deps.retry, this.deps.random);
      await store.update(item.id, {
        attempts,
        lastError: message,
        nextAttemptAt: Math.min(next, Math.max(item.expiresAt, now)),
        updatedAt: now,
      });
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
    await this.deps.onReport?.(report).catch((e) =>
      this.deps.logger.error('outbox report handler failed', {
        component: 'outbox',
        error: errorMessage(e),
      }),
    );
    return report;
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
