import type { Clock } from '../core/clock';
import { AppError, errorMessage } from '../core/errors';
import type { Metrics } from '../core/metrics';
import type { Logger } from '../logging/logger';
import type { AmiLink } from './asterisk-links';

/** How long our own reload's Reload event is waited for; one that never came stops counting as pending. */
const ECHO_WAIT_MS = 5000;

/** `chan_iax2.so`, `chan_iax2` and `CHAN_IAX2.SO` name the same module in a Reload event. */
const moduleKey = (module: string): string => module.toLowerCase().replace(/\.so$/, '');

/**
 * Module reloads through AMI `Reload` (the module-reload path: synchronous,
 * takes Asterisk's reload lock, emits the Reload event). Each of our reloads
 * expects exactly one Reload event for its module, so that the next one, even
 * a second later, is recognised as someone else's (`module reload` on the
 * CLI, `core reload`). The CLI's `iax2 reload` and `dialplan reload` bypass
 * the module loader and raise no event: the scheduled reconcile catches what
 * they load.
 */
export class ModuleReloader {
  /** Per module: when each of our reloads whose event has not arrived yet stops being waited for. */
  private readonly pendingEchoes = new Map<string, number[]>();

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
    const t0 = process.hrtime.bigint();
    const key = moduleKey(module);
    const echoes = this.pendingEchoes.get(key) ?? [];
    this.pendingEchoes.set(key, echoes);
    // Refused attempts (Asterisk busy) raise no event; the one that reloads raises one.
    const echo = this.clock.now() + ECHO_WAIT_MS;
    echoes.push(echo);
    try {
      const attempts = await this.ami.reload(module, { retries: 20 });
      this.metrics.reloads.inc({ module, result: 'ok' });
      this.logger.debug('module reloaded', {
        component: 'asterisk',
        module,
        attempts,
        ms: Math.round(Number(process.hrtime.bigint() - t0) / 1e5) / 10,
      });
      return attempts;
    } catch (e) {
      const i = echoes.indexOf(echo);
      if (i >= 0) echoes.splice(i, 1);
      this.metrics.reloads.inc({ module, result: 'error' });
      this.logger.warn('module reload failed', { component: 'asterisk', module, error: errorMessage(e) });
      throw new AppError('ASTERISK_RELOAD_FAILED', `reload of ${module} failed: ${errorMessage(e)}`, {
        cause: e,
      });
    } finally {
      this.metrics.reloadDuration.observe({ module }, Number(process.hrtime.bigint() - t0) / 1e9);
    }
  }

  /**
   * True when a Reload event for this module is the echo of one of our own
   * reloads (and counts it off); false for anyone else's.
   */
  isOwn(module: string): boolean {
    const echoes = this.pendingEchoes.get(moduleKey(module));
    if (!echoes) return false;
    const now = this.clock.now();
    while (echoes.length > 0 && echoes[0] < now) echoes.shift();
    if (echoes.length === 0) return false;
    echoes.shift();
    return true;
  }
}
