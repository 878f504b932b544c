import type { Config } from '../config/schema';
import type { Clock } from '../core/clock';
import type { Metrics } from '../core/metrics';
import type { Logger } from '../logging/logger';
import { NotificationService } from './notifier';

export { NotificationService } from './notifier';
export { verifyWebhookSignature, webhookSignature, SIGNATURE_HEADER } from './webhook-signature';

/**
 * The notifier as the composition builds it from the settings (config.notify):
 * log lines always, a signed webhook when UURU_NOTIFY_WEBHOOK_URL is set.
 */
export function createNotifier(deps: {
  config: Config;
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
  fetch: typeof fetch;
}): NotificationService {
  const n = deps.config.notify;
  const service = new NotificationService({
    clock: deps.clock,
    logger: deps.logger,
    metrics: deps.metrics,
    fetch: deps.fetch,
    instance: new URL(deps.config.instance.publicUrl).host,
    webhook:
      n.webhookUrl && n.webhookSecret
        ? {
            url: n.webhookUrl,
            secret: n.webhookSecret,
            timeoutMs: n.webhookTimeoutMs,
            retry: { initialMs: n.retryBaseMs, maxMs: n.retryMaxMs, jitter: [0.5, 1] },
            maxAttempts: n.maxAttempts,
            queueSize: n.queueSize,
          }
        : null,
  });
  if (n.webhookUrl)
    deps.logger.info('notifications go to a webhook', {
      component: 'notify',
      receiver: new URL(n.webhookUrl).origin,
    });
  return service;
}
