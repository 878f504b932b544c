import type { Flash } from '../admin/session-store';
import { html, type SafeHtml } from './html';

export type PanelSection = 'federation' | 'phonebook' | 'keys' | 'policy' | 'audit' | 'doctor';

export interface PageOptions {
  title: string;
  body: SafeHtml;
  /** Absent on the login page. */
  user?: { name: string; csrf: string };
  active?: PanelSection;
  flash?: Flash | null;
}

const NAV: { id: PanelSection; label: string; href: string }[] = [
  { id: 'federation', label: 'Federation', href: '/panel/federation' },
  { id: 'phonebook', label: 'Phonebook', href: '/panel/phonebook' },
  { id: 'keys', label: 'Keys', href: '/panel/keys' },
  { id: 'policy', label: 'Policy', href: '/panel/policy' },
  { id: 'audit', label: 'Audit', href: '/panel/audit' },
  { id: 'doctor', label: 'Doctor', href: '/panel/doctor' },
];

export function csrfField(csrf: string): SafeHtml {
  return html`<input type="hidden" name="_csrf" value="${csrf}" />`;
}

export function flashBox(flash: Flash | null | undefined): SafeHtml {
  if (!flash) return html``;
  return html`<div class="flash ${flash.kind}" role="${flash.kind === 'error' ? 'alert' : 'status'}">
    ${flash.text}
  </div>`;
}

export function renderPage(opts: PageOptions): string {
  const user = opts.user;
  const page = html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${opts.title} · uuru-federation</title>
        <link rel="stylesheet" href="/panel/assets/panel.css" />
        ${
          user
            ? html`<meta name="csrf-token" content="${user.csrf}" />
                <script src="/panel/assets/panel.js" defer></script>`
            : ''
        }
      </head>
      <body>
        <a class="skip-link" href="#main">Skip to content</a>
        <header class="top">
          <span class="brand">µURU · Federation</span>
          ${
            user
              ? html`<nav aria-label="Panel sections">
                    ${NAV.map(
                      (n) =>
                        html`<a href="${n.href}" ${n.id === opts.active ? html` aria-current="page"` : ''}
                          >${n.label}</a
                        >`,
                    )}
                  </nav>
                  <form method="post" action="/panel/logout" class="logout">
                    ${csrfField(user.csrf)}<span class="who">${user.name}</span
                    ><button type="submit" class="link">Sign out</button>
                  </form>`
              : ''
          }
        </header>
        <main id="main" tabindex="-1">${flashBox(opts.flash)} ${opts.body}</main>
      </body>
    </html>`;
  return page.value;
}
