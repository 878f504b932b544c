import { CODECS } from '../../config/schema';
import { type AsteriskConnectionStatus, LINK_STATE_TEXT } from '../../core/asterisk-port';
import type {
  DeliveryView,
  IncomingRequestView,
  OutgoingRequestView,
  PartnerHealthView,
  PeerView,
} from '../../core/federation-admin';
import type { LeaseState } from '../../core/replicas';
import { html, raw, type SafeHtml } from './html';
import { dataTable } from './data-table';
import { csrfField } from './layout';

/**
 * The Federation page. The three tables are fragments: rendered into the
 * page, and rendered again for the live updates pushed over /panel/events.
 */

const TRASH_ICON = raw(
  '<svg width="16" height="16" viewBox="0 0 16 16" aria-hidden="true" fill="currentColor"><path d="M6 1.5h4a.5.5 0 0 1 .5.5v1h3a.5.5 0 0 1 0 1h-.6l-.8 9.6A1.5 1.5 0 0 1 10.6 15H5.4a1.5 1.5 0 0 1-1.5-1.4L3.1 4h-.6a.5.5 0 0 1 0-1h3V2a.5.5 0 0 1 .5-.5zm.5 1.5h3v-.5h-3V3zM4.1 4l.8 9.5a.5.5 0 0 0 .5.5h5.2a.5.5 0 0 0 .5-.5L11.9 4H4.1zM6.5 6a.5.5 0 0 1 .5.5v5a.5.5 0 0 1-1 0v-5a.5.5 0 0 1 .5-.5zm3 0a.5.5 0 0 1 .5.5v5a.5.5 0 0 1-1 0v-5a.5.5 0 0 1 .5-.5z"/></svg>',
);

export const V1_NOTE = 'legacy v1: the IAX2 secret travels in clear between the instances';

/** The trunk secret's epoch and next rotation (v2 peerings that agreed epochs). */
function secretEpochNote(p: PeerView, csrf: string): SafeHtml {
  const e = p.trunk_rotation;
  if (!e) return html``;
  const overlap = e.also_accepted ? ` · ${e.also_accepted} secret accepted too` : '';
  const forced = e.forced_rotation_at ? ` · forced rotation at ${e.forced_rotation_at}` : '';
  const upgrade = !e.switch_at
    ? ''
    : e.sends === 'v1'
      ? ` · sends the v1 secret until ${e.switch_at}, the epoch secret from then`
      : ` · switched from the v1 secret at ${e.switch_at} (still accepted for the overlap)`;
  const keys = e.agreement_key_switch_at
    ? ` · secret from the rotated agreement keys from ${e.agreement_key_switch_at}`
    : '';
  return html`<div class="small muted" data-secret-epoch="${String(e.epoch)}" data-secret-sends="${e.sends}">
    secret epoch ${String(e.epoch)} · next rotation ${e.next_rotation_at}${overlap}${forced}${upgrade}${keys}
    <form
      method="post"
      action="/panel/federation/peers/${p.id}/secret-rotation"
      class="inline"
      data-confirm="Rotate the trunk secret of ${p.name} now? The partner agrees first; both sides keep the old secret for the overlap, so no call drops."
    >
      ${csrfField(csrf)}<button type="submit" data-rotate-secret="${p.name}">Rotate secret</button>
    </form>
  </div>`;
}

export function formatTime(iso: string | null): SafeHtml {
  if (!iso) return html`<span class="muted">never</span>`;
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return html`${iso}`;
  const text = d
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, ' UTC');
  return html`<time datetime="${iso}">${text}</time>`;
}

function dialectCell(dialect: string): SafeHtml {
  if (dialect !== 'v1') return html`<span class="badge b-ok">v2</span>`;
  return html`<span class="badge b-warn">v1</span>
    <div class="note" data-v1-note>${V1_NOTE}</div>`;
}

function reachabilityCell(p: PeerView, status: AsteriskConnectionStatus): SafeHtml {
  if (status.monitoring === 'unavailable_realtime' || p.reachability === 'unmonitored') {
    return html`<span class="badge b-unk" title="Asterisk does not qualify realtime peers"
      >not monitored</span
    >`;
  }
  const cls = {
    reachable: 'b-ok',
    lagged: 'b-warn',
    unreachable: 'b-bad',
    unknown: 'b-unk',
    unmonitored: 'b-unk',
  }[p.reachability];
  const latency = p.latency_ms === null ? '' : ` · ${p.latency_ms} ms`;
  return html`<span class="badge ${cls}" data-reachability="${p.reachability}"
    >${p.reachability}${latency}</span
  >`;
}

