import type { TrunkQualitySample } from '../../core/trunk-quality';
import { formatTime } from './federation-page';
import { html, type SafeHtml } from './html';

/**
 * A trunk's call quality over the last 24 h as small server-rendered SVG
 * charts (no script, no external asset; the SVG scales to the card's width,
 * so it fits 390 px). Inbound and outbound differ by colour and by dash, and
 * every chart has a text title and summary for screen readers; the latest
 * figures are also in a table.
 */

const W = 600;
const H = 150;
const PAD = { left: 44, right: 10, top: 10, bottom: 24 };
const INBOUND = { colour: '#1d5e9e', dash: '' };
const OUTBOUND = { colour: '#a33f14', dash: '6 4' };

interface Series {
  label: string;
  style: { colour: string; dash: string };
  points: { at: number; value: number | null }[];
}

const fmt = (v: number, unit: string): string =>
  `${v >= 100 || Number.isInteger(v) ? Math.round(v) : v.toFixed(1)}${unit}`;

/** A nice upper bound for the y axis. */
function ceiling(max: number): number {
  if (max <= 0) return 1;
  const step = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 5, 10]) if (m * step >= max) return m * step;
  return 10 * step;
}

export function qualityChart(opts: {
  id: string;
  title: string;
  unit: string;
  from: number;
  to: number;
  series: Series[];
}): SafeHtml {
  const { id, title, unit, from, to, series } = opts;
  const values = series.flatMap((s) => s.points.map((p) => p.value)).filter((v): v is number => v !== null);
  const top = ceiling(Math.max(0, ...values));
  const x = (at: number) => PAD.left + ((at - from) / Math.max(1, to - from)) * (W - PAD.left - PAD.right);
  const y = (v: number) => H - PAD.bottom - (v / top) * (H - PAD.top - PAD.bottom);
  const lines = series.map((s) => {
    // A gap (no figure, or more than 15 min without a sample) breaks the line.
    const runs: string[][] = [];
    let run: string[] = [];
    let last: number | null = null;
    for (const p of s.points) {
      if (p.value === null || (last !== null && p.at - last > 15 * 60 * 1000)) {
        if (run.length) runs.push(run);
        run = [];
      }
      if (p.value !== null) run.push(`${x(p.at).toFixed(1)},${y(p.value).toFixed(1)}`);
      last = p.at;
    }
    if (run.length) runs.push(run);
    return html`<g data-series="${s.label}">
      ${runs.map((r) =>
        r.length === 1
          ? html`<circle
              cx="${r[0].split(',')[0]}"
              cy="${r[0].split(',')[1]}"
              r="2.5"
              fill="${s.style.colour}"
            />`
          : html`<polyline
              points="${r.join(' ')}"
              fill="none"
              stroke="${s.style.colour}"
              stroke-width="1.5"
              stroke-dasharray="${s.style.dash}"
            />`,
      )}
    </g>`;
  });
  const summary = series
    .map((s) => {
      const v = s.points.map((p) => p.value).filter((n): n is number => n !== null);
      return v.length === 0
        ? `${s.label}: no figures`
        : `${s.label}: ${v.length} samples, latest ${fmt(v[v.length - 1], unit)}, highest ${fmt(Math.max(...v), unit)}`;
    })
    .join('; ');
  const grid = [0, top / 2, top];
  return html`<figure class="quality-chart">
    <figcaption>${title}</figcaption>
    <svg
      viewBox="0 0 ${W} ${H}"
      width="100%"
      preserveAspectRatio="xMidYMid meet"
      role="img"
      aria-labelledby="${id}-t ${id}-d"
      data-chart="${id}"
    >
      <title id="${id}-t">${title}, last 24 h</title>
      <desc id="${id}-d">${summary}</desc>
      ${grid.map(
        (g) =>
          html`<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${y(g)}" y2="${y(g)}" stroke="#d0d0d0" />
            <text x="${PAD.left - 4}" y="${y(g) + 4}" text-anchor="end" font-size="11" fill="#333"
              >${fmt(g, unit)}</text
            >`,
      )}
      <text x="${PAD.left}" y="${H - 6}" font-size="11" fill="#333">−24 h</text>
      <text
        x="${(PAD.left + W - PAD.right) / 2}"
        y="${H - 6}"
        font-size="11"
        fill="#333"
        text-anchor="middle"
      >
        −12 h
      </text>
      <text x="${W - PAD.right}" y="${H - 6}" font-size="11" fill="#333" text-anchor="end">now</text>
      ${lines}
    </svg>
    ${
      series.length > 1
        ? html`<p class="small legend">
            ${series.map(
              (s) =>
                html`<span
                  ><svg width="24" height="8" aria-hidden="true">
                    <line
                      x1="0"
                      x2="24"
                      y1="4"
                      y2="4"
                      stroke="${s.style.colour}"
                      stroke-width="2"
                      stroke-dasharray="${s.style.dash}"
                    />
                  </svg>
                  ${s.label}</span
                > `,
            )}
          </p>`
        : ''
    }
  </figure>`;
}

