import type { NextFunction, Request, Response, Router } from 'express';
import { AppError, isAppError } from '../../core/errors';
import { clientRequestError } from '../client-request-error';
import { adminMessage } from './error-hints';
import { html } from './html';
import { renderPage } from './layout';
import { type PanelKit, wantsJson } from './panel-kit';

/** The panel's error handlers, mounted after its routes. */
export function panelErrorHandlers(r: Router, kit: PanelKit): void {
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
    // Signed in: the page keeps the navigation, so the admin is never stuck on it.
    const session =
      err.status === 401 ? Promise.resolve(null) : kit.deps.auth.sessionFrom(req).catch(() => null);
    void session.then((s) => {
      const user = s ? { name: s.name, csrf: s.session.csrfToken } : undefined;
      res
        .status(err.status)
        .type('html')
        .send(
          renderPage({
            title: 'Error',
            user,
            body: html`<section class="card">
              <h1>${m.code}</h1>
              <p>${m.text}</p>
              <p><a href="${back}">Back</a></p>
            </section>`,
          }),
        );
    });
  });
}
