import crypto from 'node:crypto';
import type { Response, Router } from 'express';
import { AppError, isAppError } from '../../core/errors';
import { cookieHeader, parseCookies, SESSION_COOKIE } from '../admin/admin-auth';
import { adminUserExists, checkAdminLogin } from '../admin/admin-users';
import { constantTimeEqual } from '../admin/session-store';
import { adminMessage } from './error-hints';
import { renderPage } from './layout';
import { loginPage } from './login-page';
import { type PanelKit, principalOf } from './panel-kit';
import { loginForm, parseForm } from './panel-forms';

/**
 * Signing in and out. A pre-session CSRF token in a strict cookie, echoed by
 * the form, keeps another site from logging a browser into an account of its
 * choosing. Sign-ins and sign-outs are recorded in the audit trail; a failed
 * sign-in names the account only when it exists, because a mistyped
 * username field may hold a password.
 */

const LOGIN_CSRF_COOKIE = 'uuru_fed_login_csrf';
const UNKNOWN_ACCOUNT = '(unknown account)';

export function loginRoutes(r: Router, kit: PanelKit): void {
  const { auth, services, throttle, logger, audit } = kit.deps;

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

  /** A failed sign-in in the audit trail, under the account's name only when there is such an account. */
  const recordFailure = async (username: string, error: AppError) => {
    const known = await adminUserExists(services.db, username).catch(() => false);
    await audit.record({
      actorKind: 'admin',
      actor: known ? username : UNKNOWN_ACCOUNT,
      via: 'panel',
      action: 'session.login',
      target: null,
      error,
    });
  };

  r.get('/panel/login', async (req, res) => {
    if (await auth.sessionFrom(req)) {
      res.redirect(303, '/panel/federation');
      return;
    }
    showLogin(res, 200, null);
  });

  r.post('/panel/login', kit.forms, async (req, res) => {
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
      await throttle.check(form.username, address);
    } catch (e) {
      if (!isAppError(e)) throw e;
      await recordFailure(form.username, e);
      for (const [k, v] of Object.entries(e.headers ?? {})) res.setHeader(k, v);
      res.setHeader('X-Error-Code', e.code);
      showLogin(res, e.status, `${adminMessage(e).text} (${e.code})`, form.username);
      return;
    }
    const user = await checkAdminLogin(services.db, form.username, form.password);
    if (!user) {
      await throttle.recordFailure(form.username, address);
      logger.info('panel login failed', { component: 'panel', username: form.username, address });
      await recordFailure(form.username, new AppError('AUTH_INVALID', 'wrong username or password'));
      res.setHeader('X-Error-Code', 'AUTH_INVALID');
      showLogin(res, 401, 'Wrong username or password. (AUTH_INVALID)', form.username);
      return;
    }
    await throttle.recordSuccess(form.username);
    const { id } = await auth.sessions.create(user.username);
    logger.info('panel login', { component: 'panel', username: user.username, address });
    await audit.record({
      actorKind: 'admin',
      actor: user.username,
      via: 'panel',
      action: 'session.login',
      target: null,
      error: null,
    });
    res.setHeader('Set-Cookie', [
      cookieHeader(SESSION_COOKIE, id, { secure: auth.secureCookies }),
      cookieHeader(LOGIN_CSRF_COOKIE, '', { secure: auth.secureCookies, path: '/panel/login', maxAgeS: 0 }),
    ]);
    res.redirect(303, '/panel/federation');
  });

  r.post('/panel/logout', kit.forms, kit.requireSession, async (req, res) => {
    const p = principalOf(req);
    await auth.sessions.destroy(p.sessionId);
    await audit.record({
      actorKind: 'admin',
      actor: p.name,
      via: 'panel',
      action: 'session.logout',
      target: null,
      error: null,
    });
    res.setHeader('Set-Cookie', cookieHeader(SESSION_COOKIE, '', { secure: auth.secureCookies, maxAgeS: 0 }));
    res.redirect(303, '/panel/login');
  });
}
