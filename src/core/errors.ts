import { ERROR_CATALOGUE, type ErrorCode, type ErrorKind } from './error-catalogue';

export type { ErrorCode, ErrorKind } from './error-catalogue';

/**
 * Errors with a stable code from the catalogue (src/core/error-catalogue.ts),
 * which gives the HTTP status and the kind: a throw site names the refusal
 * and cannot choose another status. One middleware per surface maps them to
 * responses; anything that is not an AppError is a bug and becomes a 500.
 */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly kind: ErrorKind;
  readonly details?: Record<string, unknown>;
  readonly headers?: Record<string, string>;

  constructor(
    code: ErrorCode,
    message: string,
    opts: {
      details?: Record<string, unknown>;
      headers?: Record<string, string>;
      cause?: unknown;
    } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'AppError';
    this.code = code;
    this.status = ERROR_CATALOGUE[code].status;
    this.kind = ERROR_CATALOGUE[code].kind;
    this.details = opts.details;
    this.headers = opts.headers;
  }

  toJSON(): Record<string, unknown> {
    return { error: this.code, message: this.message, ...(this.details ?? {}) };
  }
}

export function isAppError(e: unknown): e is AppError {
  return e instanceof AppError;
}

/** Message of an unknown thrown value, for logs and last_error fields. */
export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