function applyCell(p: PeerView): SafeHtml {
  const cls = { applied: 'b-ok', pending: 'b-unk', failed: 'b-bad' }[p.apply_state];
  // Replicas: the state on each Asterisk node (the badge is applied only when applied on every one).
  const nodes = (p.apply_nodes ?? []).map(
    (n) =>
      html`<div class="small muted" data-apply-node="${n.node}" data-apply-node-state="${n.apply_state}">
        ${n.node}: ${n.apply_state}
      </div>`,
  );
  return html`<span class="badge ${cls}">${p.apply_state}</span>${
      p.apply_error ? html`<div class="small muted">${p.apply_error}</div>` : ''
    }${nodes}`;
}

/** The replicas as the status views list them (GET /api/admin/status's `replicas`). */
export interface ReplicasPanelView {
  self: { replica_id: string; asterisk_node: string | null };
  replicas: Array<{ replica_id: string; asterisk_node: string | null; last_seen_at: string; live: boolean }>;
  leases: Array<{ job: string; holder: string | null; token: number; state: LeaseState }>;
}

/**
 * Replicas (UURU_HA_ENABLED): each with its Asterisk node, and who holds which job lease. On a phone each
 * row stacks its cells under their column names (host and replica names are long, the rows would be cut).
 */
function replicasSection(r: ReplicasPanelView): SafeHtml {
  const node = r.self.asterisk_node === null ? '' : html`, bound to Asterisk node ${r.self.asterisk_node}`;
  return html`<section class="card" id="replicas">
    <header><h2>Replicas</h2></header>
    <p class="small muted">This page is served by ${r.self.replica_id}${node}.</p>
    ${dataTable(
      ['Replica', 'Asterisk node', 'Last seen'],
      r.replicas.map(
        (x) =>
          html`<tr role="row" data-replica="${x.replica_id}" data-replica-live="${String(x.live)}">
            <td role="cell" class="lead">${x.replica_id}</td>
            <td role="cell" data-label="Asterisk node">
              ${x.asterisk_node ?? html`<span class="muted">none</span>`}
            </td>
            <td role="cell" data-label="Last seen">
              <span class="badge ${x.live ? 'b-ok' : 'b-bad'}">${x.live ? 'live' : 'not seen'}</span>
              ${formatTime(x.last_seen_at)}
            </td>
          </tr>`,
      ),
      'no replica has written its row yet',
      'Replicas',
      { stack: true },
    )}
    <h3>Job leases</h3>
    ${dataTable(
      ['Job', 'Held by', 'Fencing token'],
      r.leases.map(
        (l) =>
          html`<tr role="row" data-lease="${l.job}">
            <td role="cell" class="lead">${l.job}</td>
            <td role="cell" data-label="Held by">${leaseHolderCell(l)}</td>
            <td role="cell" data-label="Fencing token">${String(l.token)}</td>
          </tr>`,
      ),
      'no cluster job has run yet',
      'Job leases',
      { stack: true },
    )}
  </section>`;
}

/**
 * Who holds a lease and what the lease is at (an Asterisk node's held, a job's period done, running or
 * expired), as `uuru-fed status` writes it; a lease nobody holds is free.
 */
function leaseHolderCell(l: ReplicasPanelView['leases'][number]): SafeHtml {
  if (l.state === 'free' || l.holder === null) return html`<span class="muted">free</span>`;
  return html`${l.holder} <span class="muted">(${l.state})</span>`;
}

/** The trunk's problem (Asterisk) and the partner's (protocol), each from its one writer, each with its time. */
function errorsCell(p: PeerView): SafeHtml {
  const line = (side: string, what: string, error: string | null, at: string | null) =>
    error === null
      ? ''
      : html`<div data-${what}>
          ${side}: ${error}${at ? html` <span class="muted">(${formatTime(at)})</span>` : ''}
        </div>`;
  if (p.link_error === null && p.partner_error === null) return html`<span class="muted">–</span>`;
  return html`${line('partner', 'partner-error', p.partner_error, p.partner_error_at)}${line(
    'link',
    'link-error',
    p.link_error,
    p.link_error_at,
  )}`;
}

function testCallResult(p: PeerView): SafeHtml {
  const t = p.last_test_call;
  if (!t) return html`<span class="result" data-result></span>`;
  return t.answered
    ? html`<span class="result ok" data-result>answered in ${t.setupMs ?? '?'} ms</span>`
    : html`<span class="result bad" data-result>not answered: ${t.error ?? 'no answer'}</span>`;
}

