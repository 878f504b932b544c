import type { Policy } from '../../core/federation-admin';
import { html, type SafeHtml } from './html';
import { csrfField } from './layout';

const MODES: { value: Policy['mode']; label: string }[] = [
  { value: 'open', label: 'Open (every instance may ask to peer)' },
  { value: 'invite_only', label: 'Invite only: only the allowed instances below' },
  { value: 'closed', label: 'Closed: nobody may ask' },
];

export function policyPage(p: Policy, csrf: string): SafeHtml {
  return html`<h1>Policy</h1>
    <section class="card">
      <form method="post" action="/panel/policy" class="grid" id="policy-form">
        ${csrfField(csrf)}
        <label for="pol-mode">Who may ask to peer</label>
        <select id="pol-mode" name="mode">
          ${MODES.map(
            (m) =>
              html`<option value="${m.value}" ${m.value === p.mode ? html` selected` : ''}>
                ${m.label}
              </option>`,
          )}
        </select>
        <label for="pol-allowed"
          >Allowed instances
          <div class="small">one per line: host[:port] or web address</div></label
        >
        <textarea id="pol-allowed" name="allowed_peers">${p.allowed_peers.join('\n')}</textarea>
        <label for="pol-blocked"
          >Blocked instances
          <div class="small">always refused, whatever the mode</div></label
        >
        <textarea id="pol-blocked" name="blocked_peers">${p.blocked_peers.join('\n')}</textarea>
        <label for="pol-legacy">Legacy µURU (v1)</label>
        <span
          ><input
            id="pol-legacy"
            type="checkbox"
            name="allow_legacy"
            value="true"
            ${p.allow_legacy ? html` checked` : ''}
          />
          allow v1 peerings <span class="note">(the v1 IAX2 secret travels in clear)</span></span
        >
        <label for="pol-unfed"
          >Numbers that can't be federated
          <div class="small">
            one per line; a trailing * marks a range, e.g. 11* for all numbers starting 11
          </div></label
        >
        <textarea id="pol-unfed" name="unfederated_numbers">${p.unfederated_numbers.join('\n')}</textarea>
        <div class="actions"><button type="submit" class="primary">Save policy</button></div>
      </form>
    </section>`;
}
