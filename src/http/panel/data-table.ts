import { html, type SafeHtml } from './html';

/**
 * A table with a header row, its rows, or one full-width row saying why it is
 * empty. It scrolls sideways inside its card when the screen is narrower than
 * the table (a phone), never the page; the scrolling box can take the
 * keyboard focus and is named, so it can be scrolled without a pointer.
 *
 * `stack`: on a phone each row becomes a block of its cells, one under the
 * other, each after its column's name (a cell's `data-label`), instead of a
 * row wider than the screen: for few columns of long values (host names,
 * replica names) that would otherwise be cut at the card's edge. The table
 * keeps its roles explicitly, since a table shown as blocks loses them in some
 * browsers; its rows must carry `role="row"` and their cells `role="cell"`.
 */
export function dataTable(
  headers: string[],
  rows: SafeHtml[],
  empty: string,
  label: string,
  opts: { stack?: boolean } = {},
): SafeHtml {
  if (opts.stack)
    return html`<div class="table-wrap" role="region" tabindex="0" aria-label="${label}">
      <table class="stack" role="table">
        <thead role="rowgroup">
          <tr role="row">
            ${headers.map((h) => html`<th role="columnheader">${h}</th>`)}
          </tr>
        </thead>
        <tbody role="rowgroup">
          ${
            rows.length
              ? rows
              : html`<tr role="row">
                  <td role="cell" colspan="${headers.length}" class="empty">${empty}</td>
                </tr>`
          }
        </tbody>
      </table>
    </div>`;
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
