import type { KeyView, PeerView } from '../../core/federation-admin';
import { formatTime } from './federation-page';
import { html, type SafeHtml } from './html';
import { dataTable } from './data-table';
import { csrfField } from './layout';

export function keysPage(keys: KeyView[], peers: PeerView[], csrf: string): SafeHtml {
  const own = keys.map(
    (k) =>
      html`<tr data-kid="${k.kid}">
        <td><code>${k.kid}</code></td>
        <td>${k.alg === 'ed25519' ? 'signing (Ed25519)' : 'agreement (X25519)'}</td>
        <td><span class="badge ${k.status === 'active' ? 'b-ok' : 'b-unk'}">${k.status}</span></td>
        <td><code class="fp">${k.fingerprint}</code></td>
        <td>${formatTime(k.not_before)}</td>
        <td>${formatTime(k.expires_at)}</td>
      </tr>`,
  );
  const partners = peers.map(
    (p) =>
      html`<tr data-partner="${p.name}">
        <td><strong>${p.name}</strong></td>
        <td>${p.partner_url}</td>
        <td>
          ${p.partner_key_fingerprint ? html`<code class="fp">${p.partner_key_fingerprint}</code>` : html`<span class="muted">${p.dialect === 'v1' ? 'v1 peers have no keys' : '–'}</span>`}
        </td>
        <td>
          ${
            p.dialect === 'v2'
              ? html`<form
                  method="post"
                  action="/panel/keys/partners/${p.id}/refresh"
                  class="inline"
                  data-confirm="Refetch ${p.name}'s keys and trust any changed key? Compare the fingerprint with its admin first."
                >
                  ${csrfField(csrf)}<button type="submit">Refetch and confirm</button>
                </form>`
              : ''
          }
        </td>
      </tr>`,
  );
  return html`<h1>Keys</h1>
    <section class="card">
      <header><h2>Our keys</h2></header>
      <p class="small muted">
        Partners pin these at the handshake. Give them the fingerprints over another channel (phone, mail) so
        they can check them. Private keys are never shown.
      </p>
      ${dataTable(['Key id', 'Use', 'Status', 'Fingerprint', 'Valid from', 'Expires'], own, 'No keys yet.', 'Our keys')}
      <form
        method="post"
        action="/panel/keys/rotate"
        class="inline"
        data-confirm="Start a key rotation? Partners accept the new key because the current one endorses it."
      >
        ${csrfField(csrf)}<button type="submit" class="primary">Rotate keys</button>
      </form>
    </section>
    <section class="card">
      <header><h2>Partner keys</h2></header>
      <p class="small muted">
        A partner's key that changed without an endorsement by its previous key is held until you confirm it
        here.
      </p>
      ${dataTable(['Peer', 'Partner', 'Pinned key fingerprint', ''], partners, 'No peers.', 'Partner keys')}
    </section>`;
}
