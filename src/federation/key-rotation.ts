import type { Clock } from '../core/clock';
import type { Logger } from '../logging/logger';
import { DEFAULT_KEY_LIFETIME_DAYS, type LocalKeys, NEXT_LEAD_MS } from './local-keys';

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * The scheduled side of key rotation (protocol.md; issue 4 "Key rotation"):
 * an active key is replaced after lifetimeDays. NEXT_LEAD_MS before that the
 * successor is published as `next`, endorsed by the active key, so partners
 * can learn it ahead; on its date it becomes active and the old key retiring;
 * after the retiring period the old key is retired. run() looks at the
 * current state and does what is due, so running it often (node-cron,
 * config.jobs.keyRotationCron) or late is harmless.
 */
export class KeyRotation {
  readonly name = 'key-rotation';
  private readonly lifetimeMs: number;

  constructor(
    private readonly deps: { localKeys: LocalKeys; clock: Clock; logger: Logger; lifetimeDays?: number },
  ) {
    this.lifetimeMs = (deps.lifetimeDays ?? DEFAULT_KEY_LIFETIME_DAYS) * DAY_MS;
  }

  async run(): Promise<{ changed: boolean }> {
    const { localKeys, clock } = this.deps;
    let changed = false;
    const state = await localKeys.rotationState();
    const active = state.active;
    let next = state.next;
    if (!active) return { changed };
    if (!next) {
      const dueAt = active.notBefore + this.lifetimeMs;
      const now = clock.now();
      if (now >= dueAt - NEXT_LEAD_MS) {
        // When the job ran late, partners still get the full lead time to see the next key.
        await localKeys.createNext({ notBefore: Math.max(dueAt, now + NEXT_LEAD_MS) });
        changed = true;
        next = (await localKeys.rotationState()).next;
      }
    }
    if (next && clock.now() >= next.notBefore) changed = (await localKeys.promoteNext()) || changed;
    changed = (await localKeys.retireExpired()) > 0 || changed;
    return { changed };
  }
}