const pct = (r: number | null) => (r === null ? null : r * 100);
const show = (v: number | null, unit: string) =>
  v === null ? html`<span class="muted">unknown</span>` : fmt(v, unit);

export function qualityPage(opts: {
  peer: { id: string; name: string };
  samples: TrunkQualitySample[];
  from: number;
  to: number;
}): SafeHtml {
  const { peer, samples, from, to } = opts;
  const pick = (f: (s: TrunkQualitySample) => number | null) =>
    samples.map((s) => ({ at: s.at, value: f(s) }));
  const both = (f: (d: TrunkQualitySample['inbound']) => number | null): Series[] => [
    { label: 'inbound (partner to us)', style: INBOUND, points: pick((s) => f(s.inbound)) },
    { label: 'outbound (us to partner)', style: OUTBOUND, points: pick((s) => f(s.outbound)) },
  ];
  const latest = samples.at(-1);
  return html`<h1>Call quality: ${peer.name}</h1>
    <p><a href="/panel/federation#peers">← Federation</a></p>
    <section class="card" id="quality" data-peer="${peer.name}">
      <header><h2>Last 24 hours</h2></header>
      ${
        samples.length === 0
          ? html`<p class="muted" data-empty>
              No call or quality probe on this trunk in the last 24 hours: figures exist only while a call is
              up.
            </p>`
          : html`<p class="small muted">
                ${samples.length} samples, during calls and quality probes; latest
                ${formatTime(new Date(latest!.at).toISOString())}.
              </p>
              ${qualityChart({
                id: 'q-rtt',
                title: 'Round trip (ms)',
                unit: ' ms',
                from,
                to,
                series: [{ label: 'round trip', style: INBOUND, points: pick((s) => s.rttMs) }],
              })}
              ${qualityChart({ id: 'q-loss', title: 'Loss (%)', unit: ' %', from, to, series: both((d) => pct(d.lossRatio)) })}
              ${qualityChart({ id: 'q-jitter', title: 'Jitter (ms)', unit: ' ms', from, to, series: both((d) => d.jitterMs) })}
              <div class="table-wrap">
                <table>
                  <caption>
                    Latest figures
                  </caption>
                  <thead>
                    <tr>
                      <th scope="col">Direction</th>
                      <th scope="col">Loss</th>
                      <th scope="col">Jitter</th>
                    </tr>
                  </thead>
                  <tbody>
                    <tr>
                      <th scope="row">inbound</th>
                      <td>${show(pct(latest!.inbound.lossRatio), ' %')}</td>
                      <td>${show(latest!.inbound.jitterMs, ' ms')}</td>
                    </tr>
                    <tr>
                      <th scope="row">outbound</th>
                      <td>${show(pct(latest!.outbound.lossRatio), ' %')}</td>
                      <td>${show(latest!.outbound.jitterMs, ' ms')}</td>
                    </tr>
                  </tbody>
                </table>
              </div>
              <p class="small">Round trip: ${show(latest!.rttMs, ' ms')}</p>`
      }
    </section>`;
}
