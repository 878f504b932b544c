import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { type Instance, startInstances } from '../harness/instance';
import { parseExposition, promqlMetricNames, samplesOf } from '../harness/prometheus-text';
import { adminOk, incomingByName, peerByName } from '../harness/sidecar';
import { waitUntil } from '../harness/wait';

/**
 * examples/grafana/dashboard.json and examples/prometheus/alerts.yml query
 * only metrics a real sidecar exposes: two complete instances (real sidecar
 * processes, real Asterisks) peered over HTTP with a live trunk, a test call
 * and a refused signature behind them, so every series exists; A's /metrics
 * is scraped and every metric name in the dashboard's and the rules'
 * expressions must have samples in it. The expressions also parse (promtool
 * check rules over them as recording rules).
 */

jest.setTimeout(120_000);

const ROOT = path.resolve(__dirname, '..', '..');
const DASHBOARD = path.join(ROOT, 'examples', 'grafana', 'dashboard.json');
const RULES = path.join(ROOT, 'examples', 'prometheus', 'alerts.yml');

/** Names queried that a sidecar of this branch does not expose, and why. */
const NOT_FROM_THIS_SIDECAR: Record<string, string> = {
  up: "Prometheus' own series for each scrape target",
};

interface Panel {
  type: string;
  id: number;
  title: string;
  datasource?: { uid?: string };
  gridPos: { x: number; w: number };
  targets?: { expr: string }[];
  panels?: Panel[];
}
interface Dashboard {
  panels: Panel[];
  templating: { list: { name: string; type: string; query: unknown }[] };
}

const dashboard = JSON.parse(fs.readFileSync(DASHBOARD, 'utf8')) as Dashboard;
const allPanels = (ps: Panel[]): Panel[] => ps.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);

function dashboardExprs(): string[] {
  const exprs = allPanels(dashboard.panels).flatMap((p) => (p.targets ?? []).map((t) => t.expr));
  for (const v of dashboard.templating.list) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : (v.query as { query: string }).query;
    // label_values(<series selector>, <label>): the selector is the query.
    const m = /^label_values\((.*),\s*[a-zA-Z_]\w*\)$/.exec(q.trim());
    exprs.push(m ? m[1] : q);
  }
  return exprs;
}

function ruleExprs(): string[] {
  const doc = YAML.parse(fs.readFileSync(RULES, 'utf8')) as { groups: { rules: { expr: string }[] }[] };
  return doc.groups.flatMap((g) => g.rules.map((r) => r.expr));
}

/** Grafana's variables replaced by values Prometheus accepts, for promtool. */
const withoutVariables = (expr: string): string =>
  expr.replace(/\$__rate_interval|\$__interval|\$__range/g, '5m').replace(/\$\{?[a-zA-Z_]\w*\}?/g, '.*');

