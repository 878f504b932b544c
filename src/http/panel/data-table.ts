import { html, type SafeHtml } from './html';

/**
 * A table with a header row, its rows, or one full-width row saying why it is
 * empty. It scrolls sideways inside its card when the screen is narrower than
 * the table (a phone), never the page; the scrolling box can take the
 * keyboard focus and is named, so it can be scrolled without a pointer.
 */
export function dataTable(headers: string[], rows: SafeHtml[], empty: string, label: string): SafeHtml {
  return html`<div class="table-wrap" role="region" tabindex="0" aria-label="${label}">
    <table>
      <thead>
        <tr>
          ${headers.map((h) => (h === '' ? html`<th><span class="visually-hidden">Actions</span></th>` : html`<th>${h}</th>`))}
        </tr>
      </thead>
      <tbody>
        ${
          rows.length
            ? rows
            : html`<tr>
                <td colspan="${headers.length}" class="empty">${empty}</td>
              </tr>`
        }
      </tbody>
    </table>
  </div>`;
}
