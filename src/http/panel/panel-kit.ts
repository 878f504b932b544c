import type { EventEmitter } from 'node:events';
import express, {
  type NextFunction,
  type Request,
  type RequestHandler,
  type Response,
  type Router,
} from 'express';
import type { Config } from '../../config/schema';
import { AppError, isAppError } from '../../core/errors';
import type { Logger } from '../../logging/logger';
import type { AdminAuth, SessionPrincipal } from '../admin/admin-auth';
import type { AdminServices } from '../admin/api-routes';
import { idParams } from '../admin/api-schemas';
import type { AuditAction } from '../admin/audit-actions';
import { auditActorOf, type AuditTrail } from '../admin/audit-trail';
import type { LoginThrottle } from '../admin/login-throttle';
import { parseInput } from '../admin/route-table';
import type { Flash } from '../admin/session-store';
import { adminMessage } from './error-hints';
import type { html } from './html';
import { type PanelSection, renderPage } from './layout';
import type { PanelEvents } from './panel-events';

/**
 * What every panel page and form shares: the session check, page rendering,
 * and the action runner (flash + redirect for forms, JSON for the script,
 * one audit row per action). The pages' routes are in *-routes.ts.
 */

export interface PanelDeps {
  config: Config;
  logger: Logger;
  services: AdminServices;
  auth: AdminAuth;
  throttle: LoginThrottle;
  events: PanelEvents;
  /** Emitted after each change made here, so live views refresh at once. */
  changes: EventEmitter;
  audit: AuditTrail;
}

export type ActionResult = { flash: Flash; json?: unknown };

/** How a panel form shows in the audit trail: the action's name and what it acted on. */
export interface PanelAudit {
  action: AuditAction;
  target?: (req: Request) => string | null;
}

export interface PanelKit {
  deps: PanelDeps;
  /** Renders a page for the signed-in admin, taking (and clearing) the session's flash. */
  page(
    req: Request,
    res: Response,
    title: string,
    active: PanelSection | undefined,
    body: ReturnType<typeof html>,
  ): void;
  /** Pages need a session (else the login page); posts also need the CSRF token. */
  requireSession: RequestHandler;
  /** The urlencoded body parser of panel forms. */
  forms: RequestHandler;
  /** A panel form post: urlencoded body, session and CSRF token, then the action, recorded in the audit trail. */
  post(path: string, back: string, audit: PanelAudit, run: (req: Request) => Promise<ActionResult>): void;
  /** A page (GET, session needed): render gets the request and the session's CSRF token for the page's forms. */
  view(path: string, active: PanelSection, render: (req: Request, csrf: string) => Promise<PanelView>): void;
}

/** What a page handler renders: the page title and its body. */
export interface PanelView {
  title: string;
  body: ReturnType<typeof html>;
}

export function wantsJson(req: Request): boolean {
  return req.accepts(['html', 'json']) === 'json';
}

export function principalOf(req: Request): SessionPrincipal {
  const p = req.principal;
  if (!p || p.kind !== 'session') throw new AppError('AUTH_REQUIRED', 'sign in to the panel first');
  return p;
}

/** The :id of a panel route, checked by the admin API's rule before any lookup (VALIDATION_FAILED 400). */
export function pathId(req: Request): string {
  return parseInput(idParams, { ...req.params }, 'path').id;
}

/** The raw :id of a panel route, for the audit trail (recorded as given, even when it is refused). */
export const pathTarget = (req: Request): string | null =>
  typeof req.params.id === 'string' ? req.params.id : null;

export function panelKit(deps: PanelDeps, r: Router): PanelKit {
  const { auth } = deps;
  const forms = express.urlencoded({
    extended: false,
    limit: deps.config.http.bodyLimitBytes,
    parameterLimit: 50,
  });

  const page: PanelKit['page'] = (req, res, title, active, body) => {
    const p = principalOf(req);
    const flash = p.session.flash;
    p.session.flash = null;
    // Shown once: cleared where it is kept (in the database with replicas; a failure only shows it again).
    if (flash) void auth.sessions.setFlash(p.sessionId, null).catch(() => undefined);
    res
      .type('html')
      .send(renderPage({ title, body, active, flash, user: { name: p.name, csrf: p.session.csrfToken } }));
  };

  const requireSession: RequestHandler = (req, res, next) => {
    auth.sessionFrom(req).then((p) => withSession(p, req, res, next), next);
  };
  const withSession = (p: SessionPrincipal | null, req: Request, res: Response, next: NextFunction): void => {
    if (!p) {
      if (req.method === 'GET' && !wantsJson(req)) {
        res.redirect(303, '/panel/login');
        return;
      }
      next(new AppError('AUTH_REQUIRED', 'your session ended; sign in again'));
      return;
    }
    try {
      if (req.method !== 'GET') auth.checkCsrf(req, p.session);
    } catch (e) {
      next(e);
      return;
    }
    req.principal = p;
    next();
  };

  /** Runs a panel action; form posts get a flash and a redirect, script posts get JSON. */
  const action =
    (back: string, audit: PanelAudit, run: (req: Request) => Promise<ActionResult>): RequestHandler =>
    async (req, res, next) => {
      const p = principalOf(req);
      const record = (error: unknown) =>
        deps.audit.record({
          ...auditActorOf(p),
          via: 'panel',
          action: audit.action,
          target: (audit.target ?? pathTarget)(req),
          error,
        });
      let result: ActionResult;
      try {
        result = await run(req);
      } catch (e) {
        await record(e);
        if (!isAppError(e) || e.kind === 'bug') {
          next(e);
          return;
        }
        const m = adminMessage(e);
        if (wantsJson(req)) {
          for (const [k, v] of Object.entries(e.headers ?? {})) res.setHeader(k, v);
          res.status(e.status).json({ error: m.code, message: m.text });
          return;
        }
        await auth.sessions.setFlash(p.sessionId, { kind: 'error', text: m.text });
        res.redirect(303, back);
        return;
      }
      await record(null);
      deps.changes.emit('change');
      if (wantsJson(req)) {
        res.json(result.json ?? { ok: true, message: result.flash.text });
        return;
      }
      await auth.sessions.setFlash(p.sessionId, result.flash);
      res.redirect(303, back);
    };

  return {
    deps,
    page,
    requireSession,
    forms,
    post: (path, back, audit, run) => {
      r.post(path, forms, requireSession, action(back, audit, run));
    },
    view: (path, active, render) => {
      r.get(path, requireSession, async (req, res) => {
        const v = await render(req, principalOf(req).session.csrfToken);
        page(req, res, v.title, active, v.body);
      });
    },
  };
}
