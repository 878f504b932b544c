import { PeerEntity } from '../../src/store/entities';
import { eventually } from '../harness/wait';
import { adminApi, call, type Instance, startInstance } from './admin-fixtures';

/**
 * GET /metrics on the admin listener after a real peering between two
 * instances: per-peer gauges come from the Peer rows, the federation
 * counters from the requests that really happened, the outbox gauges from
 * a notification that cannot be delivered (the partner is stopped).
 */

let a: Instance;
let b: Instance | null;

beforeAll(async () => {
  [a, b] = await Promise.all([startInstance('metrics-a'), startInstance('metrics-b')]);
});
afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
});

const scrape = async (i: Instance): Promise<string> => {
  const res = await call(i.adminUrl, 'GET', '/metrics');
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
  return res.text;
};

const sample = (text: string, name: string, labels = ''): number | null => {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
  return line ? Number(line.split(' ').pop()) : null;
};

describe('/metrics', () => {
  it('lists every instrument the operators need, and only on the admin listener', async () => {
    const text = await scrape(a);
    for (const name of [
      'uuru_fed_peer_reachable',
      'uuru_fed_peer_latency_ms',
      'uuru_fed_federation_requests_total',
      'uuru_fed_signature_failures_total',
      'uuru_fed_outbox_depth',
      'uuru_fed_outbox_oldest_age_seconds',
      'uuru_fed_reconcile_runs_total',
      'uuru_fed_drift_repaired_total',
      'uuru_fed_asterisk_reloads_total',
      'uuru_fed_asterisk_reload_duration_seconds',
      'uuru_fed_asterisk_connection_up',
      'uuru_fed_asterisk_link_state',
    ]) {
      expect(text).toContain(`# HELP ${name} `);
    }
    expect(sample(text, 'uuru_fed_asterisk_connection_up', 'link="ami"')).toBe(0);
    expect(sample(text, 'uuru_fed_asterisk_connection_up', 'link="ari"')).toBe(0);
    // Asterisk is switched off in these instances: each link is in state disabled, and in no other.
    for (const link of ['ami', 'ari']) {
      expect(sample(text, 'uuru_fed_asterisk_link_state', `link="${link}",state="disabled"`)).toBe(1);
      for (const state of ['connected', 'connecting', 'unreachable', 'wrong_port', 'login_refused']) {
        expect(sample(text, 'uuru_fed_asterisk_link_state', `link="${link}",state="${state}"`)).toBe(0);
      }
    }
    expect(sample(text, 'uuru_fed_outbox_depth')).toBe(0);
    expect(text).toContain('uuru_fed_process_');
    const onFederationListener = await call(a.federationUrl, 'GET', '/metrics');
    expect(onFederationListener.status).toBe(404);
  });

  it('shows per-peer reachability and latency from the database, requests by endpoint and code, signature failures', async () => {
    const created = await adminApi(a)('POST', '/federation/outgoing-requests', {
      name: 'mpeer',
      partner_url: b!.federationUrl,
      prefix: '61',
      codec: 'alaw',
    });
    expect(created.status).toBe(201);
    const incoming = await eventually('B has the request', async () => {
      const res = await adminApi(b!)('GET', '/federation/incoming-requests');
      return (res.json as { requests: { id: string }[] }).requests[0];
    });
    expect(
      (await adminApi(b!)('POST', `/federation/incoming-requests/${incoming.id}/accept`, { prefix: '62' }))
        .status,
    ).toBe(200);
    await eventually(
      'A has the peer',
      async () =>
        ((await adminApi(a)('GET', '/federation/peers')).json as { peers: unknown[] }).peers.length === 1,
    );

    let text = await scrape(a);
    expect(sample(text, 'uuru_fed_peer_reachable', 'peer="mpeer"')).toBe(-1);
    // What the Asterisk monitor writes when a qualify answers:
    await a.app
      .db!.getRepository(PeerEntity)
      .update({ name: 'mpeer' }, { reachability: 'reachable', latencyMs: 23 });
    text = await scrape(a);
    expect(sample(text, 'uuru_fed_peer_reachable', 'peer="mpeer"')).toBe(1);
    expect(sample(text, 'uuru_fed_peer_latency_ms', 'peer="mpeer"')).toBe(23);
    await a.app
      .db!.getRepository(PeerEntity)
      .update({ name: 'mpeer' }, { reachability: 'lagged', latencyMs: 2500 });
    text = await scrape(a);
    expect(sample(text, 'uuru_fed_peer_reachable', 'peer="mpeer"')).toBe(0.5);

    const bText = await scrape(b!);
    const requestLines = bText.split('\n').filter((l) => l.startsWith('uuru_fed_federation_requests_total{'));
    expect(requestLines.some((l) => /endpoint="[^"]+".*code="OK"|code="OK".*endpoint="[^"]+"/.test(l))).toBe(
      true,
    );

    const unsigned = await call(
      b!.federationUrl,
      'GET',
      '/federation/v2/peerings/00000000-0000-4000-8000-000000000000',
    );
    expect(unsigned.status).toBe(401);
    const afterBad = await scrape(b!);
    const failures = afterBad
      .split('\n')
      .filter((l) => l.startsWith('uuru_fed_signature_failures_total{reason='));
    expect(failures.length).toBeGreaterThan(0);
    expect(
      afterBad
        .split('\n')
        .some((l) => l.startsWith('uuru_fed_federation_requests_total{') && /code="FED_[A-Z_]+"/.test(l)),
    ).toBe(true);
  });

  it('shows outbox depth and age while a partner is down, and drops gauges of removed peers', async () => {
    await b!.stop();
    b = null;
    const peers = (await adminApi(a)('GET', '/federation/peers')).json as { peers: { id: string }[] };
    expect((await adminApi(a)('DELETE', `/federation/peers/${peers.peers[0].id}`)).status).toBe(204);
    const text = await eventually('outbox has the teardown', async () => {
      const t = await scrape(a);
      return (sample(t, 'uuru_fed_outbox_depth') ?? 0) >= 1 ? t : undefined;
    });
    expect(sample(text, 'uuru_fed_outbox_oldest_age_seconds')).toBeGreaterThanOrEqual(0);
    expect(sample(text, 'uuru_fed_peer_reachable', 'peer="mpeer"')).toBeNull();
  });
});
