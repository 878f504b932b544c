/**
 * Errors with a stable code and an HTTP status. One middleware maps them to
 * responses; anything that is not an AppError is a bug and becomes a 500.
 *
 * kind: 'user' (the caller's mistake, 4xx, logged at info), 'operational'
 * (transient: a dependency is down, 503, logged at warn), 'bug' (500, error).
 */
export type ErrorKind = 'user' | 'operational' | 'bug';

export class AppError extends Error {
  readonly code: string;
  readonly status: number;
  readonly kind: ErrorKind;
  readonly details?: Record<string, unknown>;
  readonly headers?: Record<string, string>;

  constructor(
    code: string,
    status: number,
    message: string,
    opts: {
      kind?: ErrorKind;
      details?: Record<string, unknown>;
      headers?: Record<string, string>;
      cause?: unknown;
    } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'AppError';
    this.code = code;
    this.status = status;
    this.kind = opts.kind ?? (status >= 500 ? 'operational' : 'user');
    this.details = opts.details;
    this.headers = opts.headers;
  }

  toJSON(): Record<string, unknown> {
    return { error: this.code, message: this.message, ...(this.details ?? {}) };
  }
}

export const badRequest = (code: string, message: string, details?: Record<string, unknown>) =>
  new AppError(code, 400, message, { details });
export const notFound = (code: string, message: string) => new AppError(code, 404, message);
export const conflict = (code: string, message: string, details?: Record<string, unknown>) =>
  new AppError(code, 409, message, { details });

export function isAppError(e: unknown): e is AppError {
  return e instanceof AppError;
}

/** Message of an unknown thrown value, for logs and last_error fields. */
export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
