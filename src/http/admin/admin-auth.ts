import { parseCookie, stringifySetCookie } from 'cookie';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Config } from '../../config/schema';
import { AppError } from '../../core/errors';
import type { ApiTokenVerifier, TokenPrincipal } from './api-tokens';
import { type AdminSessions, constantTimeEqual, type Session } from './session-store';

/**
 * Who may act: a bearer token (scripts, the CLI) or a panel session. A
 * session alone never authorises a state change: unsafe methods also need the
 * session's CSRF token (form field `_csrf` or header `X-CSRF-Token`), because
 * the browser sends the cookie with any request.
 */

export const SESSION_COOKIE = 'uuru_fed_session';
export const CSRF_HEADER = 'x-csrf-token';
export const CSRF_FIELD = '_csrf';

export interface SessionPrincipal {
  kind: 'session';
  name: string;
  sessionId: string;
  session: Session;
}

export type Principal = TokenPrincipal | SessionPrincipal;

declare module 'express-serve-static-core' {
  interface Request {
    principal?: Principal;
  }
}

/**
 * The cookies of a request (`cookie` package: values URI-decoded, left as sent
 * when that fails). A name sent twice keeps its first value: browsers list the
 * cookie with the longest path first (RFC 6265 section 5.4).
 */
export function parseCookies(header: string | undefined): Record<string, string | undefined> {
  return header ? parseCookie(header) : {};
}

export function useSecureCookies(config: Config): boolean {
  const mode = config.admin.secureCookies;
  if (mode === 'auto') return config.instance.publicUrl.startsWith('https:');
  return mode === 'true';
}

export function cookieHeader(
  name: string,
  value: string,
  opts: { secure: boolean; maxAgeS?: number; path?: string },
): string {
  // Our cookies are never readable by scripts and never sent cross-site.
  return stringifySetCookie(name, value, {
    path: opts.path ?? '/',
    httpOnly: true,
    sameSite: 'strict',
    maxAge: opts.maxAgeS,
    secure: opts.secure,
  });
}

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export class AdminAuth {
  readonly secureCookies: boolean;

  constructor(
    config: Config,
    private readonly tokens: ApiTokenVerifier,
    readonly sessions: AdminSessions,
  ) {
    this.secureCookies = useSecureCookies(config);
  }

  async sessionFrom(req: Request): Promise<SessionPrincipal | null> {
    const id = parseCookies(req.headers.cookie)[SESSION_COOKIE];
    const session = await this.sessions.get(id);
    if (!id || !session) return null;
    return { kind: 'session', name: session.username, sessionId: id, session };
  }

  /** Throws CSRF_INVALID unless the request carries the session's token. */
  checkCsrf(req: Request, session: Session): void {
    const body = req.body as Record<string, unknown> | undefined;
    const fromBody = body && typeof body === 'object' ? body[CSRF_FIELD] : undefined;
    const presented = req.get(CSRF_HEADER) ?? (typeof fromBody === 'string' ? fromBody : undefined);
    if (!presented || !constantTimeEqual(presented, session.csrfToken)) {
      throw new AppError(
        'CSRF_INVALID',
        'the form was stale or did not come from this panel; reload the page and try again',
      );
    }
  }

  /** For the JSON API: bearer token, or session + CSRF header for unsafe methods. */
  readonly api: RequestHandler = (req: Request, _res: Response, next: NextFunction) => {
    this.authenticateApi(req).then(
      () => next(),
      (e: unknown) => next(e),
    );
  };

  private async authenticateApi(req: Request): Promise<void> {
    const header = req.get('authorization');
    if (header !== undefined) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
      if (!m) {
        throw new AppError('AUTH_INVALID', 'the Authorization header must be "Bearer <token>"', {
          headers: { 'WWW-Authenticate': 'Bearer' },
        });
      }
      const principal = await this.tokens.verify(m[1]);
      if (!principal) {
        throw new AppError(
          'AUTH_INVALID',
          'the API token is not valid; create one with "uuru-fed token create <name>"',
          { headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' } },
        );
      }
      req.principal = principal;
      return;
    }
    const session = await this.sessionFrom(req);
    if (!session) {
      throw new AppError('AUTH_REQUIRED', 'sign in to the panel or send "Authorization: Bearer <token>"', {
        headers: { 'WWW-Authenticate': 'Bearer' },
      });
    }
    if (UNSAFE.has(req.method)) this.checkCsrf(req, session.session);
    req.principal = session;
  }
}
