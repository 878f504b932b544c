import type { AuditPage } from '../admin/audit-trail';
import { dataTable } from './data-table';
import { formatTime } from './federation-page';
import { html, type SafeHtml } from './html';

/** The audit trail, newest first, one page at a time ("Older" follows the API's cursor). */
export function auditPage(page: AuditPage, opts: { first: boolean; limit?: number }): SafeHtml {
  const limit = opts.limit === undefined ? '' : html`&amp;limit=${opts.limit}`;
  const rows = page.events.map(
    (e) =>
      html`<tr data-audit="${e.id}">
        <td>${formatTime(e.at)}</td>
        <td>
          ${e.actor}
          <div class="small muted">
            ${e.actor_kind === 'token' ? 'API token' : e.actor_kind === 'local' ? 'host user (CLI)' : 'admin'}
          </div>
        </td>
        <td>${e.via}</td>
        <td><code>${e.action}</code></td>
        <td>${e.target ?? html`<span class="muted">–</span>`}</td>
        <td>
          ${
            e.outcome === 'ok'
              ? html`<span class="badge b-ok">ok</span>`
              : html`<span class="badge b-bad">error</span> <code>${e.error_code}</code>`
          }
        </td>
      </tr>`,
  );
  const nav = [
    opts.first ? '' : html`<a href="/panel/audit">Newest</a>`,
    page.next_cursor
      ? html`<a href="/panel/audit?cursor=${page.next_cursor}${limit}" rel="next">Older</a>`
      : '',
  ];
  return html`<h1>Audit trail</h1>
    <section class="card">
      <p class="small muted">
        Every admin action from the panel, the admin API and the CLI: who, what, when, and how it ended.
        Newest first.
      </p>
      ${dataTable(
        ['When', 'Who', 'Via', 'Action', 'Target', 'Outcome'],
        rows,
        'No admin actions yet.',
        'Audit trail',
      )}
      <nav class="pager" aria-label="Audit trail pages">${nav}</nav>
    </section>`;
}
