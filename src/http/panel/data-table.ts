import { html, type SafeHtml } from './html';

/** A table with a header row, its rows, or one full-width row saying why it is empty. */
export function dataTable(headers: string[], rows: SafeHtml[], empty: string): SafeHtml {
  return html`<table>
    <thead>
      <tr>
        ${headers.map((h) => html`<th>${h}</th>`)}
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
  </table>`;
}