export function peersFragment(peers: PeerView[], csrf: string, status: AsteriskConnectionStatus): SafeHtml {
  const rows = peers.map(
    (p) =>
      html`<tr data-peer="${p.name}">
        <td>
          <strong>${p.name}</strong>${asteriskNameNote(p)}
          <div class="small muted">${p.role}</div>
        </td>
        <td>${p.prefix}</td>
        <td>
          <a href="${p.partner_url}" rel="noreferrer noopener" target="_blank">${p.partner_url}</a>
          <div class="small muted">IAX2 ${p.partner_iax_host} · ${p.codec}</div>
          ${secretEpochNote(p, csrf)}
        </td>
        <td>${dialectCell(p.dialect)}</td>
        <td>
          <span class="badge ${p.state === 'active' ? 'b-ok' : 'b-bad'}"
            >${p.state === 'active' ? 'active' : 'partner missing'}</span
          >
        </td>
        <td>
          ${reachabilityCell(p, status)}
          <div class="small">
            <a href="/panel/federation/peers/${p.id}/quality" data-quality>call quality</a>
          </div>
        </td>
        <td>${formatTime(p.last_seen)}</td>
        <td class="small">${errorsCell(p)}</td>
        <td>${applyCell(p)}</td>
        <td>
          ${p.partner_key_fingerprint ? html`<code class="fp">${p.partner_key_fingerprint}</code>` : html`<span class="muted">–</span>`}
        </td>
        <td>
          <form
            method="post"
            action="/panel/federation/peers/${p.id}/test-call"
            class="inline"
            data-async="test-call"
          >
            ${csrfField(csrf)}<button type="submit" data-test-call="${p.name}">Test call</button
            >${testCallResult(p)}
          </form>
        </td>
        <td>
          <a
            class="icon"
            href="/panel/federation/peers/${p.id}/teardown"
            data-teardown
            data-peer-name="${p.name}"
            title="Tear down ${p.name}"
            aria-label="Tear down ${p.name}"
            >${TRASH_ICON}</a
          >
        </td>
      </tr>`,
  );
  return dataTable(
    [
      'Name',
      'Prefix',
      'Partner',
      'Dialect',
      'State',
      'Reachability',
      'Last seen',
      'Errors',
      'Apply state',
      'Partner key',
      'Test call',
      '',
    ],
    rows,
    'No peers yet. Create a request below, or accept one a partner sent.',
    'Peers',
  );
}

/** A confirmed action on a request, with the option not to tell the partner. */
function localOnlyAction(action: string, question: string, label: string, csrf: string): SafeHtml {
  return html`<form method="post" action="${action}" class="inline" data-confirm="${question}">
    ${csrfField(csrf)}<label class="small"
      ><input type="checkbox" name="local_only" value="true" /> local only</label
    ><button type="submit">${label}</button>
  </form>`;
}

export function outgoingFragment(requests: OutgoingRequestView[], csrf: string): SafeHtml {
  const rows = requests.map((r) => {
    const stateCls = r.state === 'pending' ? 'b-unk' : 'b-bad';
    const why = r.decline_reason ?? r.last_error;
    return html`<tr data-outgoing="${r.name}">
      <td><strong>${r.name}</strong></td>
      <td>${r.partner_url}</td>
      <td>${r.prefix}</td>
      <td>${r.codec}</td>
      <td>${dialectCell(r.dialect)}</td>
      <td>
        <span class="badge ${stateCls}">${r.state}</span
        >${why ? html`<div class="small muted">${why}</div>` : ''}${
          r.pending_deliveries > 0
            ? html`<div class="small muted">
                ${r.pending_deliveries} notification(s) waiting for delivery
              </div>`
            : ''
        }
      </td>
      <td>${formatTime(r.created_at)}</td>
      <td>
        ${localOnlyAction(
          `/panel/federation/outgoing-requests/${r.id}/revoke`,
          `Revoke the request '${r.name}'?`,
          'Revoke',
          csrf,
        )}
      </td>
    </tr>`;
  });
  return dataTable(
    ['Name', 'Partner', 'Our prefix', 'Codec', 'Dialect', 'State', 'Created', ''],
    rows,
    'No outgoing requests.',
    'Outgoing requests',
  );
}

