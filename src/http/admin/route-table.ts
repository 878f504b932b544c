import type { Request, Response, Router } from 'express';
import { z } from 'zod';
import type { ErrorCode } from '../../core/error-catalogue';
import { AppError } from '../../core/errors';
import type { Logger } from '../../logging/logger';

/**
 * The admin API as data: each route declares its path, its input schemas and
 * its response schema next to its handler. The router and the OpenAPI
 * document are both built from this table, so they cannot drift apart.
 */

const emptyObject = z.strictObject({});

export type HttpMethod = 'get' | 'post' | 'put' | 'delete';

export interface RouteInput<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  req: Request;
}

export interface RouteResult {
  status?: number;
  body?: unknown;
}

export interface ApiRoute {
  method: HttpMethod;
  /** OpenAPI style, relative to the API base: /federation/peers/{id} */
  path: string;
  summary: string;
  tag: string;
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  /** Success status and schema (none for 204). */
  success: { status: number; schema?: z.ZodType; description: string };
  /**
   * Error codes this route may answer besides the ones every route can
   * (COMMON_ERRORS, and AUTH_ERRORS unless auth is false); the OpenAPI
   * document lists them per operation under the catalogue's status.
   */
  errors: ErrorCode[];
  /** False for the few routes anyone may read (the OpenAPI document itself). */
  auth?: boolean;
  handle(input: RouteInput<unknown, unknown, unknown>): Promise<RouteResult>;
}

export function defineRoute<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType>(route: {
  method: HttpMethod;
  path: string;
  summary: string;
  tag: string;
  params?: P;
  query?: Q;
  body?: B;
  success: { status: number; schema?: z.ZodType; description: string };
  errors?: ErrorCode[];
  auth?: boolean;
  handle(input: RouteInput<z.output<P>, z.output<Q>, z.output<B>>): Promise<RouteResult>;
}): ApiRoute {
  return {
    ...route,
    errors: route.errors ?? [],
    handle: (input) => route.handle(input as RouteInput<z.output<P>, z.output<Q>, z.output<B>>),
  };
}

/** Codes any admin route can answer: a broken or invalid request, the database down, our bug. */
export const COMMON_ERRORS: readonly ErrorCode[] = [
  'VALIDATION_FAILED',
  'INVALID_JSON',
  'BAD_REQUEST',
  'FED_TOO_LARGE',
  'UNSUPPORTED_ENCODING',
  'FED_UNAVAILABLE',
  'INTERNAL',
];
/** Codes every route that needs credentials can answer (VALKEY_UNAVAILABLE: a session kept in Valkey, config.ha). */
export const AUTH_ERRORS: readonly ErrorCode[] = [
  'AUTH_REQUIRED',
  'AUTH_INVALID',
  'CSRF_INVALID',
  'VALKEY_UNAVAILABLE',
];

/** Every code a route can answer, in catalogue order. */
export function errorCodesOf(route: ApiRoute): ErrorCode[] {
  return [...new Set([...COMMON_ERRORS, ...(route.auth === false ? [] : AUTH_ERRORS), ...route.errors])];
}

export function expressPath(openApiPath: string): string {
  return openApiPath.replace(/\{([A-Za-z0-9_]+)\}/g, ':$1');
}

/** Validates a part of the request; refuses with VALIDATION_FAILED naming each bad field. */
export function parseInput<T extends z.ZodType>(schema: T, value: unknown, where: string): z.output<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = result.error.issues.map((i) => ({
    field: [where, ...i.path.map(String)].join('.'),
    message: i.code === 'unrecognized_keys' ? `unknown field(s): ${i.keys.join(', ')}` : i.message,
  }));
  const text = issues.map((i) => `${i.field}: ${i.message}`).join('; ');
  throw new AppError('VALIDATION_FAILED', `invalid request: ${text}`, { details: { issues } });
}

/**
 * Mounts every route on the router. `authenticate` runs first for routes that
 * need it. Responses are parsed through their schema: a mismatch is our bug
 * (logged, 500), never a leak of undocumented fields.
 */
export function mountRoutes(
  router: Router,
  routes: ApiRoute[],
  authenticate: (req: Request, res: Response, next: (e?: unknown) => void) => void,
  logger: Logger,
  /** Called once per request that passed authentication, after the route ran (error null) or failed, before the answer leaves. */
  afterRoute?: AfterRoute,
): void {
  for (const route of routes) {
    const handlers = route.auth === false ? [] : [authenticate];
    router[route.method](expressPath(route.path), ...handlers, async (req: Request, res: Response) => {
      let result: RouteResult;
      let status: number;
      try {
        ({ result, status } = await runRoute(route, req, logger));
      } catch (e) {
        await afterRoute?.(route, req, e);
        throw e;
      }
      await afterRoute?.(route, req, null);
      if (route.success.schema === undefined || status === 204) {
        res.status(status).end();
        return;
      }
      res.status(status).json(result.body);
    });
  }
}

export type AfterRoute = (route: ApiRoute, req: Request, error: unknown) => Promise<void>;

/** Parses the input, runs the handler and checks its answer against the route's schema. */
async function runRoute(
  route: ApiRoute,
  req: Request,
  logger: Logger,
): Promise<{ result: RouteResult; status: number }> {
  const params = parseInput(route.params ?? emptyObject, { ...req.params }, 'path');
  const query = parseInput(route.query ?? emptyObject, { ...(req.query as object) }, 'query');
  const hasBody = req.body !== undefined && req.body !== null;
  let body: unknown = undefined;
  if (route.body) body = parseInput(route.body, hasBody ? req.body : {}, 'body');
  else if (hasBody && typeof req.body === 'object' && Object.keys(req.body as object).length > 0) {
    throw new AppError('VALIDATION_FAILED', 'this endpoint takes no request body');
  }
  const result = await route.handle({ params, query, body, req });
  const status = result.status ?? route.success.status;
  if (route.success.schema === undefined || status === 204) return { result, status };
  const checked = route.success.schema.safeParse(result.body);
  if (!checked.success) {
    logger.error('admin API response does not match its schema', {
      component: 'admin',
      route: `${route.method.toUpperCase()} ${route.path}`,
      issues: checked.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`),
    });
    throw new AppError('INTERNAL', 'internal error');
  }
  return { result: { ...result, body: checked.data }, status };
}
