import type { DataSource } from 'typeorm';
import type { Clock } from '../../core/clock';
import { execute, num, selectSynced } from './sql';

/**
 * The login throttle's failures in the shared database (`login_failures`,
 * one row per failure and key: `u:<username>` and `a:<address>`), so a
 * password guesser spreading over replicas meets one count. Shaped like
 * src/http/admin's FailureLog; the throttle decides with what it reads, so
 * on Galera that read waits for the failures committed through other nodes
 * (selectSynced).
 */
export class DbLoginFailures {
  constructor(
    private readonly db: DataSource,
    private readonly clock: Clock,
  ) {}

  /** The times of the key's failures after `since`, oldest first. */
  async recent(key: string, since: number): Promise<number[]> {
    const rows = await selectSynced<{ at: unknown }>(
      this.db,
      'SELECT `at` FROM `login_failures` WHERE `throttleKey` = ? AND `at` > ? ORDER BY `at`',
      [key.slice(0, 300), since],
    );
    return rows.map((r) => num(r.at));
  }

  async add(keys: string[], windowMs: number): Promise<void> {
    const now = this.clock.now();
    for (const key of keys) {
      await execute(this.db, 'INSERT INTO `login_failures` (`throttleKey`, `at`) VALUES (?, ?)', [
        key.slice(0, 300),
        now,
      ]);
    }
    await execute(this.db, 'DELETE FROM `login_failures` WHERE `at` <= ?', [now - windowMs]);
  }

  async clear(key: string): Promise<void> {
    await execute(this.db, 'DELETE FROM `login_failures` WHERE `throttleKey` = ?', [key.slice(0, 300)]);
  }
}
