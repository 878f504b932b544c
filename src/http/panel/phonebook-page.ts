import type { PartnerPhonebookView } from '../../core/federation-admin';
import { dataTable } from './data-table';
import { formatTime } from './federation-page';
import { html, type SafeHtml } from './html';

/**
 * Our partners' public numbers as a local phone dials them (our prefix for
 * the partner, then its extension). Everything shown comes from partners, so
 * it goes through html`` escaping like any other input. A partner that could
 * not be read gets its own notice; its last good entries stay listed.
 */
export function phonebookPage(books: PartnerPhonebookView[]): SafeHtml {
  const notices = books
    .filter((b) => b.error !== null)
    .map(
      (b) =>
        html`<div class="banner" data-phonebook-error="${b.peer.name}">
          <strong>${b.peer.name}</strong> (prefix ${b.peer.prefix}):
          ${b.error}${
            b.fetched_at
              ? html` <span class="small">Showing the entries fetched ${formatTime(b.fetched_at)}.</span>`
              : ''
          }
        </div>`,
    );
  const rows = books.flatMap((b) =>
    b.entries.map(
      (e) =>
        html`<tr data-dial="${e.dial}">
          <td><strong>${e.dial}</strong></td>
          <td>${e.name}</td>
          <td>${b.peer.name} <span class="small muted">prefix ${b.peer.prefix}</span></td>
          <td>${e.extension}</td>
        </tr>`,
    ),
  );
  const skipped = books.reduce((n, b) => n + b.skipped, 0);
  return html`<h1>Phonebook</h1>
    ${notices}
    <section class="card">
      <p class="small muted">
        Public numbers of our partners. Dial the number in the first column: our prefix for the partner, then
        its extension. Partners' directories are fetched on demand and cached for a while.
      </p>
      ${dataTable(
        ['Dial', 'Name', 'Partner', 'Extension'],
        rows,
        books.length
          ? 'Our partners list no public numbers.'
          : "No peers yet: partners' phonebooks appear here once a peering is active.",
        'Phonebook',
      )}
      ${
        skipped > 0
          ? html`<p class="small muted">
              ${skipped} entr${skipped === 1 ? 'y' : 'ies'} from partners were not valid and are not shown.
            </p>`
          : ''
      }
    </section>`;
}