export function incomingFragment(requests: IncomingRequestView[], csrf: string): SafeHtml {
  const rows = requests.map(
    (r) =>
      html`<tr data-incoming="${r.name}">
        <td><strong>${r.name}</strong>${asteriskNameNote(r)}</td>
        <td>
          ${r.partner_url}
          <div class="small muted">
            IAX2 ${r.partner_iax_host} · ${r.partner_extension_length}-digit extensions
          </div>
        </td>
        <td>${r.codec}</td>
        <td>${dialectCell(r.dialect)}</td>
        <td>
          ${r.partner_key_fingerprint ? html`<code class="fp">${r.partner_key_fingerprint}</code>` : html`<span class="muted">–</span>`}
        </td>
        <td><span class="badge ${r.state === 'pending' ? 'b-unk' : 'b-bad'}">${r.state}</span></td>
        <td>${formatTime(r.created_at)}</td>
        <td>
          ${
            r.state === 'pending'
              ? html`<div class="row-actions">
                  <form
                    method="post"
                    action="/panel/federation/incoming-requests/${r.id}/accept"
                    class="inline"
                  >
                    ${csrfField(csrf)}<input
                      type="text"
                      name="prefix"
                      class="prefix"
                      placeholder="prefix"
                      inputmode="numeric"
                      pattern="[0-9]{1,15}"
                      required
                      aria-label="Our prefix for ${r.name}"
                    /><label class="small"
                      ><input type="checkbox" name="local_only" value="true" /> local only</label
                    ><button type="submit" class="primary">Accept</button>
                  </form>
                  ${localOnlyAction(
                    `/panel/federation/incoming-requests/${r.id}/decline`,
                    `Decline the request '${r.name}'?`,
                    'Decline',
                    csrf,
                  )}
                </div>`
              : ''
          }
        </td>
      </tr>`,
  );
  return dataTable(
    ['Name', 'Partner', 'Codec', 'Dialect', 'Partner key', 'State', 'Received', ''],
    rows,
    'No incoming requests.',
    'Incoming requests',
  );
}

export function outboxFragment(deliveries: DeliveryView[], csrf: string): SafeHtml {
  const rows = deliveries.map(
    (d) =>
      html`<tr data-delivery="${d.kind}" data-delivery-state="${d.state}">
        <td>${d.kind}</td>
        <td>${d.partner}${d.peer_name ? html`<div class="small muted">peer ${d.peer_name}</div>` : ''}</td>
        <td>${dialectCell(d.dialect)}</td>
        <td>
          <span class="badge ${d.state === 'pending' ? 'b-unk' : 'b-bad'}"
            >${d.state === 'pending' ? 'waiting' : 'given up'}</span
          >
        </td>
        <td>${d.attempts}</td>
        <td>${d.state === 'pending' ? formatTime(d.next_attempt_at) : html`<span class="muted">–</span>`}</td>
        <td class="small">${d.last_error ?? html`<span class="muted">–</span>`}</td>
      </tr>`,
  );
  const waiting = deliveries.filter((d) => d.state === 'pending').length;
  return html`${dataTable(
    ['Notification', 'Partner', 'Dialect', 'State', 'Attempts', 'Next attempt', 'Last error'],
    rows,
    'Nothing waiting: every notification reached its partner.',
    'Notifications to partners',
  )}${
    waiting > 0
      ? html`<form method="post" action="/panel/federation/outbox/retry" class="inline">
          ${csrfField(csrf)}<button type="submit" class="primary" data-retry-deliveries>Retry now</button>
          <span class="small muted">${waiting} notification(s) waiting; retried with backoff otherwise</span>
        </form>`
      : ''
  }`;
}

const OUTBOUND_BADGE: Record<PartnerHealthView['outbound']['state'], [string, string]> = {
  ok: ['b-ok', 'answers'],
  failing: ['b-unk', 'not answering'],
  suspended: ['b-bad', 'suspended'],
  unknown: ['b-unk', 'not called yet'],
};

