import crypto from 'node:crypto';
import type { EventEmitter } from 'node:events';
import express, {
  type NextFunction,
  type Request,
  type RequestHandler,
  type Response,
  Router,
} from 'express';
import type { Config } from '../../config/schema';
import { AppError, isAppError } from '../../core/errors';
import type { Logger } from '../../logging/logger';
import { clientRequestError } from '../client-request-error';
import {
  type AdminAuth,
  cookieHeader,
  parseCookies,
  SESSION_COOKIE,
  type SessionPrincipal,
} from '../admin/admin-auth';
import { checkAdminLogin } from '../admin/admin-users';
import { type AdminServices, runTestCall } from '../admin/api-routes';
import { idParams } from '../admin/api-schemas';
import type { LoginThrottle } from '../admin/login-throttle';
import { parseInput } from '../admin/route-table';
import { constantTimeEqual, type Flash } from '../admin/session-store';
import { adminMessage } from './error-hints';
import { federationPage, teardownConfirmPage } from './federation-page';
import { html } from './html';
import { keysPage } from './keys-page';
import { renderPage, type PanelSection } from './layout';
import { loginPage } from './login-page';
import { PANEL_CSS, PANEL_JS } from './panel-assets';
import { loadSnapshot, type PanelEvents } from './panel-events';
import {
  acceptForm,
  createOutgoingForm,
  emptyForm,
  localOnlyForm,
  loginForm,
  parseForm,
  parsePolicyForm,
} from './panel-forms';
import { phonebookPage } from './phonebook-page';
import { policyPage } from './policy-page';
import { mountDoctorPage } from './doctor-page';

/**
 * The server-rendered panel. Every page works with plain forms (POST, then a
 * 303 redirect with a flash message); the script only enhances. Requests from
 * the script ask for JSON and get it.
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
}

const LOGIN_CSRF_COOKIE = 'uuru_fed_login_csrf';

const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'same-origin',
  'Cache-Control': 'no-store',
};

function wantsJson(req: Request): boolean {
  return req.accepts(['html', 'json']) === 'json';
}

function principalOf(req: Request): SessionPrincipal {
  const p = req.principal;
  if (!p || p.kind !== 'session') throw new AppError('AUTH_REQUIRED', 'sign in to the panel first');
  return p;
}

type ActionResult = { flash: Flash; json?: unknown };

/** The :id of a panel route, checked by the admin API's rule before any lookup (VALIDATION_FAILED 400). */
function pathId(req: Request): string {
  return parseInput(idParams, { ...req.params }, 'path').id;
}

