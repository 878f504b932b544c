import type { DataSource } from 'typeorm';
import type { Flash, Session, SessionLimits } from '../../core/admin-session';
import { newSession, parseFlash, sessionExpired, sessionKeyOf as keyOf } from '../../core/admin-session';
import type { Clock } from '../../core/clock';
import { execute, num, selectSynced } from './sql';

/** A session's last use is written at most this often (a page load would otherwise write a row each time). */
const TOUCH_EVERY_MS = 60_000;

/**
 * Panel sessions in the shared database (`admin_sessions`), so a session
 * made on one replica is valid on every other. As in memory, only the sha256
 * of the cookie value is stored. Shaped like src/http/admin's AdminSessions;
 * the limits (idle, lifetime) are the panel's, handed in. A session is read
 * with `wsrep_sync_wait` on Galera (selectSynced): a login or a logout made
 * through another node counts on this one at once.
 */
export class DbSessionStore {
  constructor(
    private readonly db: DataSource,
    private readonly clock: Clock,
    private readonly limits: SessionLimits,
  ) {}

  async create(username: string): Promise<{ id: string; session: Session }> {
    const now = this.clock.now();
    await this.purge(now);
    const { id, session } = newSession(username, now);
    await execute(
      this.db,
      'INSERT INTO `admin_sessions` (`idHash`, `username`, `csrfToken`, `createdAt`, `lastSeenAt`, `flash`) VALUES (?, ?, ?, ?, ?, NULL)',
      [keyOf(id), username, session.csrfToken, now, now],
    );
    return { id, session };
  }

  async get(id: string | undefined): Promise<Session | null> {
    if (!id) return null;
    const key = keyOf(id);
    const rows = await selectSynced<Record<string, unknown>>(
      this.db,
      'SELECT `username`, `csrfToken`, `createdAt`, `lastSeenAt`, `flash` FROM `admin_sessions` WHERE `idHash` = ?',
      [key],
    );
    if (rows.length === 0) return null;
    const r = rows[0];
    const now = this.clock.now();
    const s: Session = {
      username: String(r.username),
      csrfToken: String(r.csrfToken),
      createdAt: num(r.createdAt),
      lastSeenAt: num(r.lastSeenAt),
      flash: parseFlash(r.flash),
    };
    if (sessionExpired(s, now, this.limits)) {
      await execute(this.db, 'DELETE FROM `admin_sessions` WHERE `idHash` = ?', [key]);
      return null;
    }
    if (now - s.lastSeenAt >= TOUCH_EVERY_MS) {
      await execute(this.db, 'UPDATE `admin_sessions` SET `lastSeenAt` = ? WHERE `idHash` = ?', [now, key]);
    }
    s.lastSeenAt = now;
    return s;
  }

  async setFlash(id: string, flash: Flash | null): Promise<void> {
    await execute(this.db, 'UPDATE `admin_sessions` SET `flash` = ? WHERE `idHash` = ?', [
      flash ? JSON.stringify(flash) : null,
      keyOf(id),
    ]);
  }

  async destroy(id: string | undefined): Promise<void> {
    if (id) await execute(this.db, 'DELETE FROM `admin_sessions` WHERE `idHash` = ?', [keyOf(id)]);
  }

  async destroyUser(username: string): Promise<void> {
    await execute(this.db, 'DELETE FROM `admin_sessions` WHERE `username` = ?', [username]);
  }

  /** Nothing: the sessions belong to every replica, one stopping ends none of them. */
  async clear(): Promise<void> {}

  private async purge(now: number): Promise<void> {
    await execute(this.db, 'DELETE FROM `admin_sessions` WHERE `lastSeenAt` < ? OR `createdAt` < ?', [
      now - this.limits.idleMs,
      now - this.limits.maxMs,
    ]);
  }
}
