import type { ServerResponse } from 'node:http';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { AppError, isAppError } from '../core/errors';
import type { Logger } from '../logging/logger';
import { isDatabaseUnavailable } from '../store/database-errors';
import { clientRequestError } from './client-request-error';

/**
 * The AppError a thrown error is answered with, logged as the middleware
 * does: a 500 where a 4xx belongs is a bug.
 */
export function answerFor(err: unknown, logger: Logger, req: { path: string; method: string }): AppError {
  let e: AppError;
  const fault = clientRequestError(err);
  if (isAppError(err)) {
    e = err;
  } else if (fault) {
    // The federation protocol's codes; surfaces with their own (admin, v1) map these faults before they get here.
    // The protocol pins FED_MALFORMED to 400 and FED_TOO_LARGE to 413, whatever status the parser suggested.
    e =
      fault.fault === 'too_large'
        ? new AppError('FED_TOO_LARGE', fault.message)
        : new AppError('FED_MALFORMED', fault.message);
  } else if (isDatabaseUnavailable(err)) {
    e = new AppError('FED_UNAVAILABLE', 'the database is unreachable; retry shortly', {
      headers: { 'Retry-After': '5' },
    });
  } else {
    logger.error('unhandled error', { component: 'http', path: req.path, method: req.method, err });
    e = new AppError('INTERNAL', 'internal error');
  }
  if (e.kind === 'operational') logger.warn(e.message, { component: 'http', code: e.code, path: req.path });
  else if (e.kind === 'user') logger.debug(e.message, { component: 'http', code: e.code, path: req.path });
  return e;
}

/** Writes `value` as the JSON body Express's res.json would send, on a plain Node response. */
export function writeJson(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(body, 'utf8'));
  res.end(body, 'utf8');
}

/** The error middleware's answer to a thrown error, on a plain Node response (routes served before Express). */
export function writeError(
  res: ServerResponse,
  err: unknown,
  logger: Logger,
  req: { path: string; method: string },
): void {
  const e = answerFor(err, logger, req);
  if (res.headersSent) return;
  for (const [k, v] of Object.entries(e.headers ?? {})) res.setHeader(k, v);
  writeJson(res, e.status, e.toJSON());
}

/** Maps thrown errors to `{error, message}` JSON. A 500 where a 4xx belongs is a bug. */
export function errorMiddleware(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    const e = answerFor(err, logger, req);
    if (res.headersSent) return;
    for (const [k, v] of Object.entries(e.headers ?? {})) res.setHeader(k, v);
    res.status(e.status).json(e.toJSON());
  };
}

export const notFoundHandler: RequestHandler = (req, res) => {
  const e = new AppError('NOT_FOUND', `no route for ${req.method} ${req.path}`);
  res.status(e.status).json(e.toJSON());
};
