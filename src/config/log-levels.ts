/** The sidecar's log levels, most to least severe (winston's npm levels in use). */
export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * µURU's UURU_LOGLEVEL takes Python's level names (CRITICAL, FATAL, ERROR, WARNING,
 * INFO, DEBUG; µURU reads its .env case-insensitively), so a µURU .env says "INFO" or
 * "WARNING" where we say "info" or "warn". Python's two levels above ERROR have no
 * counterpart here and log as error.
 */
const ALIASES: Readonly<Record<string, LogLevel>> = {
  critical: 'error',
  fatal: 'error',
  warning: 'warn',
};

/** Our level names and µURU's, in any case; null when it is neither. */
export function normalizeLogLevel(raw: string): LogLevel | null {
  const v = raw.trim().toLowerCase();
  return LOG_LEVELS.find((level) => level === v) ?? ALIASES[v] ?? null;
}
