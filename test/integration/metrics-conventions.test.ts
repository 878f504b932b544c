import { spawnSync } from 'node:child_process';
import { APPLY_STATES, PARTNER_CHECK_RESULTS, PEER_STATES, TEST_CALL_RESULTS } from '../../src/core/metrics';
import { type Exposition, parseExposition, samplesOf } from '../harness/prometheus-text';
import { adminApi, call, type Instance, peerInstances, startInstance } from './admin-fixtures';

/**
 * GET /metrics keeps Prometheus conventions (docs/metrics.md): base units,
 * counters ending in _total, Node's process metrics under their usual names,
 * build info, and per-peer series that exist for every configured peer from
 * start-up (a fresh process, before any event) and go with the peer. Three real
 * instances peered over HTTP; the exposition is also linted by promtool.
 */

let a: Instance;
let b: Instance;
let c: Instance;
let peerIds: { p1: string; p2: string };

beforeAll(async () => {
  [a, b, c] = await Promise.all([startInstance('conv-a'), startInstance('conv-b'), startInstance('conv-c')]);
  // One peering per partner: A with B and with C.
  const p1 = await peerInstances(a, b, { name: 'conv_one', aPrefix: '71', bPrefix: '72' });
  const p2 = await peerInstances(a, c, { name: 'conv_two', aPrefix: '73', bPrefix: '74' });
  peerIds = { p1: p1.onA, p2: p2.onA };
});
afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop(), c?.stop()]);
});

const scrapeText = async (i: Instance): Promise<string> => {
  const res = await call(i.adminUrl, 'GET', '/metrics');
  expect(res.status).toBe(200);
  return res.text;
};
const scrape = async (i: Instance): Promise<Exposition> => parseExposition(await scrapeText(i));

/** Each state of `states` has exactly one series for the peer, and exactly one of them is 1. */
function expectOneHot(e: Exposition, name: string, peer: string, states: readonly string[]): void {
  const series = samplesOf(e, name, { peer });
  expect(series.map((s) => s.labels.state).sort()).toEqual([...states].sort());
  expect(series.filter((s) => s.value === 1)).toHaveLength(1);
  expect(series.every((s) => s.value === 0 || s.value === 1)).toBe(true);
}

function expectPeerSeries(e: Exposition, peer: string): void {
  expectOneHot(e, 'uuru_fed_peer_state', peer, PEER_STATES);
  // Active calls from start-up (these instances have no Asterisk: none); quality figures only once measured.
  expect(samplesOf(e, 'uuru_fed_trunk_active_calls', { peer })).toEqual([
    expect.objectContaining({ value: 0 }),
  ]);
  expectOneHot(e, 'uuru_fed_peer_apply_state', peer, APPLY_STATES);
  expect(
    samplesOf(e, 'uuru_fed_test_calls_total', { peer })
      .map((s) => s.labels.result)
      .sort(),
  ).toEqual([...TEST_CALL_RESULTS].sort());
  expect(
    samplesOf(e, 'uuru_fed_partner_checks_total', { peer })
      .map((s) => s.labels.result)
      .sort(),
  ).toEqual([...PARTNER_CHECK_RESULTS].sort());
}

describe('/metrics conventions', () => {
  it('names: counters end in _total, base units only, process_* and nodejs_* as Node exports them, build info', async () => {
    const e = await scrape(a);
    const families = [...e.types.entries()];
    expect(families.length).toBeGreaterThan(30);
    for (const [name, type] of families) {
      if (type === 'counter') expect(name).toMatch(/_total$/);
      // No milliseconds (or other scaled units) anywhere: seconds and bytes.
      expect(name).not.toMatch(/_(ms|milliseconds|microseconds|kilobytes|megabytes)(_|$)/);
    }
    for (const name of [
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
      'process_start_time_seconds',
    ]) {
      expect(samplesOf(e, name)).toHaveLength(1);
    }
    expect(samplesOf(e, 'nodejs_heap_size_used_bytes')).toHaveLength(1);
    expect(families.filter(([n]) => n.startsWith('uuru_fed_process'))).toEqual([]);
    const build = samplesOf(e, 'uuru_fed_build_info');
    expect(build).toHaveLength(1);
    expect(build[0]).toMatchObject({
      value: 1,
      labels: { version: expect.stringMatching(/^\d+\.\d+\.\d+/) },
    });
    // Timestamps are Unix seconds (not ms): an expiry within the next few years.
    for (const s of samplesOf(e, 'uuru_fed_key_expiry_timestamp_seconds')) {
      expect(s.value).toBeGreaterThan(Date.now() / 1000);
      expect(s.value).toBeLessThan(Date.now() / 1000 + 5 * 366 * 86400);
    }
  });

  it("passes promtool's linter, apart from three prom-client standard gauges named *_total", async () => {
    const text = await scrapeText(a);
    const lint = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(lint.error).toBeUndefined();
    const problems = `${lint.stdout}${lint.stderr}`.split('\n').filter((l) => l.trim() !== '');
    // prom-client's default metrics name these gauges so; dashboards know them by these names.
    const known =
      /^nodejs_active_(handles|requests|resources)_total non-counter metrics should not have "_total" suffix$/;
    expect(problems.filter((l) => !known.test(l))).toEqual([]);
  });

  it('every configured peer has all its series, one state at 1, from the first scrape of a fresh process', async () => {
    expectPeerSeries(await scrape(a), 'conv_one');
    // A new process over the same data: no event has happened in it yet.
    await a.halt();
    await a.resume();
    const fresh = await scrape(a);
    expectPeerSeries(fresh, 'conv_one');
    expectPeerSeries(fresh, 'conv_two');
    expect(samplesOf(fresh, 'uuru_fed_peer_state', { state: 'unknown' }).map((s) => s.value)).toEqual([1, 1]);
  });

  it("a removed peer's series are gone, the other peer's stay", async () => {
    // Setup-time histograms start with a peer's first answered test call; these instances have no
    // Asterisk, so the observation is made on the app's instruments directly, as the test caller would.
    a.app.metrics.testCallSetup.observe({ peer: 'conv_one' }, 0.2);
    a.app.metrics.testCallSetup.observe({ peer: 'conv_two' }, 0.3);
    a.app.metrics.testCalls.inc({ peer: 'conv_two', result: 'answered' });
    expect(
      samplesOf(await scrape(a), 'uuru_fed_test_call_setup_seconds_count', { peer: 'conv_one' }),
    ).toEqual([expect.objectContaining({ value: 1 })]);
    expect((await adminApi(a)('DELETE', `/federation/peers/${peerIds.p1}`)).status).toBe(204);
    const e = await scrape(a);
    expect(e.samples.filter((s) => s.labels.peer === 'conv_one')).toEqual([]);
    expectPeerSeries(e, 'conv_two');
    // Scrapes keep what the counters counted.
    expect(samplesOf(e, 'uuru_fed_test_call_setup_seconds_sum', { peer: 'conv_two' })[0]?.value).toBe(0.3);
    expect(
      samplesOf(e, 'uuru_fed_test_calls_total', { peer: 'conv_two', result: 'answered' })[0]?.value,
    ).toBe(1);
  });
});