describe('shipped dashboard and alert rules', () => {
  it('the dashboard is well-formed: unique ids, every panel on the chosen data source, inside the grid', () => {
    const panels = allPanels(dashboard.panels);
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
    for (const p of panels) {
      expect(p.gridPos.x + p.gridPos.w).toBeLessThanOrEqual(24);
      if (p.type !== 'row') {
        expect({ title: p.title, uid: p.datasource?.uid }).toEqual({ title: p.title, uid: '${datasource}' });
        expect({ title: p.title, targets: (p.targets ?? []).length > 0 }).toEqual({
          title: p.title,
          targets: true,
        });
      }
    }
    // What the issue asks the dashboard to show.
    const queried = new Set(dashboardExprs().flatMap(promqlMetricNames));
    for (const name of [
      'uuru_fed_peer_state',
      'uuru_fed_peer_latency_seconds',
      'uuru_fed_test_calls_total',
      'uuru_fed_outbox_depth',
      'uuru_fed_asterisk_connection_up',
      'uuru_fed_key_expiry_timestamp_seconds',
      'uuru_fed_trunk_rtt_seconds',
      'uuru_fed_trunk_jitter_seconds',
      'uuru_fed_trunk_loss_ratio',
      'uuru_fed_trunk_active_calls',
    ]) {
      expect(queried).toContain(name);
    }
  });

  it('every expression parses (promtool check rules)', () => {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'uuru-dash-'));
    try {
      const exprs = [...dashboardExprs(), ...ruleExprs()].map(withoutVariables);
      const file = path.join(work, 'exprs.yml');
      fs.writeFileSync(
        file,
        YAML.stringify({
          groups: [{ name: 'exprs', rules: exprs.map((expr, i) => ({ record: `check:expr_${i}`, expr })) }],
        }),
      );
      const r = spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8' });
      expect(r.error).toBeUndefined();
      expect(`${r.stdout}${r.stderr}`).toContain(`SUCCESS: ${exprs.length} rules found`);
      expect(r.status).toBe(0);
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  });

  describe('against a real sidecar', () => {
    let A: Instance;
    let B: Instance;

    beforeAll(async () => {
      // Quality figures exist only during calls: A's scheduled quality probe (on by default) comes soon here,
      // and lasts past chan_iax2's first PING (21 s), so the round trip and B's report are in.
      [A, B] = await startInstances([
        {
          name: 'dash_a',
          db: 'sqlite',
          env: {
            UURU_ASTERISK_QUALITY_PROBE_INTERVAL_MS: '10000',
            UURU_ASTERISK_QUALITY_PROBE_DURATION_MS: '28000',
          },
        },
        { name: 'dash_b', db: 'sqlite' },
      ]);
      await adminOk(
        A.sidecar,
        'POST',
        '/federation/outgoing-requests',
        { name: 'dash', partner_url: B.sidecar.federationUrl, prefix: '81', codec: 'alaw' },
        201,
      );
      const incoming = await waitUntil(() => incomingByName(B.sidecar, 'dash'), { what: 'the request on B' });
      await adminOk(
        B.sidecar,
        'POST',
        `/federation/incoming-requests/${incoming.id}/accept`,
        { prefix: '82' },
        200,
      );
      // A live trunk: applied, qualified (latency, last seen) on A.
      const peer = await waitUntil(
        async () => {
          const p = (await peerByName(A.sidecar, 'dash')) as
            { id: string; reachability: string; latency_ms: number | null } | undefined;
          return p?.reachability === 'reachable' && p.latency_ms !== null ? p : undefined;
        },
        { what: 'the trunk reachable on A', timeoutMs: 40_000 },
      );
      const call = await adminOk<{ answered: boolean }>(
        A.sidecar,
        'POST',
        `/federation/peers/${peer.id}/test-call`,
        undefined,
        200,
      );
      expect(call.answered).toBe(true);
      // A refused signature, for uuru_fed_signature_failures_total.
      const unsigned = await fetch(
        `${A.sidecar.federationUrl}/federation/v2/peerings/00000000-0000-4000-8000-000000000000`,
      );
      expect(unsigned.status).toBe(401);
    }, 180_000);

    afterAll(async () => {
      await Promise.allSettled([A?.stop(), B?.stop()]);
    });

    it('every metric the dashboard and the alert rules query has samples in /metrics', async () => {
      const exposed = await waitUntil(
        async () => {
          const res = await fetch(`${A.sidecar.adminUrl}/metrics`);
          expect(res.status).toBe(200);
          const e = parseExposition(await res.text());
          return samplesOf(e, 'uuru_fed_trunk_rtt_seconds', { peer: 'dash' }).length > 0 ? e : null;
        },
        { what: "a quality probe's figures in /metrics", timeoutMs: 90_000, intervalMs: 1000 },
      );
      const names = new Set(exposed.samples.map((s) => s.name));

      const queried = new Set([...dashboardExprs(), ...ruleExprs()].flatMap(promqlMetricNames));
      expect(queried.size).toBeGreaterThan(20);
      const missing = [...queried].filter((n) => !names.has(n) && !(n in NOT_FROM_THIS_SIDECAR));
      expect(missing).toEqual([]);
      // The allow-list holds only names that are really queried and really absent here.
      for (const n of Object.keys(NOT_FROM_THIS_SIDECAR)) {
        expect({ n, queried: queried.has(n) }).toEqual({ n, queried: true });
        expect({ n, exposed: names.has(n) }).toEqual({ n, exposed: false });
      }

      // The trunk's own series, as the per-trunk panels select them.
      expect(samplesOf(exposed, 'uuru_fed_peer_state', { peer: 'dash', state: 'reachable' })[0]?.value).toBe(
        1,
      );
      expect(samplesOf(exposed, 'uuru_fed_peer_latency_seconds', { peer: 'dash' })).toHaveLength(1);
      expect(samplesOf(exposed, 'uuru_fed_peer_last_seen_timestamp_seconds', { peer: 'dash' })).toHaveLength(
        1,
      );
      expect(
        samplesOf(exposed, 'uuru_fed_peer_apply_state', { peer: 'dash', state: 'applied' })[0]?.value,
      ).toBe(1);
      expect(
        samplesOf(exposed, 'uuru_fed_test_calls_total', { peer: 'dash', result: 'answered' })[0]?.value,
      ).toBe(1);
      expect(samplesOf(exposed, 'uuru_fed_test_call_setup_seconds_count', { peer: 'dash' })[0]?.value).toBe(
        1,
      );
      for (const direction of ['inbound', 'outbound']) {
        expect(samplesOf(exposed, 'uuru_fed_trunk_loss_ratio', { peer: 'dash', direction })).toHaveLength(1);
        expect(samplesOf(exposed, 'uuru_fed_trunk_jitter_seconds', { peer: 'dash', direction })).toHaveLength(
          1,
        );
      }
      expect(samplesOf(exposed, 'uuru_fed_trunk_active_calls', { peer: 'dash' })).toHaveLength(1);
    }, 120_000);
  });
});
