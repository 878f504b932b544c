import {
  type FederationMap,
  MAP_STATE_LABELS,
  MAP_STATES,
  type MapPeer,
  type MapState,
  type PublishedPeer,
} from '../../core/federation-map';
import { html, type SafeHtml } from './html';

/**
 * The federation map as server-rendered SVG (no script, no external asset;
 * it scales to the card's width, so it fits 390 px): us in the middle, our
 * peers on the first ring with prefix, dialect and state, latency and call
 * quality on the edges, and each publishing partner's own peers on a second
 * ring behind it. A state shows as a colour and always as a word too (in the
 * node's label, the legend and the table). Every text from a partner passes
 * through the escaping `html` tag; partner data reaches this file only after
 * src/federation/peer-map.ts validated it.
 */

const SIZE = 560;
const C = SIZE / 2;
const R1 = 150;
const R2 = 232;
/** Second-ring nodes drawn per partner; the table lists all. */
const RING_DRAWN = 10;

/** Fill colours; the words beside them carry the meaning too. */
const COLOURS: Record<MapState, string> = {
  up: '#1a7f37',
  lagged: '#bf8700',
  down: '#cf222e',
  not_applied: '#8250df',
  partner_missing: '#bc4c00',
  unknown: '#8c959f',
};

const cut = (s: string, n: number): string => (s.length > n ? `${s.slice(0, n - 1)}…` : s);
const ms = (v: number | null): string => (v === null ? '–' : `${Math.round(v)} ms`);
const pct = (v: number | null): string => (v === null ? '–' : `${(v * 100).toFixed(v < 0.1 ? 1 : 0)} %`);
const xy = (r: number, a: number): [number, number] => [C + r * Math.cos(a), C + r * Math.sin(a)];
const n1 = (v: number): string => v.toFixed(1);

/** A partner's published peers that are not us. */
const ringOf = (p: MapPeer, self: string): PublishedPeer[] =>
  p.ring.kind === 'published' ? p.ring.peers.filter((x) => x.server_name !== self) : [];

function edgeText(p: MapPeer): string[] {
  const lines = [`latency ${ms(p.latencyMs)}`];
  const q = p.quality;
  if (q) {
    lines.push(`RTT ${ms(q.rttMs)} · loss ${pct(q.inbound.lossRatio)} in / ${pct(q.outbound.lossRatio)} out`);
    lines.push(`jitter ${ms(q.inbound.jitterMs)} in / ${ms(q.outbound.jitterMs)} out`);
  }
  return lines;
}

function label(x: number, y: number, lines: { text: string; bold?: boolean }[], size: number): SafeHtml {
  return html`<text
    x="${n1(x)}"
    y="${n1(y)}"
    text-anchor="middle"
    font-size="${size}"
    fill="#1d2430"
    stroke="#fff"
    stroke-width="3"
    paint-order="stroke"
  >
    ${lines.map(
      (l, i) =>
        html`<tspan x="${n1(x)}" dy="${i === 0 ? 0 : size + 2}" font-weight="${l.bold ? 600 : 400}"
          >${l.text}</tspan
        >`,
    )}
  </text>`;
}

function mapSvg(map: FederationMap): SafeHtml {
  const self = map.self.serverName;
  const n = map.peers.length;
  const slice = (2 * Math.PI) / Math.max(1, n);
  const parts: SafeHtml[] = [];
  const nodes: SafeHtml[] = [];
  map.peers.forEach((p, i) => {
    const a = -Math.PI / 2 + i * slice;
    const [x, y] = xy(R1, a);
    const ring = ringOf(p, self);
    const drawn = ring.slice(0, RING_DRAWN);
    const spread = Math.min(slice * 0.8, 0.3 * Math.max(1, drawn.length - 1));
    drawn.forEach((r, j) => {
      const b = drawn.length === 1 ? a : a - spread / 2 + (j * spread) / (drawn.length - 1);
      const [rx, ry] = xy(R2, b);
      parts.push(
        html`<line
          x1="${n1(x)}"
          y1="${n1(y)}"
          x2="${n1(rx)}"
          y2="${n1(ry)}"
          stroke="#8c959f"
          stroke-dasharray="4 3"
        />`,
      );
      nodes.push(
        html`<g
          data-ring="2"
          data-via="${p.serverName}"
          data-server="${r.server_name}"
          data-state="${r.state}"
        >
          <circle cx="${n1(rx)}" cy="${n1(ry)}" r="9" fill="${COLOURS[r.state]}" stroke="#1d2430" />
          ${label(rx, ry + 22, [{ text: cut(r.server_name, 18) }, { text: MAP_STATE_LABELS[r.state] }], 13)}
        </g>`,
      );
    });
    if (ring.length > drawn.length) {
      const [mx, my] = xy(R2 + 26, a);
      nodes.push(label(mx, my, [{ text: `+${ring.length - drawn.length} more` }], 11));
    }
    const [ex, ey] = xy(R1 / 2, a);
    parts.push(
      html`<g data-edge="${p.name}">
        <line
          x1="${C}"
          y1="${C}"
          x2="${n1(x)}"
          y2="${n1(y)}"
          stroke="${COLOURS[p.state]}"
          stroke-width="3"
          stroke-dasharray="${p.state === 'up' ? '' : '8 5'}"
        />
        ${label(
          ex,
          ey - 8,
          edgeText(p).map((text) => ({ text })),
          12,
        )}
      </g>`,
    );
    nodes.push(
      html`<g data-ring="1" data-peer="${p.name}" data-server="${p.serverName}" data-state="${p.state}">
        <circle
          cx="${n1(x)}"
          cy="${n1(y)}"
          r="18"
          fill="${COLOURS[p.state]}"
          stroke="#1d2430"
          stroke-width="2"
        />
        ${label(
          x,
          y + 34,
          [
            { text: cut(p.name, 24), bold: true },
            { text: `prefix ${p.prefix} · ${p.dialect}` },
            { text: MAP_STATE_LABELS[p.state] },
          ],
          15,
        )}
      </g>`,
    );
  });
  const ringCount = map.peers.reduce((k, p) => k + ringOf(p, self).length, 0);
  const summary = `${n} peer${n === 1 ? '' : 's'}: ${map.peers
    .map((p) => `${p.name} ${MAP_STATE_LABELS[p.state]}`)
    .join(', ')}${ringCount ? `; ${ringCount} peers of partners on the second ring` : ''}.`;
  return html`<svg
    viewBox="0 0 ${SIZE} ${SIZE}"
    width="100%"
    preserveAspectRatio="xMidYMid meet"
    role="img"
    aria-labelledby="map-t map-d"
    data-map
  >
    <title id="map-t">Federation map of ${self}</title>
    <desc id="map-d">${summary}</desc>
    <circle cx="${C}" cy="${C}" r="${R1}" fill="none" stroke="#d9dee5" />
    ${parts} ${nodes}
    <g data-self>
      <circle cx="${C}" cy="${C}" r="24" fill="#1f6feb" stroke="#1d2430" stroke-width="2" />
      ${label(C, C + 42, [{ text: 'us', bold: true }, { text: cut(self, 28) }], 15)}
    </g>
  </svg>`;
}

