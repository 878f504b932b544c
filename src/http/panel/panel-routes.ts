import { Router } from 'express';
import { auditRoutes } from './audit-routes';
import { doctorRoutes } from './doctor-page';
import { federationRoutes } from './federation-routes';
import { keysRoutes } from './keys-routes';
import { loginRoutes } from './login-routes';
import { PANEL_CSS, PANEL_JS } from './panel-assets';
import { panelErrorHandlers } from './panel-errors';
import { type PanelDeps, panelKit } from './panel-kit';
import { phonebookRoutes } from './phonebook-routes';
import { policyRoutes } from './policy-routes';

export type { PanelDeps } from './panel-kit';

/**
 * The server-rendered panel. Every page works with plain forms (POST, then a
 * 303 redirect with a flash message); the script only enhances. Requests from
 * the script ask for JSON and get it. This file puts the pieces together:
 * security headers, assets, each page's routes (*-routes.ts), error pages.
 */

const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'same-origin',
  'Cache-Control': 'no-store',
};

export function panelRouter(deps: PanelDeps): Router {
  const r = Router();
  r.use((req, res, next) => {
    if (req.path === '/' || req.path.startsWith('/panel')) {
      for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
    }
    next();
  });

  r.get('/panel/assets/panel.css', (_req, res) => {
    res.type('text/css').setHeader('Cache-Control', 'public, max-age=300');
    res.send(PANEL_CSS);
  });
  r.get('/panel/assets/panel.js', (_req, res) => {
    res.type('application/javascript').setHeader('Cache-Control', 'public, max-age=300');
    res.send(PANEL_JS);
  });
  r.get(['/', '/panel', '/panel/'], (_req, res) => res.redirect(303, '/panel/federation'));

  const kit = panelKit(deps, r);
  loginRoutes(r, kit);
  r.get('/panel/events', deps.events.handler);
  federationRoutes(r, kit);
  phonebookRoutes(r, kit);
  keysRoutes(r, kit);
  policyRoutes(r, kit);
  auditRoutes(r, kit);
  doctorRoutes(r, kit);
  panelErrorHandlers(r, kit);
  return r;
}
