import type { Clock } from '../core/clock';
import { AppError, errorMessage } from '../core/errors';
import type { Metrics } from '../core/metrics';
import type { Logger } from '../logging/logger';
import type { AmiLink } from './asterisk-links';

/**
 * Module reloads through AMI `Reload` (the module-reload path: synchronous,
 * takes Asterisk's reload lock, emits the Reload event). Remembers its own
 * reloads so the Reload events they cause are not mistaken for an admin's.
 */
export class ModuleReloader {
  private readonly ownUntil = new Map<string, number>();
  private inFlight = 0;

  constructor(
    private readonly ami: AmiLink,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    private readonly clock: Clock,
  ) {}

  /**
   * Reloads the module; resolves with the attempts it took (more than one when
   * Asterisk was busy with another reload). The first attempt is on the wire
   * when this returns its promise: an action sent on the same AMI session right
   * after it runs after the reload (Asterisk handles a session's actions in order).
   */
  async reload(module: string): Promise<number> {
    const started = this.clock.now();
    const t0 = process.hrtime.bigint();
    this.inFlight++;
    try {
      const attempts = await this.ami.reload(module, { retries: 20 });
      this.metrics.reloads.inc({ module, result: 'ok' });
      return attempts;
    } catch (e) {
      this.metrics.reloads.inc({ module, result: 'error' });
      this.logger.warn('module reload failed', { component: 'asterisk', module, error: errorMessage(e) });
      throw new AppError('ASTERISK_RELOAD_FAILED', 503, `reload of ${module} failed: ${errorMessage(e)}`, {
        kind: 'operational',
        cause: e,
      });
    } finally {
      this.inFlight--;
      this.metrics.reloadDuration.observe({ module }, Number(process.hrtime.bigint() - t0) / 1e9);
      // The Reload event may trail the response a little.
      this.ownUntil.set(module, Math.max(this.clock.now(), started) + 2000);
    }
  }

  /** True when a Reload event for this module is (probably) the echo of our own reload. */
  isOwn(module: string): boolean {
    if (this.inFlight > 0) return true;
    const until = this.ownUntil.get(module);
    return until !== undefined && this.clock.now() <= until;
  }
}
