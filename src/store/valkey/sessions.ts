import type { Flash, Session, SessionLimits } from '../../core/admin-session';
import { newSession, parseFlash, sessionExpired, sessionKeyOf as keyOf } from '../../core/admin-session';
import type { Clock } from '../../core/clock';
import { KEY_PREFIX, orUnavailable, type ValkeyConnection } from './client';

/** A session's last use is written at most this often, as in the database store. */
const TOUCH_EVERY_MS = 60_000;
const WHAT = 'panel sessions';

/** Sets fields of a session's hash and its expiry only while the session exists (never revives a logged-out one). */
const UPDATE_IF_EXISTS = `if redis.call('exists', KEYS[1]) == 1 then
  redis.call('hset', KEYS[1], ARGV[1], ARGV[2])
  if tonumber(ARGV[3]) > 0 then redis.call('pexpire', KEYS[1], ARGV[3]) end
  return 1
end
return 0`;

/**
 * Panel sessions in Valkey (config.ha.valkeyUrl), shared by the replicas
 * instead of `admin_sessions`: one hash per session under the sha256 of its
 * cookie value (as in memory and in the database, no usable id is stored),
 * expiring on its own when idle or too old, and a set per admin for "end all
 * of this admin's sessions". Shaped like src/http/admin's AdminSessions and
 * the database's DbSessionStore. Valkey unreachable: every call refuses with
 * VALKEY_UNAVAILABLE, so a cookie is never taken as valid nor as absent.
 */
export class ValkeySessionStore {
  constructor(
    private readonly valkey: ValkeyConnection,
    private readonly clock: Clock,
    private readonly limits: SessionLimits,
  ) {}

  private get c() {
    return this.valkey.client;
  }

  async create(username: string): Promise<{ id: string; session: Session }> {
    const now = this.clock.now();
    const { id, session } = newSession(username, now);
    const key = sessionKey(keyOf(id));
    const userKey = userSessionsKey(username);
    await orUnavailable(WHAT, () =>
      this.c
        .multi()
        .hset(key, {
          username,
          csrfToken: session.csrfToken,
          createdAt: String(now),
          lastSeenAt: String(now),
        })
        .pexpire(key, this.ttlMs(session, now))
        .sadd(userKey, keyOf(id))
        .pexpire(userKey, this.limits.maxMs)
        .exec()
        .then(failedInTransaction),
    );
    return { id, session };
  }

  async get(id: string | undefined): Promise<Session | null> {
    if (!id) return null;
    const key = sessionKey(keyOf(id));
    const h = await orUnavailable(WHAT, () => this.c.hgetall(key));
    if (!h.username || !h.csrfToken) return null;
    const now = this.clock.now();
    const s: Session = {
      username: h.username,
      csrfToken: h.csrfToken,
      createdAt: Number(h.createdAt),
      lastSeenAt: Number(h.lastSeenAt),
      flash: parseFlash(h.flash),
    };
    if (
      !Number.isFinite(s.createdAt) ||
      !Number.isFinite(s.lastSeenAt) ||
      sessionExpired(s, now, this.limits)
    ) {
      await orUnavailable(WHAT, () => this.c.del(key));
      return null;
    }
    if (now - s.lastSeenAt >= TOUCH_EVERY_MS) {
      const ttl = this.ttlMs(s, now);
      await orUnavailable(WHAT, () => this.c.eval(UPDATE_IF_EXISTS, 1, key, 'lastSeenAt', String(now), ttl));
    }
    s.lastSeenAt = now;
    return s;
  }

  async setFlash(id: string, flash: Flash | null): Promise<void> {
    const key = sessionKey(keyOf(id));
    await orUnavailable(WHAT, () =>
      this.c.eval(UPDATE_IF_EXISTS, 1, key, 'flash', flash ? JSON.stringify(flash) : '', 0),
    );
  }

  async destroy(id: string | undefined): Promise<void> {
    if (id) await orUnavailable(WHAT, () => this.c.del(sessionKey(keyOf(id))));
  }

  async destroyUser(username: string): Promise<void> {
    const userKey = userSessionsKey(username);
    await orUnavailable(WHAT, async () => {
      const hashes = await this.c.smembers(userKey);
      await this.c.del(userKey, ...hashes.map(sessionKey));
    });
  }

  /** Nothing: the sessions belong to every replica, one stopping ends none of them. */
  async clear(): Promise<void> {}

  /** Until the session is idle for too long (a touch is written at most every minute) or too old. */
  private ttlMs(s: Pick<Session, 'createdAt'>, now: number): number {
    return Math.max(1, Math.min(this.limits.idleMs + TOUCH_EVERY_MS, s.createdAt + this.limits.maxMs - now));
  }
}

const sessionKey = (idHash: string) => `${KEY_PREFIX}session:${idHash}`;
const userSessionsKey = (username: string) => `${KEY_PREFIX}sessions-of:${username}`;

/** MULTI answers null when aborted, and an error per failed command inside: both are failures. */
function failedInTransaction(results: [Error | null, unknown][] | null): void {
  if (!results) throw new Error('transaction aborted');
  for (const [e] of results) if (e) throw e;
}