/** Each partner's outbound health (our calls to it) and inbound health (its calls to us) apart, with its queue's controls. */
export function partnersFragment(partners: PartnerHealthView[], csrf: string): SafeHtml {
  const rows = partners.map((p) => {
    const o = p.outbound;
    const [cls, label] = OUTBOUND_BADGE[o.state];
    const id = encodeURIComponent(p.server_name);
    const queueAction = (action: 'pause' | 'resume' | 'purge', text: string, extra: SafeHtml | string = '') =>
      html`<form
        method="post"
        action="/panel/federation/partners/${id}/queue/${action}"
        class="inline"
        ${extra}
      >
        ${csrfField(csrf)}<button
          type="submit"
          data-queue-action="${action}"
          aria-label="${text} the queue of ${p.server_name}"
        >
          ${text}
        </button>
      </form>`;
    return html`<tr data-partner="${p.server_name}" data-outbound="${o.state}">
      <td>
        <strong>${p.server_name}</strong>
        <div class="small muted">${p.peers.length > 0 ? `peers ${p.peers.join(', ')}` : 'no peer'}</div>
      </td>
      <td>
        <span class="badge ${cls}">${label}</span>
        ${
          o.consecutive_failures > 0
            ? html`<div class="small">
                ${o.consecutive_failures} failure(s) on ${o.failure_days} day(s), since
                ${formatTime(o.failing_since)}; next try ${formatTime(o.next_attempt_at)}
              </div>`
            : ''
        }
        ${o.suspended_reason ? html`<div class="small" data-suspended>${o.suspended_reason}</div>` : ''}
        ${o.last_error && o.state !== 'suspended' ? html`<div class="small muted">${o.last_error}</div>` : ''}
        <div class="small muted">last answer ${formatTime(o.last_success_at)}</div>
      </td>
      <td data-inbound>${formatTime(p.inbound.last_verified_at)}</td>
      <td>
        ${p.queue.pending}
        waiting${p.queue.paused ? html` <span class="badge b-unk" data-paused>paused</span>` : ''}
      </td>
      <td>
        ${p.queue.paused ? queueAction('resume', 'Resume') : queueAction('pause', 'Pause')}
        ${
          p.queue.pending > 0
            ? queueAction(
                'purge',
                'Purge',
                raw(
                  `data-confirm="Give up the ${p.queue.pending} notification(s) waiting for this partner?"`,
                ),
              )
            : ''
        }
      </td>
    </tr>`;
  });
  return dataTable(
    ['Partner', 'Outbound (our calls)', 'Inbound (last verified request)', 'Queue', ''],
    rows,
    'No partner yet.',
    'Partners',
  );
}

export function statusFragment(status: AsteriskConnectionStatus): SafeHtml {
  if (!status.enabled) {
    return html`<div class="banner">
      Asterisk integration is switched off in this instance: peers are stored but no trunk is configured, and
      nothing is monitored.
    </div>`;
  }
  const parts: SafeHtml[] = [];
  if (status.monitoring === 'unavailable_realtime') {
    parts.push(
      html`<div class="banner" data-realtime-note>
        Realtime backend: Asterisk never qualifies realtime IAX2 peers, so reachability and latency of peers
        can't be monitored here. Use a test call to check a trunk.
      </div>`,
    );
  }
  if (status.ami !== 'connected' || status.ari !== 'connected') {
    const link = (name: string, state: AsteriskConnectionStatus['ami'], detail?: string | null) =>
      html`<span data-link="${name.toLowerCase()}" data-state="${state}"
        >${name} ${LINK_STATE_TEXT[state]}${state !== 'connected' && detail ? html` (${detail})` : ''}</span
      >`;
    parts.push(
      html`<div class="banner" data-asterisk-link>
        Asterisk link: ${link('AMI', status.ami, status.amiDetail)},
        ${link('ARI', status.ari, status.ariDetail)}. Changes are applied once the connection is back.
      </div>`,
    );
  }
  if (status.monitoring === 'unavailable_ami') {
    parts.push(
      html`<div class="banner" data-monitoring-paused>
        Trunk monitoring is paused while AMI is not connected: the reachability shown is from before.
      </div>`,
    );
  }
  if (status.lastReconcileError) {
    parts.push(html`<div class="banner">Last reconcile failed: ${status.lastReconcileError}</div>`);
  }
  return html`${parts}`;
}

export interface FederationSnapshot {
  peers: PeerView[];
  outgoing: OutgoingRequestView[];
  incoming: IncomingRequestView[];
  deliveries: DeliveryView[];
  partners: PartnerHealthView[];
  status: AsteriskConnectionStatus;
}

export function federationFragments(s: FederationSnapshot, csrf: string): Record<string, string> {
  return {
    status: statusFragment(s.status).value,
    peers: peersFragment(s.peers, csrf, s.status).value,
    outgoing: outgoingFragment(s.outgoing, csrf).value,
    incoming: incomingFragment(s.incoming, csrf).value,
    outbox: outboxFragment(s.deliveries, csrf).value,
    partners: partnersFragment(s.partners, csrf).value,
  };
}

