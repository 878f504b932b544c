import crypto from 'node:crypto';
import type { Flash, Session, SessionLimits } from '../../core/admin-session';
import { newSession, sessionExpired, sessionKeyOf as keyOf } from '../../core/admin-session';
import type { Clock } from '../../core/clock';

export type { Flash, Session };

/**
 * Panel sessions live in memory for one sidecar process (with replicas, in
 * the database: AdminSessions below), and a restart logging admins out is
 * acceptable (and drops any stolen cookie). The map is
 * keyed by the sha256 of the cookie value so a heap dump holds no usable id.
 */

export const SESSION_IDLE_MS = 2 * 60 * 60 * 1000;
export const SESSION_MAX_MS = 12 * 60 * 60 * 1000;
/** The panel's limits, wherever its sessions are kept. */
export const SESSION_LIMITS: SessionLimits = { idleMs: SESSION_IDLE_MS, maxMs: SESSION_MAX_MS };
const MAX_SESSIONS = 1000;

export class SessionStore {
  private readonly sessions = new Map<string, Session>();

  constructor(private readonly clock: Clock) {}

  /** Returns the cookie value; only its hash is kept. */
  create(username: string): { id: string; session: Session } {
    this.sweep();
    const { id, session } = newSession(username, this.clock.now());
    this.sessions.set(keyOf(id), session);
    if (this.sessions.size > MAX_SESSIONS) {
      const oldest = this.sessions.keys().next().value;
      if (oldest !== undefined) this.sessions.delete(oldest);
    }
    return { id, session };
  }

  /** The live session for a cookie value, touched; null when unknown or expired. */
  get(id: string | undefined): Session | null {
    if (!id) return null;
    const key = keyOf(id);
    const s = this.sessions.get(key);
    if (!s) return null;
    const now = this.clock.now();
    if (sessionExpired(s, now, SESSION_LIMITS)) {
      this.sessions.delete(key);
      return null;
    }
    s.lastSeenAt = now;
    return s;
  }

  destroy(id: string | undefined): void {
    if (id) this.sessions.delete(keyOf(id));
  }

  /** Ends every session of one admin (the account was deleted). */
  destroyUser(username: string): void {
    for (const [k, s] of this.sessions) if (s.username === username) this.sessions.delete(k);
  }

  clear(): void {
    this.sessions.clear();
  }

  private sweep(): void {
    const now = this.clock.now();
    for (const [k, s] of this.sessions) {
      if (sessionExpired(s, now, SESSION_LIMITS)) this.sessions.delete(k);
    }
  }
}

/**
 * The sessions as the panel and the admin API use them: this process's
 * memory (MemorySessions, one sidecar), or the database replicas share
 * (src/store/ha/sessions.ts), so a session made on one replica is valid on all.
 */
export interface AdminSessions {
  /** Returns the cookie value; only its hash is kept. */
  create(username: string): Promise<{ id: string; session: Session }>;
  /** The live session for a cookie value, touched; null when unknown or expired. */
  get(id: string | undefined): Promise<Session | null>;
  /** Keeps (or clears, null) the message the next page shows. */
  setFlash(id: string, flash: Flash | null): Promise<void>;
  destroy(id: string | undefined): Promise<void>;
  /** Ends every session of one admin (the account was deleted). */
  destroyUser(username: string): Promise<void>;
  /** Forgets what this process holds (the admin feature stops). */
  clear(): Promise<void>;
}

/** AdminSessions on a SessionStore in memory: the session objects are the stored ones, so a flash is kept in place. */
export class MemorySessions implements AdminSessions {
  constructor(readonly store: SessionStore) {}

  async create(username: string): Promise<{ id: string; session: Session }> {
    return this.store.create(username);
  }

  async get(id: string | undefined): Promise<Session | null> {
    return this.store.get(id);
  }

  async setFlash(id: string, flash: Flash | null): Promise<void> {
    const s = this.store.get(id);
    if (s) s.flash = flash;
  }

  async destroy(id: string | undefined): Promise<void> {
    this.store.destroy(id);
  }

  async destroyUser(username: string): Promise<void> {
    this.store.destroyUser(username);
  }

  async clear(): Promise<void> {
    this.store.clear();
  }
}

export function constantTimeEqual(a: string, b: string): boolean {
  const ha = crypto.createHash('sha256').update(a).digest();
  const hb = crypto.createHash('sha256').update(b).digest();
  return crypto.timingSafeEqual(ha, hb);
}
