import crypto from 'node:crypto';

/**
 * An admin panel session, the same wherever it is kept: in one process's
 * memory (src/http/admin/session-store.ts) or in the database replicas share
 * (src/store/ha/sessions.ts). Only the sha256 of the cookie value is kept, so
 * a heap dump or a database copy holds no usable id.
 */

export interface Flash {
  kind: 'ok' | 'error';
  text: string;
}

export interface Session {
  username: string;
  csrfToken: string;
  createdAt: number;
  lastSeenAt: number;
  flash: Flash | null;
}

/** How long a session lives unused, and at most. */
export interface SessionLimits {
  idleMs: number;
  maxMs: number;
}

/** What a session is kept under: the sha256 of its cookie value. */
export const sessionKeyOf = (id: string): string => crypto.createHash('sha256').update(id).digest('hex');

/** A new session for `username` at `now`, and its cookie value (random, 32 bytes, like its CSRF token). */
export function newSession(username: string, now: number): { id: string; session: Session } {
  const id = crypto.randomBytes(32).toString('base64url');
  const session: Session = {
    username,
    csrfToken: crypto.randomBytes(32).toString('base64url'),
    createdAt: now,
    lastSeenAt: now,
    flash: null,
  };
  return { id, session };
}

/** Whether a session has been unused, or has lived, too long at `now`. */
export function sessionExpired(
  s: Pick<Session, 'createdAt' | 'lastSeenAt'>,
  now: number,
  limits: SessionLimits,
): boolean {
  return now - s.lastSeenAt > limits.idleMs || now - s.createdAt > limits.maxMs;
}

/** A flash as a shared session store keeps it (JSON text); anything else, or a broken one, is no flash. */
export function parseFlash(v: unknown): Flash | null {
  if (typeof v !== 'string' || v === '') return null;
  try {
    const f = JSON.parse(v) as { kind?: unknown; text?: unknown };
    if ((f.kind === 'ok' || f.kind === 'error') && typeof f.text === 'string')
      return { kind: f.kind, text: f.text };
  } catch {
    // A broken flash is dropped.
  }
  return null;
}
