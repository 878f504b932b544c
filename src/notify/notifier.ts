import crypto from 'node:crypto';
import type { Clock } from '../core/clock';
import { errorMessage } from '../core/errors';
import type { Metrics } from '../core/metrics';
import type { NotificationEvent, Notifier } from '../core/notifications';
import type { Logger } from '../logging/logger';
import { type Backoff, exponentialBackoff } from '../jobs/backoff';
import { SIGNATURE_HEADER, webhookSignature } from './webhook-signature';

/** The JSON body of a notification POST; docs/operations.md documents every field. Field names never change. */
export interface NotificationPayload {
  version: 1;
  /** Unique per notification, the same on every retry of it: receivers drop repeats by it. */
  id: string;
  kind: NotificationEvent['kind'];
  severity: NotificationEvent['severity'];
  /** Our server name (host, and port when not the default, of UURU_FEDERATION_UURU_HOST). */
  instance: string;
  peer: string | null;
  partner: string | null;
  old_state: string;
  new_state: string;
  /** When the change was seen, ISO 8601 UTC. */
  at: string;
  message: string;
  details: NotificationEvent['details'];
}

export interface WebhookSettings {
  url: string;
  secret: string;
  timeoutMs: number;
  retry: Backoff;
  maxAttempts: number;
  queueSize: number;
}

interface Queued {
  payload: NotificationPayload;
  body: string;
  attempts: number;
}

/**
 * The notifier (the `Notifier` port of src/core/notifications.ts): one log
 * line per change (warn for the worse, info for a recovery), and with a
 * webhook configured a signed JSON POST of it. `notify` only queues: one
 * sender posts in order, retries a failed post with backoff (the one backoff
 * formula, src/jobs/backoff.ts) up to `maxAttempts`, and a full queue drops
 * its oldest notification, counted in `uuru_fed_notifications_total`. The
 * queue lives in memory: what is still queued at stop is lost (logged).
 * Neither the URL (a webhook URL often carries a token) nor the secret is
 * ever logged: log lines name the receiver by its origin.
 */
export class NotificationService implements Notifier {
  private readonly queue: Queued[] = [];
  private current: Queued | null = null;
  private timer: NodeJS.Timeout | null = null;
  private inFlight: AbortController | null = null;
  private stopped = false;
  private readonly origin: string | null;

  constructor(
    private readonly deps: {
      clock: Clock;
      logger: Logger;
      metrics: Metrics;
      fetch: typeof fetch;
      /** Our server name, for the payload. */
      instance: string;
      webhook: WebhookSettings | null;
      random?: () => number;
    },
  ) {
    this.origin = deps.webhook ? new URL(deps.webhook.url).origin : null;
    for (const result of ['sent', 'failed', 'dropped'] as const)
      deps.metrics.notifications.inc({ result }, 0);
    deps.metrics.notificationQueueDepth.set(0);
  }

  notify(event: NotificationEvent): void {
    try {
      this.log(event);
      const webhook = this.deps.webhook;
      if (!webhook || this.stopped) return;
      const payload = toPayload(event, this.deps.instance);
      if (this.queue.length >= webhook.queueSize) {
        const dropped = this.queue.shift();
        this.deps.metrics.notifications.inc({ result: 'dropped' });
        this.deps.logger.warn('notification queue full, dropped the oldest notification', {
          component: 'notify',
          dropped: dropped?.payload.id,
          kind: dropped?.payload.kind,
          queueSize: webhook.queueSize,
        });
      }
      this.queue.push({ payload, body: JSON.stringify(payload), attempts: 0 });
      this.updateDepth();
      this.pump();
    } catch (e) {
      // Telling must never break the caller (a monitor poll, a job).
      this.deps.logger.warn('notification failed', { component: 'notify', error: errorMessage(e) });
    }
  }

  /** Waiting notifications, the one being sent included (tests, diagnostics). */
  get depth(): number {
    return this.queue.length + (this.current ? 1 : 0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.inFlight?.abort();
    const left = this.depth;
    this.queue.length = 0;
    this.current = null;
    this.updateDepth();
    if (left > 0)
      this.deps.logger.warn('notifications not delivered before stop', { component: 'notify', count: left });
  }

  private log(e: NotificationEvent): void {
    const fields = {
      component: 'notify',
      kind: e.kind,
      peer: e.peer,
      partner: e.partner,
      oldState: e.oldState,
      newState: e.newState,
      ...e.details,
    };
    if (e.severity === 'warning') this.deps.logger.warn(e.message, fields);
    else this.deps.logger.info(e.message, fields);
  }

  private updateDepth(): void {
    this.deps.metrics.notificationQueueDepth.set(this.depth);
  }

  /** Starts the sender unless it runs or waits already. */
  private pump(): void {
    if (this.stopped || this.current || this.timer) return;
    const next = this.queue.shift();
    if (!next) return;
    this.current = next;
    void this.attempt(next);
  }

  private async attempt(item: Queued): Promise<void> {
    const webhook = this.deps.webhook;
    if (!webhook) return;
    item.attempts++;
    let problem: string | null = null;
    const abort = new AbortController();
    this.inFlight = abort;
    const timeout = setTimeout(() => abort.abort(), webhook.timeoutMs);
    try {
      const t = Math.floor(this.deps.clock.now() / 1000);
      const res = await this.deps.fetch(webhook.url, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          'User-Agent': 'uuru-federation-notify',
          'Uuru-Notification-Id': item.payload.id,
          [SIGNATURE_HEADER]: webhookSignature(webhook.secret, t, item.body),
        },
        body: item.body,
        signal: abort.signal,
        redirect: 'manual',
      });
      await res.arrayBuffer().catch(() => undefined);
      if (res.status < 200 || res.status > 299) problem = `HTTP ${res.status}`;
    } catch (e) {
      problem =
        abort.signal.aborted && !this.stopped ? `no answer within ${webhook.timeoutMs} ms` : errorMessage(e);
    } finally {
      clearTimeout(timeout);
      this.inFlight = null;
    }
    if (this.stopped) return;
    if (problem === null) {
      this.deps.metrics.notifications.inc({ result: 'sent' });
      this.finish();
      return;
    }
    if (item.attempts >= webhook.maxAttempts) {
      this.deps.metrics.notifications.inc({ result: 'failed' });
      this.deps.logger.warn('notification not delivered, giving up', {
        component: 'notify',
        receiver: this.origin,
        id: item.payload.id,
        kind: item.payload.kind,
        attempts: item.attempts,
        error: problem,
      });
      this.finish();
      return;
    }
    const delay = exponentialBackoff(item.attempts - 1, webhook.retry, this.deps.random);
    // One line when a receiver starts failing, not one per retry.
    this.deps.logger.log(item.attempts === 1 ? 'warn' : 'debug', 'notification not delivered, will retry', {
      component: 'notify',
      receiver: this.origin,
      id: item.payload.id,
      attempts: item.attempts,
      retryInMs: delay,
      error: problem,
    });
    this.timer = setTimeout(() => {
      this.timer = null;
      if (!this.stopped) void this.attempt(item);
    }, delay);
  }

  private finish(): void {
    this.current = null;
    this.updateDepth();
    this.pump();
  }
}

export function toPayload(e: NotificationEvent, instance: string): NotificationPayload {
  return {
    version: 1,
    id: crypto.randomUUID(),
    kind: e.kind,
    severity: e.severity,
    instance,
    peer: e.peer,
    partner: e.partner,
    old_state: e.oldState,
    new_state: e.newState,
    at: new Date(e.at).toISOString(),
    message: e.message,
    details: e.details,
  };
}