export function federationPage(
  s: FederationSnapshot,
  csrf: string,
  codecs: readonly string[],
  replicas?: ReplicasPanelView,
): SafeHtml {
  const f = federationFragments(s, csrf);
  const offered = CODECS.filter((c) => codecs.includes(c));
  return html`<h1>Federation <span class="small muted" data-live-stamp></span></h1>
    <div data-live="status">${raw(f.status)}</div>
    <section class="card" id="peers">
      <header>
        <h2>Peers</h2>
        <a href="/panel/federation/map" class="small">Federation map</a>
      </header>
      <div data-live="peers">${raw(f.peers)}</div>
    </section>
    <section class="card" id="outgoing">
      <header><h2>Outgoing requests</h2></header>
      <details class="add" id="new-request-box">
        <summary><span class="plus" aria-hidden="true">+</span> New request</summary>
        <form method="post" action="/panel/federation/outgoing-requests" class="grid" id="new-request">
          ${csrfField(csrf)}
          <label for="nr-name">Peering name</label
          ><input
            id="nr-name"
            type="text"
            name="name"
            required
            pattern="[A-Za-z0-9_]{1,32}"
            placeholder="berlin"
            title="1 to 32 letters, digits or _; both sides use it"
          />
          <label for="nr-url">Partner web address</label
          ><input id="nr-url" type="url" name="partner_url" required placeholder="https://pbx.example.org" />
          <label for="nr-prefix">Our prefix for the partner</label
          ><input
            id="nr-prefix"
            type="text"
            name="prefix"
            required
            pattern="[0-9]{1,15}"
            inputmode="numeric"
            placeholder="70"
          />
          <label for="nr-codec">Codec</label
          ><select id="nr-codec" name="codec">
            ${offered.map((c) => html`<option value="${c}">${c}</option>`)}
          </select>
          <label for="nr-dialect">Protocol</label
          ><select id="nr-dialect" name="dialect">
            <option value="auto">automatic (v2 when the partner speaks it)</option>
            <option value="v2">v2 (signed)</option>
            <option value="v1">v1 (legacy µURU; secret in clear)</option>
          </select>
          <div class="actions"><button type="submit" class="primary">Send request</button></div>
        </form>
      </details>
      <div data-live="outgoing">${raw(f.outgoing)}</div>
    </section>
    <section class="card" id="incoming">
      <header><h2>Incoming requests</h2></header>
      <div data-live="incoming">${raw(f.incoming)}</div>
    </section>
    <section class="card" id="partners">
      <header><h2>Partners</h2></header>
      <div data-live="partners">${raw(f.partners)}</div>
    </section>
    <section class="card" id="outbox">
      <header><h2>Notifications to partners</h2></header>
      <div data-live="outbox">${raw(f.outbox)}</div>
    </section>
    ${replicas ? replicasSection(replicas) : ''}
    <dialog id="teardown-dialog">
      <form method="post" action="">
        ${csrfField(csrf)}
        <h2>Tear down <span data-peer-name></span>?</h2>
        <p>The trunk is removed from Asterisk and the partner is told to remove its side.</p>
        <label
          ><input type="checkbox" name="local_only" value="true" /> Local only (the partner is gone; don't
          notify it)</label
        >
        <div class="actions">
          <button type="button" data-close-dialog>Cancel</button
          ><button type="submit" class="danger">Tear down</button>
        </div>
      </form>
    </dialog>`;
}

export function teardownConfirmPage(p: PeerView, csrf: string): SafeHtml {
  return html`<h1>Tear down ${p.name}?</h1>
    <section class="card confirm">
      <p>
        Peer <strong>${p.name}</strong> (prefix ${p.prefix}, partner ${p.partner_url}) will be removed from
        Asterisk, and the partner told to remove its side.
      </p>
      <form method="post" action="/panel/federation/peers/${p.id}/teardown">
        ${csrfField(csrf)}
        <label
          ><input type="checkbox" name="local_only" value="true" /> Local only (the partner is gone; don't
          notify it)</label
        >
        <div class="actions">
          <a href="/panel/federation">Cancel</a><button type="submit" class="danger">Tear down</button>
        </div>
      </form>
    </section>`;
}

/** A Unicode v1 name is called otherwise in the dial plan: say so, so the admin finds it in Asterisk. */
function asteriskNameNote(v: { name: string; asterisk_name: string }) {
  return v.asterisk_name === v.name
    ? ''
    : html`<div class="small muted" data-asterisk-name>in Asterisk's dial plan: ${v.asterisk_name}</div>`;
}