function legend(): SafeHtml {
  return html`<ul class="map-legend" aria-label="Legend">
    ${MAP_STATES.map(
      (s) =>
        html`<li>
          <svg width="14" height="14" aria-hidden="true">
            <circle cx="7" cy="7" r="6" fill="${COLOURS[s]}" stroke="#1d2430" />
          </svg>
          ${MAP_STATE_LABELS[s]}
        </li>`,
    )}
    <li class="small muted">solid line: up; dashed: every other state; dotted grey: a partner's own peer</li>
  </ul>`;
}

function ringCell(p: MapPeer, self: string): SafeHtml {
  switch (p.ring.kind) {
    case 'absent':
      return html`<span class="muted">not published</span>`;
    case 'refused':
      return html`<span class="b-bad" data-refused
        >refused (${p.ring.code}: ${p.ring.reason}); none shown</span
      >`;
    case 'published': {
      const ring = ringOf(p, self);
      return ring.length === 0
        ? html`<span class="muted">none besides us</span>`
        : html`<ul class="plain">
            ${ring.map((r) => html`<li>${r.server_name}: ${MAP_STATE_LABELS[r.state]}</li>`)}
          </ul>`;
    }
  }
}

export function mapPage(map: FederationMap): SafeHtml {
  const self = map.self.serverName;
  return html`<h1>Federation map</h1>
    <p><a href="/panel/federation">← Federation</a></p>
    <section class="card" id="map">
      <header><h2>Us and our peers</h2></header>
      ${
        map.peers.length === 0
          ? html`<p class="muted" data-empty>No peers yet: the map shows us alone.</p>`
          : html`<figure class="federation-map">${mapSvg(map)}</figure>`
      }
      ${legend()}
      <p class="small muted">
        Second ring: the peers a partner publishes in its descriptor (only partners that opt in), with the
        state it reports; refreshed with its descriptor, at most every 30 s.
      </p>
    </section>
    <section class="card" id="map-table">
      <header><h2>The map as a table</h2></header>
      ${
        map.peers.length === 0
          ? html`<p class="muted">No peers yet.</p>`
          : html`<div class="table-wrap" tabindex="0" role="region" aria-label="Peers on the map">
              <table>
                <thead>
                  <tr>
                    <th scope="col">Peer</th>
                    <th scope="col">Prefix</th>
                    <th scope="col">Dialect</th>
                    <th scope="col">State</th>
                    <th scope="col">Latency</th>
                    <th scope="col">Call quality</th>
                    <th scope="col">Their peers</th>
                  </tr>
                </thead>
                <tbody>
                  ${map.peers.map(
                    (p) =>
                      html`<tr data-peer="${p.name}">
                        <th scope="row">${p.name}<br /><span class="small muted">${p.serverName}</span></th>
                        <td>${p.prefix}</td>
                        <td>${p.dialect}</td>
                        <td>${MAP_STATE_LABELS[p.state]}</td>
                        <td>${ms(p.latencyMs)}</td>
                        <td>
                          ${
                            p.quality
                              ? html`RTT ${ms(p.quality.rttMs)}; loss ${pct(p.quality.inbound.lossRatio)} in,
                                ${pct(p.quality.outbound.lossRatio)} out; jitter
                                ${ms(p.quality.inbound.jitterMs)} in, ${ms(p.quality.outbound.jitterMs)} out`
                              : html`<span class="muted">no call in 24 h</span>`
                          }
                        </td>
                        <td>${ringCell(p, self)}</td>
                      </tr>`,
                  )}
                </tbody>
              </table>
            </div>`
      }
    </section>`;
}
