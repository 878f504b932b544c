import fs from 'node:fs';
import path from 'node:path';
import { PeerEntity } from '../../src/store/entities';

import { adminApi, call, type Instance, peerInstances, startInstance } from './admin-fixtures';
import { waitUntil } from '../harness/wait';

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
      'uuru_fed_build_info',
      'uuru_fed_peer_state',
      'uuru_fed_peer_latency_seconds',
      'uuru_fed_peer_last_seen_timestamp_seconds',
      'uuru_fed_peer_apply_state',
      'uuru_fed_test_calls_total',
      'uuru_fed_test_call_setup_seconds',
      'uuru_fed_partner_checks_total',
      'uuru_fed_key_expiry_timestamp_seconds',
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
    const { version } = JSON.parse(
      fs.readFileSync(path.resolve(__dirname, '..', '..', 'package.json'), 'utf8'),
    ) as { version: string };
    expect(sample(text, 'uuru_fed_build_info', `version="${version}"`)).toBe(1);
    expect(text).toContain('\nprocess_cpu_seconds_total ');
    expect(text).not.toContain('uuru_fed_process_');
    const onFederationListener = await call(a.federationUrl, 'GET', '/metrics');
    expect(onFederationListener.status).toBe(404);
  });

  it('shows per-peer reachability and latency from the database, requests by endpoint and code, signature failures', async () => {
    await peerInstances(a, b!, { name: 'mpeer', aPrefix: '61', bPrefix: '62' });

    let text = await scrape(a);
    expect(sample(text, 'uuru_fed_peer_state', 'peer="mpeer",state="unknown"')).toBe(1);
    expect(sample(text, 'uuru_fed_peer_state', 'peer="mpeer",state="reachable"')).toBe(0);
    expect(sample(text, 'uuru_fed_peer_latency_seconds', 'peer="mpeer"')).toBeNull();
    expect(sample(text, 'uuru_fed_peer_last_seen_timestamp_seconds', 'peer="mpeer"')).toBeNull();
    // Asterisk is off in these instances: the peer is never applied.
    expect(sample(text, 'uuru_fed_peer_apply_state', 'peer="mpeer",state="pending"')).toBe(1);
    // What the Asterisk monitor writes when a qualify answers:
    const seenAt = Date.now() - 5000;
    await a.app
      .db!.getRepository(PeerEntity)
      .update({ name: 'mpeer' }, { reachability: 'reachable', latencyMs: 23, lastSeen: seenAt });
    text = await scrape(a);
    expect(sample(text, 'uuru_fed_peer_state', 'peer="mpeer",state="reachable"')).toBe(1);
    expect(sample(text, 'uuru_fed_peer_state', 'peer="mpeer",state="unknown"')).toBe(0);
    expect(sample(text, 'uuru_fed_peer_latency_seconds', 'peer="mpeer"')).toBe(0.023);
    expect(sample(text, 'uuru_fed_peer_last_seen_timestamp_seconds', 'peer="mpeer"')).toBe(seenAt / 1000);
    await a.app
      .db!.getRepository(PeerEntity)
      .update({ name: 'mpeer' }, { reachability: 'lagged', latencyMs: 2500 });
    text = await scrape(a);
    expect(sample(text, 'uuru_fed_peer_state', 'peer="mpeer",state="lagged"')).toBe(1);
    expect(sample(text, 'uuru_fed_peer_state', 'peer="mpeer",state="reachable"')).toBe(0);
    expect(sample(text, 'uuru_fed_peer_latency_seconds', 'peer="mpeer"')).toBe(2.5);

    // Our own keys: the active signing and agreement keys, with their expiry in seconds.
    const keys = text.split('\n').filter((l) => l.startsWith('uuru_fed_key_expiry_timestamp_seconds{'));
    expect(keys.filter((l) => l.includes('status="active"')).map((l) => /alg="(\w+)"/.exec(l)?.[1])).toEqual(
      expect.arrayContaining(['ed25519', 'x25519']),
    );
    for (const l of keys) expect(Number(l.split(' ').pop()) * 1000).toBeGreaterThan(Date.now());

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
    const text = await waitUntil(
      async () => {
        const t = await scrape(a);
        return (sample(t, 'uuru_fed_outbox_depth') ?? 0) >= 1 ? t : undefined;
      },
      { what: 'outbox has the teardown' },
    );
    expect(sample(text, 'uuru_fed_outbox_oldest_age_seconds')).toBeGreaterThanOrEqual(0);
    expect(text).not.toMatch(/peer="mpeer"/);
  });
});