export function panelRouter(deps: PanelDeps): Router {
  const { auth, services, config } = deps;
  const fed = services.federation;
  const r = Router();
  const forms = express.urlencoded({
    extended: false,
    limit: config.http.bodyLimitBytes,
    parameterLimit: 50,
  });

  r.use((req, res, next) => {
    if (req.path === '/' || req.path.startsWith('/panel')) {
      for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
    }
    next();
  });

  const page = (
    req: Request,
    res: Response,
    title: string,
    active: PanelSection | undefined,
    body: ReturnType<typeof html>,
  ) => {
    const p = principalOf(req);
    const flash = p.session.flash;
    p.session.flash = null;
    res
      .type('html')
      .send(renderPage({ title, body, active, flash, user: { name: p.name, csrf: p.session.csrfToken } }));
  };

  /** Pages need a session (else the login page); posts also need the CSRF token. */
  const requireSession: RequestHandler = (req, res, next) => {
    const p = auth.sessionFrom(req);
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
    (back: string, run: (req: Request) => Promise<ActionResult>): RequestHandler =>
    async (req, res, next) => {
      const p = principalOf(req);
      try {
        const result = await run(req);
        deps.changes.emit('change');
        if (wantsJson(req)) {
          res.json(result.json ?? { ok: true, message: result.flash.text });
          return;
        }
        p.session.flash = result.flash;
        res.redirect(303, back);
      } catch (e) {
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
        p.session.flash = { kind: 'error', text: m.text };
        res.redirect(303, back);
      }
    };

  /** A panel form post: urlencoded body, session and CSRF token, then the action. */
  const post = (path: string, back: string, run: (req: Request) => Promise<ActionResult>) =>
    r.post(path, forms, requireSession, action(back, run));

  r.get('/panel/assets/panel.css', (_req, res) => {
    res.type('text/css').setHeader('Cache-Control', 'public, max-age=300');
    res.send(PANEL_CSS);
  });
  r.get('/panel/assets/panel.js', (_req, res) => {
    res.type('application/javascript').setHeader('Cache-Control', 'public, max-age=300');
    res.send(PANEL_JS);
  });
  r.get(['/', '/panel', '/panel/'], (_req, res) => res.redirect(303, '/panel/federation'));

  // Login: a pre-session CSRF token in a strict cookie, echoed by the form, so
  // another site cannot log a browser into an account of its choosing.
  const showLogin = (res: Response, status: number, error: string | null, username?: string) => {
    const token = crypto.randomBytes(24).toString('base64url');
    res.setHeader(
      'Set-Cookie',
      cookieHeader(LOGIN_CSRF_COOKIE, token, { secure: auth.secureCookies, path: '/panel/login' }),
    );
    res
      .status(status)
      .type('html')
      .send(renderPage({ title: 'Sign in', body: loginPage({ csrf: token, username, error }) }));
  };
  r.get('/panel/login', (req, res) => {
    if (auth.sessionFrom(req)) {
      res.redirect(303, '/panel/federation');
      return;
    }
    showLogin(res, 200, null);
  });
  r.post('/panel/login', forms, async (req, res) => {
    const cookie = parseCookies(req.headers.cookie)[LOGIN_CSRF_COOKIE];
    const presented = (req.body as Record<string, unknown> | undefined)?._csrf;
    if (!cookie || typeof presented !== 'string' || !constantTimeEqual(cookie, presented)) {
      res.setHeader('X-Error-Code', 'CSRF_INVALID');
      showLogin(res, 403, 'The sign-in form was stale. Please sign in again. (CSRF_INVALID)');
      return;
    }
    let form: { username: string; password: string };
    try {
      form = parseForm(loginForm, req.body);
    } catch {
      showLogin(res, 400, 'Enter a username and a password. (VALIDATION_FAILED)');
      return;
    }
    // req.ip is clientAddress(): behind trusted proxies, the client they name.
    const address = req.ip ?? 'unknown';
    try {
      deps.throttle.check(form.username, address);
    } catch (e) {
      if (!isAppError(e)) throw e;
      for (const [k, v] of Object.entries(e.headers ?? {})) res.setHeader(k, v);
      res.setHeader('X-Error-Code', e.code);
      showLogin(res, e.status, `${adminMessage(e).text} (${e.code})`, form.username);
      return;
    }
    const user = await checkAdminLogin(services.db, form.username, form.password);
    if (!user) {
      deps.throttle.recordFailure(form.username, address);
      deps.logger.info('panel login failed', { component: 'panel', username: form.username, address });
      res.setHeader('X-Error-Code', 'AUTH_INVALID');
      showLogin(res, 401, 'Wrong username or password. (AUTH_INVALID)', form.username);
      return;
    }
    deps.throttle.recordSuccess(form.username);
    const { id } = auth.sessions.create(user.username);
    deps.logger.info('panel login', { component: 'panel', username: user.username, address });
    res.setHeader('Set-Cookie', [
      cookieHeader(SESSION_COOKIE, id, { secure: auth.secureCookies }),
      cookieHeader(LOGIN_CSRF_COOKIE, '', { secure: auth.secureCookies, path: '/panel/login', maxAgeS: 0 }),
    ]);
    res.redirect(303, '/panel/federation');
  });
  r.post('/panel/logout', forms, requireSession, (req, res) => {
    auth.sessions.destroy(principalOf(req).sessionId);
    res.setHeader('Set-Cookie', cookieHeader(SESSION_COOKIE, '', { secure: auth.secureCookies, maxAgeS: 0 }));
    res.redirect(303, '/panel/login');
  });

  r.get('/panel/events', deps.events.handler);

  r.get('/panel/federation', requireSession, async (req, res) => {
    const snapshot = await loadSnapshot(services);
    page(
      req,
      res,
      'Federation',
      'federation',
      federationPage(snapshot, principalOf(req).session.csrfToken, config.instance.codecs),
    );
  });
  post('/panel/federation/outgoing-requests', '/panel/federation', async (req) => {
    const created = await fed.createOutgoingRequest(parseForm(createOutgoingForm, req.body));
    const v1 = created.dialect === 'v1' ? ' It uses legacy v1: the IAX2 secret travels in clear.' : '';
    return {
      flash: { kind: 'ok', text: `Request '${created.name}' sent to ${created.partner_url}.${v1}` },
      json: created,
    };
  });
  post('/panel/federation/outgoing-requests/:id/revoke', '/panel/federation', async (req) => {
    const f = parseForm(localOnlyForm, req.body);
    await fed.revokeOutgoingRequest(pathId(req), { localOnly: f.local_only === 'true' });
    return { flash: { kind: 'ok', text: 'Request revoked.' } };
  });
  post('/panel/federation/incoming-requests/:id/accept', '/panel/federation', async (req) => {
    const f = parseForm(acceptForm, req.body);
    const peer = await fed.acceptIncomingRequest(pathId(req), {
      prefix: f.prefix,
      local_only: f.local_only === 'true',
    });
    const local = f.local_only ? ' (local side only: the partner was not told)' : '';
    return {
      flash: {
        kind: 'ok',
        text: `Accepted: peer '${peer.name}' reached with prefix ${peer.prefix}${local}.`,
      },
      json: peer,
    };
  });
  post('/panel/federation/incoming-requests/:id/decline', '/panel/federation', async (req) => {
    const f = parseForm(localOnlyForm, req.body);
    await fed.declineIncomingRequest(pathId(req), { localOnly: f.local_only === 'true' });
    return { flash: { kind: 'ok', text: 'Request declined.' } };
  });
  r.get('/panel/federation/peers/:id/teardown', requireSession, async (req, res) => {
    const peer = await fed.getPeer(pathId(req));
    page(
      req,
      res,
      `Tear down ${peer.name}`,
      'federation',
      teardownConfirmPage(peer, principalOf(req).session.csrfToken),
    );
  });
  post('/panel/federation/peers/:id/teardown', '/panel/federation', async (req) => {
    const f = parseForm(localOnlyForm, req.body);
    const peer = await fed.getPeer(pathId(req));
    await fed.teardownPeer(peer.id, { localOnly: f.local_only === 'true' });
    return {
      flash: {
        kind: 'ok',
        text: `Peer '${peer.name}' torn down${f.local_only ? ' (local side only)' : ''}.`,
      },
    };
  });
  post('/panel/federation/peers/:id/test-call', '/panel/federation', async (req) => {
    parseForm(emptyForm, req.body);
    const peer = await fed.getPeer(pathId(req));
    const result = await runTestCall(services, peer);
    const text = result.answered
      ? `Test call through '${peer.name}' answered in ${result.setup_ms} ms.`
      : `Test call through '${peer.name}' not answered: ${result.error ?? 'no answer'}. Check the peer's reachability and the partner's test extension.`;
    return { flash: { kind: result.answered ? 'ok' : 'error', text }, json: result };
  });

  post('/panel/federation/outbox/retry', '/panel/federation', async (req) => {
    parseForm(emptyForm, req.body);
    const r = await fed.retryDeliveriesNow();
    const waiting = r.pending > 0 ? ` ${r.pending} still waiting; see their last error below.` : '';
    return {
      flash: {
        kind: r.pending > 0 ? 'error' : 'ok',
        text: `Tried ${r.attempted} notification(s): ${r.delivered} delivered.${waiting}`,
      },
      json: r,
    };
  });

  r.get('/panel/phonebook', requireSession, async (req, res) => {
    page(req, res, 'Phonebook', 'phonebook', phonebookPage(await fed.partnerPhonebooks()));
  });

  r.get('/panel/keys', requireSession, async (req, res) => {
    const [keys, peers] = await Promise.all([fed.listKeys(), fed.listPeers()]);
    page(req, res, 'Keys', 'keys', keysPage(keys, peers, principalOf(req).session.csrfToken));
  });
  post('/panel/keys/rotate', '/panel/keys', async (req) => {
    parseForm(emptyForm, req.body);
    await fed.rotateKeys();
    return {
      flash: {
        kind: 'ok',
        text: 'Key rotation started; partners will accept the new key through its endorsement.',
      },
    };
  });
  post('/panel/keys/partners/:id/refresh', '/panel/keys', async (req) => {
    parseForm(emptyForm, req.body);
    const out = await fed.refreshPartner(pathId(req));
    return {
      flash: { kind: 'ok', text: `Refetched ${out.server_name}: ${out.confirmed} held key(s) confirmed.` },
      json: out,
    };
  });

  r.get('/panel/policy', requireSession, async (req, res) => {
    page(req, res, 'Policy', 'policy', policyPage(await fed.getPolicy(), principalOf(req).session.csrfToken));
  });
  post('/panel/policy', '/panel/policy', async (req) => {
    const report = await fed.setPolicy(parsePolicyForm(req.body));
    const affected = report.affected_peers.map((p) => `${p.name} (${p.reason})`).join(', ');
    return {
      flash: {
        kind: 'ok',
        text: affected
          ? `Policy saved. These peers would not be admitted now and are kept until you tear them down: ${affected}.`
          : 'Policy saved.',
      },
      json: report,
    };
  });

  mountDoctorPage(r, {
    doctor: services.doctor,
    requireSession,
    forms,
    csrfOf: (req) => principalOf(req).session.csrfToken,
    page: (req, res, body) => page(req, res, 'Doctor', 'doctor', body),
  });

  // A panel path that is not valid percent-encoding is refused like any other bad id (express raises it as a URIError).
  r.use((err: unknown, _req: Request, _res: Response, next: NextFunction) => {
    const fault = clientRequestError(err);
    if (fault?.fault !== 'malformed_path') {
      next(err);
      return;
    }
    next(
      new AppError('VALIDATION_FAILED', `invalid request: path: ${fault.message}`, {
        details: {
          issues: [{ field: 'path', message: fault.message }],
        },
      }),
    );
  });

  // Errors of panel pages render as a page; script requests get JSON.
  r.use((err: unknown, req: Request, res: Response, next: NextFunction) => {
    if (!req.path.startsWith('/panel') || wantsJson(req) || res.headersSent || !isAppError(err)) {
      next(err);
      return;
    }
    const m = adminMessage(err);
    for (const [k, v] of Object.entries(err.headers ?? {})) res.setHeader(k, v);
    res.setHeader('X-Error-Code', err.code);
    const back = err.status === 401 ? '/panel/login' : '/panel/federation';
    res
      .status(err.status)
      .type('html')
      .send(
        renderPage({
          title: 'Error',
          body: html`<section class="card">
            <h1>${m.code}</h1>
            <p>${m.text}</p>
            <p><a href="${back}">Back</a></p>
          </section>`,
        }),
      );
  });
  return r;
}
