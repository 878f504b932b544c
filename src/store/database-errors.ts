/**
 * Tells "the database cannot be reached right now" apart from every other
 * error a query may throw. Such failures are operational (a 503 the caller
 * may retry), not bugs: the server stopped, the network dropped the
 * connection, the pool could not connect, or SQLite stayed locked.
 */

/** Driver and socket codes that mean the database is unreachable or going away, not that the query was wrong. */
const UNAVAILABLE_CODES = new Set([
  // sockets
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  // mysql2 / MariaDB
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR',
  'ER_CON_COUNT_ERROR',
  'ER_SERVER_SHUTDOWN',
  'ER_LOCK_WAIT_TIMEOUT',
  // SQLite
  'SQLITE_BUSY',
  'SQLITE_LOCKED',
  'SQLITE_CANTOPEN',
  'SQLITE_IOERR',
]);

function codeOf(e: unknown): string | null {
  if (typeof e !== 'object' || e === null) return null;
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' ? code : null;
}

/** True when the error (or the driver error or cause it wraps) says the database is unreachable. */
export function isDatabaseUnavailable(e: unknown): boolean {
  const seen = new Set<unknown>();
  let current: unknown = e;
  while (typeof current === 'object' && current !== null && !seen.has(current)) {
    seen.add(current);
    const code = codeOf(current);
    if (code && (UNAVAILABLE_CODES.has(code) || code.startsWith('SQLITE_IOERR'))) return true;
    if (current instanceof Error && /^Pool is closed|connection is in closed state/i.test(current.message)) {
      return true;
    }
    // TypeORM wraps the driver's error in QueryFailedError.driverError; others use cause.
    const next: unknown =
      (current as { driverError?: unknown }).driverError ?? (current as { cause?: unknown }).cause;
    current = next;
  }
  return false;
}
