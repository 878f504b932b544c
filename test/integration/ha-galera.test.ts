/**
 * Replicas of one instance (issue 16): two sidecar processes with
 * UURU_HA_ENABLED on one MariaDB database, one identity (the same public
 * address and key-encryption secret), and a partner sidecar. What must hold
 * whichever replica a request reaches: a signed request replayed to the other
 * replica is refused, the per-origin and per-IP limits and failed logins
 * count across both, a panel session made on one is valid on the other, a
 * cluster job runs once per period across both, and each outbox item is
 * delivered once.
 *
 * The same on a real 3-node Galera cluster (test/harness/galera.ts) with the
 * replicas on two nodes, plus a real 1213, a leased run's transaction fenced
 * off after a takeover through another node, and a node killed and rejoined.
 * Two more replicas, each bound to its own real Asterisk (ha.asteriskNode):
 * a peer is applied on both Asterisks with a state per node, the status lists
 * replicas, nodes and lease holders, and a replica killed and brought back
 * converges its Asterisk to the database.
 * Last, the chaos run on the Galera cluster: two replicas each with its own
 * real Asterisk behind one TCP balancer address, 50 handshakes with the
 * partner accepted through both while a replica and a Galera node are
 * SIGKILLed at seeded moments (UURU_TEST_FAULT_SEED repeats a run) and
 * brought back.
 */
import crypto from 'node:crypto';
import mysql from 'mysql2/promise';
import { DESCRIPTOR_PATH } from '../../src/federation/descriptor';
import { signRequest } from '../../src/federation/http-signature';
import { configSchema } from '../../src/config/schema';
import { createAdminUser } from '../../src/http/admin/admin-users';
import { openDatabase } from '../../src/store/data-source';
import { type GaleraCluster, startGaleraCluster } from '../harness/galera';
import { sleep } from '../harness/processes';
import { faultSeed, seededRandom } from '../harness/seeded-random';
import { startTcpBalancer, type TcpBalancer } from '../harness/tcp-balancer';
import { externalMariaDbFromEnv, testDatabaseName } from '../harness/mariadb';
import {
  isWriteConflict,
  managerOf,
  retryOnConflict,
  TypeormTransactions,
} from '../../src/store/typeorm/transactions';
import { FencedOut, runFenced } from '../../src/core/fence';
import { DbJobLeases } from '../../src/store/ha';
import { parseExposition, samplesOf } from '../harness/prometheus-text';
import {
  activeKeys,
  adminOk,
  peerByName,
  destroyAll,
  incomingByName,
  type IncomingView,
  peerRow,
  startSidecar,
  type Sidecar,
} from '../harness/sidecar';
import { waitUntil } from '../harness/wait';
import { type Instance, sidecarConfig, startInstance } from '../harness/instance';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../harness/chromium';
import { chromium } from 'playwright-core';
import { call, panelLogin, tryLogin } from './admin-fixtures';
import { cli } from './cli-fixtures';

const SECRET = crypto.randomBytes(24).toString('base64url');
const PASSWORD = 'a long enough password for ha';
const ORIGIN_LIMIT = 30;
const config = {
  jobs: { outboxPollMs: 100 },
  notify: { checkIntervalMs: 1000 },
  federation: { unsolicitedRequestsPerOriginPerHour: 1000, rateLimitPerOriginPerMinute: ORIGIN_LIMIT },
};
const replicaEnv = (id: string): Record<string, string> => ({
  UURU_HA_ENABLED: 'true',
  UURU_HA_REPLICA_ID: id,
  UURU_KEY_ENCRYPTION_SECRET: SECRET,
});

let partner: Sidecar;
let a: Sidecar;
let b: Sidecar;

beforeAll(async () => {
  [partner, a] = await Promise.all([
    startSidecar({
      name: 'ha_partner',
      // 50 accepts from the chaos describe's instance in about a minute: above the replicas' limit.
      config: {
        jobs: { outboxPollMs: 100 },
        federation: { ...config.federation, rateLimitPerOriginPerMinute: 1000 },
      },
    }),
    startSidecar({ name: 'ha_a', db: 'mariadb', env: replicaEnv('replica-a'), config }),
  ]);
  // The second replica joins A's database once A made the keys, and answers as A (one public address).
  b = await startSidecar({
    name: 'ha_b',
    db: 'mariadb',
    sharedMariaDb: a.mariaDbName ?? '',
    env: { ...replicaEnv('replica-b'), UURU_FEDERATION_UURU_HOST: a.federationUrl },
    config,
  });
}, 180_000);

afterAll(async () => {
  await destroyAll([b, partner]);
  await destroyAll([a]);
});

const requestBody = (name: string, agreementKid: string) => ({
  request_id: crypto.randomUUID(),
  name,
  codec: 'g722',
  extension_length: 4,
  base_url: partner.federationUrl,
  iax2: { host: '127.0.0.1', port: 4569 },
  agreement_kid: agreementKid,
});

async function metric(s: Sidecar, name: string, labels: Record<string, string>): Promise<number> {
  const res = await fetch(`${s.adminUrl}/metrics`);
  return samplesOf(parseExposition(await res.text()), name, labels).reduce((n, x) => n + x.value, 0);
}

it('a signed request replayed to the other replica is refused (FED_REPLAY); a fresh one is taken there', async () => {
  const { signing, agreementKid } = await activeKeys(partner);
  const path = '/federation/v2/peering-requests';
  // Signed for the instance's public address (A's); either replica answers for it.
  const signedUrl = `${a.federationUrl}${path}`;
  const text = JSON.stringify(requestBody('ha_replay', agreementKid));
  const headers = signRequest({ method: 'POST', url: signedUrl, body: text, key: signing, now: Date.now() });
  const first = await fetch(signedUrl, { method: 'POST', headers, body: text });
  expect(first.status).toBe(201);
  const replay = await fetch(`${b.federationUrl}${path}`, { method: 'POST', headers, body: text });
  expect(replay.status).toBe(401);
  expect(((await replay.json()) as { error: string }).error).toBe('FED_REPLAY');
  const back = await fetch(signedUrl, { method: 'POST', headers, body: text });
  expect(back.status).toBe(401);

  // The request is in the one database: B lists it and declines it (one pending request per partner).
  const stored = await incomingByName(b, 'ha_replay');
  expect(stored).toBeDefined();
  await adminOk(b, 'POST', `/federation/incoming-requests/${stored?.id}/decline`, { local_only: true }, 204);
  const fresh = JSON.stringify(requestBody('ha_fresh', agreementKid));
  const freshHeaders = signRequest({
    method: 'POST',
    url: signedUrl,
    body: fresh,
    key: signing,
    now: Date.now(),
  });
  const taken = await fetch(`${b.federationUrl}${path}`, {
    method: 'POST',
    headers: freshHeaders,
    body: fresh,
  });
  expect(taken.status).toBe(201);
  const inc = await incomingByName(a, 'ha_fresh');
  expect(inc).toBeDefined();
  await adminOk(a, 'POST', `/federation/incoming-requests/${inc?.id}/decline`, { local_only: true }, 204);
});

it("the per-origin limit counts one partner's calls to both replicas together", async () => {
  const { signing } = await activeKeys(partner);
  const server = new URL(partner.federationUrl).host;
  // A fresh window for the partner, so that the calls below are all in it.
  await a.query('DELETE FROM {db}.rate_limit_windows WHERE limiterKey = ?', [`origin:${server}`]);
  const path = '/federation/v2/phonebook';
  const statuses: number[] = [];
  for (let i = 0; i < ORIGIN_LIMIT * 2; i++) {
    const target = i % 2 === 0 ? a : b;
    const headers = signRequest({
      method: 'GET',
      url: `${a.federationUrl}${path}`,
      key: signing,
      now: Date.now(),
    });
    const res = await fetch(`${target.federationUrl}${path}`, { headers });
    statuses.push(res.status);
    await res.arrayBuffer();
  }
  // In memory each replica would let ORIGIN_LIMIT through: 2 × ORIGIN_LIMIT in all.
  expect(statuses.filter((s) => s !== 429)).toHaveLength(ORIGIN_LIMIT);
  expect(statuses.slice(ORIGIN_LIMIT).every((s) => s === 429)).toBe(true);
  // The partner's next calls (the outbox test) start from a fresh window.
  await a.query('DELETE FROM {db}.rate_limit_windows WHERE limiterKey = ?', [`origin:${server}`]);
});

/** An admin account in a replica set's database (on the integration MariaDB), made as `uuru-fed` would. */
async function createAdminIn(database: string | null, username: string): Promise<void> {
  const m = externalMariaDbFromEnv();
  if (!m) throw new Error('needs the integration MariaDB');
  const db = await openDatabase(
    configSchema.parse({
      database: { type: 'mariadb', host: m.host, port: m.port, user: m.user, password: m.password, database },
    }),
    { secrets: false },
  );
  try {
    await createAdminUser(db, { now: () => Date.now() }, { username, password: PASSWORD });
  } finally {
    await db.destroy();
    await m.stop();
  }
}

describe('panel sessions and failed logins', () => {
  beforeAll(async () => {
    await createAdminIn(a.mariaDbName, 'alice');
  });

  it('a session made on one replica is valid on the other, and a logout on either ends it on both', async () => {
    const s = await panelLogin({ adminUrl: a.adminUrl }, 'alice', PASSWORD);
    const onB = await call(b.adminUrl, 'GET', '/api/admin/status', { headers: { cookie: s.cookie } });
    expect(onB.status).toBe(200);
    expect(onB.json).toMatchObject({ principal: 'alice' });
    const page = await call(b.adminUrl, 'GET', '/panel/federation', { headers: { cookie: s.cookie } });
    expect(page.status).toBe(200);
    const out = await call(b.adminUrl, 'POST', '/panel/logout', {
      rawBody: new URLSearchParams({ _csrf: s.csrf }).toString(),
      headers: { cookie: s.cookie, 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(out.status).toBe(303);
    expect(
      (await call(a.adminUrl, 'GET', '/api/admin/status', { headers: { cookie: s.cookie } })).status,
    ).toBe(401);
  });

  it('failed logins on both replicas add up to one throttle', async () => {
    // Five per account in 15 minutes: three on A and two on B reach it.
    for (const s of [a, a, a, b, b]) {
      expect((await tryLogin({ adminUrl: s.adminUrl }, 'alice', 'wrong password')).status).toBe(401);
    }
    const refused = await tryLogin({ adminUrl: a.adminUrl }, 'alice', PASSWORD);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('x-error-code')).toBe('LOGIN_THROTTLED');
  });
});

it('a cluster job runs once per period across both replicas', async () => {
  // health-notices: every second on each replica, a lease per one-second period.
  const runs = async () => {
    const [ra, rb] = await Promise.all(
      [a, b].map((s) => metric(s, 'uuru_fed_job_runs_total', { job: 'health-notices', result: 'ok' })),
    );
    return { ra, rb };
  };
  const skips = () =>
    Promise.all(
      [a, b].map((s) => metric(s, 'uuru_fed_job_runs_total', { job: 'health-notices', result: 'skipped' })),
    );
  const before = await runs();
  const skippedBefore = (await skips()).reduce((x, y) => x + y, 0);
  const started = Date.now();
  await new Promise((r) => setTimeout(r, 8000));
  const after = await runs();
  const periods = (Date.now() - started) / 1000;
  const ran = after.ra - before.ra + (after.rb - before.rb);
  // Each replica ticks once a second: without the lease about 2 × periods runs.
  expect(ran).toBeLessThanOrEqual(Math.ceil(periods) + 1);
  expect(ran).toBeGreaterThanOrEqual(Math.floor(periods / 2));
  expect((await skips()).reduce((x, y) => x + y, 0)).toBeGreaterThan(skippedBefore);
  const [lease] = await a.query<{ holder: string; token: number | string }>(
    "SELECT holder, token FROM {db}.job_leases WHERE name = 'health-notices'",
  );
  expect(lease.holder).toMatch(/^replica-[ab]#/);
  expect(Number(lease.token)).toBeGreaterThan(ran);
}, 30_000);

it('each outbox item is delivered once, whichever replica accepted and whichever worker sent it', async () => {
  const names = ['ha_out1', 'ha_out2', 'ha_out3', 'ha_out4', 'ha_out5', 'ha_out6'];
  const acceptsBefore = await metric(partner, 'uuru_fed_federation_requests_total', { endpoint: 'accept' });
  // One pending request per partner at a time: request, accept (on A, then B, ...), arrived, next.
  for (const [i, name] of names.entries()) {
    await adminOk(
      partner,
      'POST',
      '/federation/outgoing-requests',
      { name, partner_url: a.federationUrl, prefix: `8${i + 1}`, codec: 'g722' },
      201,
    );
    const on = i % 2 === 0 ? a : b;
    const inc = await waitUntil(() => incomingByName(on, name), { what: `incoming ${name}` });
    await adminOk(on, 'POST', `/federation/incoming-requests/${inc.id}/accept`, { prefix: `7${i + 1}` }, 200);
    await waitUntil(() => peerRow(partner, name), {
      what: `peer ${name} on the partner (the accept arrived)`,
      timeoutMs: 30_000,
    });
    // One peering per partner pair: each side forgets it (no teardown call) before the next round.
    for (const s of [partner, on]) {
      const peer = await peerByName(s, name);
      await adminOk(s, 'DELETE', `/federation/peers/${peer?.id}?local_only=true`, undefined, 204);
    }
  }
  // Every worker polls every 100 ms: give a second sender time to show up.
  await new Promise((r) => setTimeout(r, 1500));
  const accepts =
    (await metric(partner, 'uuru_fed_federation_requests_total', { endpoint: 'accept' })) - acceptsBefore;
  expect(accepts).toBe(names.length);
  const rows = await a.query<{ state: string; attempts: number | string; claimedBy: string | null }>(
    "SELECT state, attempts, claimedBy FROM {db}.outbox WHERE kind = 'accept'",
  );
  expect(rows).toHaveLength(names.length);
  for (const r of rows)
    expect({ state: r.state, attempts: Number(r.attempts), claimedBy: r.claimedBy }).toEqual({
      state: 'delivered',
      attempts: 1,
      claimedBy: null,
    });
}, 90_000);

describe('replicas each bound to its own real Asterisk', () => {
  let ra: Instance;
  let rb: Instance;
  const haAst = (id: string, node: string): Record<string, string> => ({
    ...replicaEnv(id),
    UURU_HA_ASTERISK_NODE: node,
  });
  const astConfig = {
    ha: { heartbeatMs: 1000, peerWatchMs: 500 },
    notify: { checkIntervalMs: 1000 },
    federation: config.federation,
  };
  type Status = {
    replicas?: {
      self: { replica_id: string; asterisk_node: string | null };
      replicas: { replica_id: string; asterisk_node: string | null; live: boolean }[];
      leases: { job: string; holder: string | null; token: number }[];
    };
  };
  type NodeView = { apply_state: string; apply_nodes?: { node: string; apply_state: string }[] };
  const nodesOf = async (s: Sidecar, name: string): Promise<string[]> => {
    const p = (await peerByName(s, name)) as NodeView | undefined;
    return (p?.apply_nodes ?? []).map((n) => `${n.node}:${n.apply_state}`);
  };
  const loaded = async (i: Instance, name: string): Promise<boolean> =>
    (await i.iaxPeers()).some((p) => p.name === name);
  /** The partner asks, `on` accepts; resolves once the partner holds the peer. */
  const handshake = async (on: Sidecar, name: string, prefix: string): Promise<void> => {
    await adminOk(
      partner,
      'POST',
      '/federation/outgoing-requests',
      { name, partner_url: ra.sidecar.federationUrl, prefix: `9${prefix}`, codec: 'g722' },
      201,
    );
    const inc = await waitUntil(() => incomingByName(on, name), { what: `incoming ${name}` });
    await adminOk(on, 'POST', `/federation/incoming-requests/${inc.id}/accept`, { prefix }, 200);
    await waitUntil(() => peerRow(partner, name), { what: `peer ${name} on the partner`, timeoutMs: 30_000 });
  };
  const forget = async (name: string, sides: Sidecar[]): Promise<void> => {
    for (const s of sides) {
      const peer = await peerByName(s, name);
      await adminOk(s, 'DELETE', `/federation/peers/${peer?.id}?local_only=true`, undefined, 204);
    }
  };

  beforeAll(async () => {
    ra = await startInstance({
      name: 'ha_ra',
      db: 'mariadb',
      env: haAst('replica-ra', 'ast-a'),
      config: astConfig,
    });
    rb = await startInstance({
      name: 'ha_rb',
      db: 'mariadb',
      sharedMariaDb: ra.sidecar.mariaDbName ?? '',
      env: { ...haAst('replica-rb', 'ast-b'), UURU_FEDERATION_UURU_HOST: ra.sidecar.federationUrl },
      config: astConfig,
    });
  }, 120_000);

  afterAll(async () => {
    await rb?.stop();
    await ra?.stop();
  });

  it('a peer accepted on one replica is applied on both Asterisks, each node recording its own state; the status lists replicas, nodes and leases', async () => {
    await handshake(rb.sidecar, 'ha_ast1', '61');
    await waitUntil(async () => (await loaded(ra, 'ha_ast1')) && (await loaded(rb, 'ha_ast1')), {
      what: 'ha_ast1 loaded in both Asterisks',
      timeoutMs: 20_000,
    });
    const applyState = async (name: string) =>
      ((await peerByName(ra.sidecar, name)) as NodeView | undefined)?.apply_state;
    await waitUntil(async () => (await applyState('ha_ast1')) === 'applied', {
      what: 'ha_ast1 applied on every node',
    });
    expect(await nodesOf(ra.sidecar, 'ha_ast1')).toEqual(['ast-a:applied', 'ast-b:applied']);
    const states = await ra.sidecar.query<{ node: string; applyState: string }>(
      'SELECT s.node, s.applyState FROM {db}.peer_node_states s JOIN {db}.peers p ON p.id = s.peerId WHERE p.name = ? ORDER BY s.node',
      ['ha_ast1'],
    );
    expect(states.map((r) => `${r.node}:${r.applyState}`)).toEqual(['ast-a:applied', 'ast-b:applied']);

    const status = await adminOk<Status>(rb.sidecar, 'GET', '/status', undefined, 200);
    expect(status.replicas?.self).toEqual({ replica_id: 'replica-rb', asterisk_node: 'ast-b' });
    const mine = status.replicas?.replicas.filter((r) => r.replica_id.startsWith('replica-r'));
    expect(mine?.map((r) => [r.replica_id, r.asterisk_node, r.live])).toEqual([
      ['replica-ra', 'ast-a', true],
      ['replica-rb', 'ast-b', true],
    ]);
    const lease = status.replicas?.leases.find((l) => l.job === 'health-notices');
    expect(lease?.holder).toMatch(/^replica-r[ab]$/);
    expect(lease?.token).toBeGreaterThan(0);
  }, 60_000);

  it('a replica killed misses changes; brought back, its Asterisk converges to the database', async () => {
    await rb.sidecar.kill();
    await waitUntil(
      async () => {
        const s = await adminOk<Status>(ra.sidecar, 'GET', '/status', undefined, 200);
        return s.replicas?.replicas.find((r) => r.replica_id === 'replica-rb')?.live === false;
      },
      { what: 'replica-rb shown as not live', timeoutMs: 10_000 },
    );
    // Changed while rb is dead: ha_ast1 goes, ha_ast2 comes (applied on ast-a only, the one live node).
    await forget('ha_ast1', [partner, ra.sidecar]);
    await handshake(ra.sidecar, 'ha_ast2', '62');
    await waitUntil(async () => (await loaded(ra, 'ha_ast2')) && !(await loaded(ra, 'ha_ast1')), {
      what: 'ast-a follows the database',
      timeoutMs: 20_000,
    });
    await waitUntil(async () => (await nodesOf(ra.sidecar, 'ha_ast2')).join() === 'ast-a:applied', {
      what: 'ha_ast2 applied on the live node',
    });
    // rb's Asterisk still holds what rb last applied.
    expect([await loaded(rb, 'ha_ast1'), await loaded(rb, 'ha_ast2')]).toEqual([true, false]);

    await rb.sidecar.restart();
    await waitUntil(async () => (await loaded(rb, 'ha_ast2')) && !(await loaded(rb, 'ha_ast1')), {
      what: 'ast-b converged to the database after the restart',
      timeoutMs: 20_000,
    });
    await waitUntil(
      async () => (await nodesOf(ra.sidecar, 'ha_ast2')).join() === 'ast-a:applied,ast-b:applied',
      { what: 'ha_ast2 applied on both nodes' },
    );
    await forget('ha_ast2', [partner, ra.sidecar]);
  }, 90_000);
});

describe('the per-IP limit and the unsolicited budget across replicas', () => {
  // A limit small enough to spend at once (its burst is the whole limit), on a pair of its own: A and B serve the
  // tests above from 127.0.0.1. The addresses come through X-Forwarded-For from a proxy on loopback.
  const PER_IP = 10;
  const ipConfig = {
    ...config,
    federation: {
      ...config.federation,
      rateLimitPerIpPerMinute: PER_IP,
      unsolicitedRequestsPerOriginPerHour: 1,
    },
    http: { trustProxy: 'loopback' },
  };
  let c: Sidecar;
  let d: Sidecar;

  beforeAll(async () => {
    c = await startSidecar({
      name: 'ha_ip_c',
      db: 'mariadb',
      env: replicaEnv('replica-c'),
      config: ipConfig,
    });
    d = await startSidecar({
      name: 'ha_ip_d',
      db: 'mariadb',
      sharedMariaDb: c.mariaDbName ?? '',
      env: { ...replicaEnv('replica-d'), UURU_FEDERATION_UURU_HOST: c.federationUrl },
      config: ipConfig,
    });
  }, 120_000);

  afterAll(async () => {
    await destroyAll([d]);
    await destroyAll([c]);
  });

  it('one address alternating between both replicas is refused once the one limit is spent, not twice it', async () => {
    const get = async (s: Sidecar, address: string) => {
      const res = await fetch(`${s.federationUrl}${DESCRIPTOR_PATH}`, {
        headers: { 'x-forwarded-for': address },
      });
      const body = (await res.json()) as { error?: string };
      return { status: res.status, error: body.error };
    };
    const answers = [];
    for (let i = 0; i < 2 * PER_IP; i++) answers.push(await get(i % 2 === 0 ? c : d, '203.0.113.41'));
    // Each replica counting on its own would have let PER_IP through: 2 × PER_IP, every request here.
    expect(answers.slice(0, PER_IP).map((r) => r.status)).toEqual(Array(PER_IP).fill(200));
    expect(answers.slice(PER_IP)).toEqual(Array(PER_IP).fill({ status: 429, error: 'FED_RATE_LIMITED' }));
    // Another address has its own bucket; both buckets are rows of the one table.
    expect((await get(d, '203.0.113.42')).status).toBe(200);
    const rows = await c.query<{ limiterKey: string }>(
      "SELECT limiterKey FROM {db}.rate_limit_windows WHERE limiterKey LIKE 'ip:203.0.113.%' ORDER BY limiterKey",
    );
    expect(rows.map((r) => r.limiterKey)).toEqual(['ip:203.0.113.41', 'ip:203.0.113.42']);
  }, 30_000);

  it("one partner's requests open at once on both replicas fill its unsolicited budget of one, not one per replica", async () => {
    const { signing, agreementKid } = await activeKeys(partner);
    const path = '/federation/v2/peering-requests';
    const send = (s: Sidecar, name: string, address: string) => {
      const text = JSON.stringify(requestBody(name, agreementKid));
      // Signed for the pair's public address (C's); from an address of its own (not the per-IP limit).
      const headers = signRequest({
        method: 'POST',
        url: `${c.federationUrl}${path}`,
        body: text,
        key: signing,
        now: Date.now(),
      });
      return fetch(`${s.federationUrl}${path}`, {
        method: 'POST',
        headers: { ...headers, 'x-forwarded-for': address },
        body: text,
      }).then(async (res) => ({
        status: res.status,
        error: ((await res.json()) as { error?: string }).error,
      }));
    };
    // A first contact makes the partner known (its keys pinned), then declined: a declined request spends nothing.
    expect((await send(c, 'ha_budget_first', '198.51.100.1')).status).toBe(201);
    const first = await incomingByName(d, 'ha_budget_first');
    await adminOk(d, 'POST', `/federation/incoming-requests/${first?.id}/decline`, { local_only: true }, 204);

    // A fault the real parts do not produce on cue: the test's own transaction holds every insert into
    // incoming_requests (a locking read of the whole table), so that a request is open on each replica at once,
    // its budget counted, before either is stored. Released once both replicas' transactions wait on a lock.
    const m = externalMariaDbFromEnv();
    if (!m) throw new Error('needs the integration MariaDB');
    const hold = await mysql.createConnection({
      host: m.host,
      port: m.port,
      user: m.user,
      password: m.password,
      database: c.mariaDbName ?? '',
    });
    let answers: { status: number; error?: string }[];
    try {
      await hold.query('START TRANSACTION');
      await hold.query('SELECT id FROM incoming_requests FOR UPDATE');
      const sent = [send(c, 'ha_budget_c', '198.51.100.2'), send(d, 'ha_budget_d', '198.51.100.3')];
      await waitUntil(
        async () => {
          const [rows] = await hold.query(
            'SELECT COUNT(*) AS n FROM information_schema.INNODB_TRX t' +
              ' JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id' +
              " WHERE t.trx_state = 'LOCK WAIT' AND p.DB = DATABASE()",
          );
          return Number((rows as { n: unknown }[])[0].n);
        },
        { what: 'both replicas waiting in their transactions', until: (n) => n >= 2, timeoutMs: 10_000 },
      );
      await hold.query('COMMIT');
      answers = await Promise.all(sent);
    } finally {
      await hold.end();
      await m.stop();
    }
    // Counted one after the other: the second finds the first's request and the budget spent.
    expect(answers.map((r) => r.status).sort()).toEqual([201, 429]);
    expect(answers.find((r) => r.status === 429)?.error).toBe('FED_RATE_LIMITED');
    const pending = await c.query<{ name: string }>(
      "SELECT name FROM {db}.incoming_requests WHERE name LIKE 'ha_budget%' AND state = 'pending'",
    );
    expect(pending).toHaveLength(1);
  }, 30_000);
});

// One cluster for the Galera describes below (started by the first that needs it, stopped after the file).
let galera: Promise<GaleraCluster> | null = null;
const sharedGalera = (): Promise<GaleraCluster> => (galera ??= startGaleraCluster());
afterAll(async () => {
  const c = await galera?.catch(() => null);
  await c?.stop();
}, 120_000);

describe('two replicas on two nodes of a 3-node Galera cluster', () => {
  let cluster: GaleraCluster;
  let ga: Sidecar;
  let gb: Sidecar;
  const dbName = testDatabaseName('ha_galera');
  const at = (i: number) => ({
    host: '127.0.0.1',
    port: cluster.nodes[i].port,
    user: cluster.user,
    password: cluster.password,
  });

  beforeAll(async () => {
    cluster = await sharedGalera();
    await cluster.nodes[0].server.query(`CREATE DATABASE \`${dbName}\` CHARACTER SET utf8mb4`);
    ga = await startSidecar({
      name: 'ha_ga',
      db: 'mariadb',
      mariaDbAt: at(0),
      sharedMariaDb: dbName,
      env: replicaEnv('galera-a'),
      config,
    });
    gb = await startSidecar({
      name: 'ha_gb',
      db: 'mariadb',
      mariaDbAt: at(1),
      sharedMariaDb: dbName,
      env: { ...replicaEnv('galera-b'), UURU_FEDERATION_UURU_HOST: ga.federationUrl },
      config,
    });
  }, 240_000);

  afterAll(async () => {
    await destroyAll([ga, gb]);
  }, 60_000);

  const signedRequest = async (name: string) => {
    const { signing, agreementKid } = await activeKeys(partner);
    const url = `${ga.federationUrl}/federation/v2/peering-requests`;
    const text = JSON.stringify(requestBody(name, agreementKid));
    return {
      url,
      text,
      headers: signRequest({ method: 'POST', url, body: text, key: signing, now: Date.now() }),
    };
  };
  const send = async (s: Sidecar, r: { text: string; headers: Record<string, string> }) => {
    const res = await fetch(`${s.federationUrl}/federation/v2/peering-requests`, {
      method: 'POST',
      headers: r.headers,
      body: r.text,
    });
    return { status: res.status, json: (await res.json()) as { error?: string } };
  };

  it('a request taken through node 1 and replayed through node 2 is refused', async () => {
    const r = await signedRequest('gal_replay');
    expect((await send(ga, r)).status).toBe(201);
    const replay = await send(gb, r);
    expect(replay).toMatchObject({ status: 401, json: { error: 'FED_REPLAY' } });
    const inc = await incomingByName(gb, 'gal_replay');
    await adminOk(gb, 'POST', `/federation/incoming-requests/${inc?.id}/decline`, { local_only: true }, 204);
  });

  it('a cluster job runs once per period across replicas on two nodes', async () => {
    const count = (s: Sidecar, result: string) =>
      metric(s, 'uuru_fed_job_runs_total', { job: 'health-notices', result });
    const before = (await count(ga, 'ok')) + (await count(gb, 'ok'));
    const started = Date.now();
    await new Promise((r) => setTimeout(r, 6000));
    const ran = (await count(ga, 'ok')) + (await count(gb, 'ok')) - before;
    const periods = (Date.now() - started) / 1000;
    expect(ran).toBeLessThanOrEqual(Math.ceil(periods) + 1);
    expect(ran).toBeGreaterThanOrEqual(1);
    expect((await count(ga, 'skipped')) + (await count(gb, 'skipped'))).toBeGreaterThan(0);
  }, 30_000);

  it('a transaction that loses to a write through another node fails with 1213 and succeeds when run again whole', async () => {
    await cluster.nodes[0].server.query(
      `CREATE TABLE \`${dbName}\`.conflict_probe (id INT PRIMARY KEY, v INT) ENGINE=InnoDB`,
    );
    await cluster.nodes[0].server.query(`INSERT INTO \`${dbName}\`.conflict_probe VALUES (1, 0)`);
    await waitUntil(
      async () =>
        (await cluster.nodes[1].server.query<unknown[]>(`SELECT 1 FROM \`${dbName}\`.conflict_probe`))
          .length === 1,
      { what: 'the probe row on node 2' },
    );
    const c1 = await mysql.createConnection(at(0));
    const c2 = await mysql.createConnection(at(1));
    try {
      let attempts = 0;
      const errors: unknown[] = [];
      await retryOnConflict(
        async () => {
          attempts++;
          await c1.query('BEGIN');
          await c1.query(`UPDATE \`${dbName}\`.conflict_probe SET v = v + 1 WHERE id = 1`);
          if (attempts === 1) {
            // The other node commits a change to the same row first: this transaction loses certification.
            await c2.query(`UPDATE \`${dbName}\`.conflict_probe SET v = v + 10 WHERE id = 1`);
          }
          try {
            await c1.query('COMMIT');
          } catch (e) {
            errors.push(e);
            await c1.query('ROLLBACK').catch(() => undefined);
            throw e;
          }
        },
        { attempts: 5 },
      );
      expect(attempts).toBe(2);
      expect(errors).toHaveLength(1);
      expect(isWriteConflict(errors[0])).toBe(true);
      // A read on another node sees the commit only with wsrep_sync_wait (or a little later).
      await c2.query('SET SESSION wsrep_sync_wait = 1');
      const [rows] = await c2.query(`SELECT v FROM \`${dbName}\`.conflict_probe WHERE id = 1`);
      expect(rows).toEqual([{ v: 11 }]);
    } finally {
      await c1.end();
      await c2.end();
    }
  }, 60_000);

  it("a leased run's transaction through node 1 writes nothing once the lease was taken over through node 2, also mid-transaction", async () => {
    const open = (i: number) =>
      openDatabase(configSchema.parse({ database: { type: 'mariadb', ...at(i), database: dbName } }), {
        secrets: false,
      });
    const [db1, db2] = [await open(0), await open(1)];
    const synced = (db: typeof db1, sql: string, params: unknown[] = []) =>
      db.query(`SET STATEMENT wsrep_sync_wait=1 FOR ${sql}`, params) as Promise<
        Array<Record<string, unknown>>
      >;
    const clock = { now: () => Date.now() };
    const job = 'fence-probe';
    const take = async (db: typeof db1, replica: string, period: number) => {
      // This node has applied every earlier write first, so the takeover is decided on the current row.
      await synced(db, 'SELECT `token` FROM `job_leases` WHERE `name` = ?', [job]);
      const won = await new DbJobLeases(db, clock, replica).acquire(job, period, 60_000);
      expect(won).not.toBeNull();
      return won?.token ?? -1;
    };
    try {
      await db1.query('CREATE TABLE `fence_probe` (`id` INT PRIMARY KEY) ENGINE=InnoDB');
      const tx1 = new TypeormTransactions(db1);
      const insert = (t: Parameters<Parameters<typeof tx1.run>[0]>[0], id: number) =>
        managerOf(db1, t).query('INSERT INTO `fence_probe` VALUES (?)', [id]);
      // A won period 1 through node 1; B took period 2 through node 2: A's write through node 1 is refused.
      const ta = await take(db1, 'replica-a', 1);
      const tb = await take(db2, 'replica-b', 2);
      expect(tb).toBe(ta + 1);
      await expect(
        runFenced({ lease: job, token: ta }, () => tx1.run((t) => insert(t, 1))),
      ).rejects.toBeInstanceOf(FencedOut);
      // B's fence check passed through node 1, then C takes period 3 through node 2 and commits first: B's
      // transaction loses to it (1213, on its statement or at COMMIT), and its rerun finds the token moved on.
      let tc = -1;
      await expect(
        runFenced({ lease: job, token: tb }, () =>
          tx1.run(async (t) => {
            if (tc < 0) tc = await take(db2, 'replica-c', 3);
            await insert(t, 2);
          }),
        ),
      ).rejects.toBeInstanceOf(FencedOut);
      expect(tc).toBe(tb + 1);
      // The holder's write passes.
      await runFenced({ lease: job, token: tc }, () => tx1.run((t) => insert(t, 3)));
      expect(await synced(db2, 'SELECT `id` FROM `fence_probe` ORDER BY `id`')).toEqual([{ id: 3 }]);
    } finally {
      await db1.query('DELETE FROM `job_leases` WHERE `name` = ?', [job]).catch(() => undefined);
      await db1.query('DROP TABLE IF EXISTS `fence_probe`').catch(() => undefined);
      await db1.destroy();
      await db2.destroy();
    }
  }, 60_000);

  it('with node 3 killed the replicas keep answering; it rejoins and holds what was written meanwhile', async () => {
    await cluster.kill(2);
    const r = await signedRequest('gal_outage');
    // Writes may stall while the cluster drops the node (about 3 s here).
    expect((await send(gb, r)).status).toBe(201);
    expect((await send(ga, r)).json.error).toBe('FED_REPLAY');
    await cluster.restart(2);
    expect(await cluster.clusterSize(0)).toBe(3);
    const rows = await cluster.nodes[2].server.query<unknown[]>(
      `SELECT name FROM \`${dbName}\`.incoming_requests WHERE name = 'gal_outage'`,
    );
    expect(rows).toHaveLength(1);
  }, 120_000);
});

describe('50 handshakes through both replicas while a replica and a Galera node are killed at seeded moments', () => {
  const ROUNDS = 50;
  const seed = faultSeed();
  const rnd = seededRandom(seed);
  // Where the faults land: a replica (which one, seeded) in one round, a Galera node (seeded) in a later one,
  // each a seeded number of ms into its round; both are brought back at once (in the background).
  const replicaRound = rnd.int(3, 18);
  const victimIndex = rnd.int(0, 1);
  const replicaDelayMs = rnd.int(0, 800);
  const nodeRound = rnd.int(22, 38);
  const nodeDelayMs = rnd.int(0, 800);
  // Any of the three: node 1 and 2 each serve a replica, node 3 none.
  const nodeIndex = rnd.int(0, 2);
  const dbName = testDatabaseName('ha_chaos');
  let cluster: GaleraCluster;
  let lb: TcpBalancer;
  let replicas: Instance[] = [];
  const down = new Set<Instance>();
  const at = (i: number) => ({
    host: '127.0.0.1',
    port: cluster.nodes[i].port,
    user: cluster.user,
    password: cluster.password,
  });
  const chaosConfig = {
    ha: { heartbeatMs: 1000, peerWatchMs: 300 },
    notify: { checkIntervalMs: 1000 },
    federation: { unsolicitedRequestsPerOriginPerHour: 1000, rateLimitPerOriginPerMinute: 1000 },
  };
  const chaosEnv = (id: string, node: string): Record<string, string> => ({
    ...replicaEnv(id),
    UURU_HA_ASTERISK_NODE: node,
    // One public address for both: the balancer's.
    UURU_FEDERATION_UURU_HOST: lb.url,
  });
  const name = (i: number) => `chaos${String(i).padStart(2, '0')}`;
  const loaded = async (r: Instance, peer: string): Promise<boolean> =>
    (await r.iaxPeers()).some((p) => p.name === peer);

  /** A state not reached yet (not a fault). */
  class NotYet extends Error {}
  /** What went wrong on the way (printed at the end: where the faults hit). */
  const trouble: string[] = [];
  const troubleSummary = () =>
    [...new Set(trouble)].map((t) => `${trouble.filter((x) => x === t).length} × ${t}`).join('\n');
  const schedule = () =>
    `ha chaos: seed ${seed}, replica ${victimIndex === 0 ? 'A' : 'B'} killed in round ${replicaRound} (+${replicaDelayMs} ms), ` +
    `node ${nodeIndex + 1} in round ${nodeRound} (+${nodeDelayMs} ms)`;
  /** Runs fn on `prefer`, else on the other replica, until it succeeds (a replica may die under it). */
  const onReplica = async <T>(prefer: number, what: string, fn: (r: Instance) => Promise<T>): Promise<T> => {
    const order = [replicas[prefer], replicas[1 - prefer]];
    return waitUntil(
      async () => {
        let last: unknown = new Error('both replicas down');
        for (const r of order) {
          if (down.has(r)) continue;
          try {
            return { value: await fn(r) };
          } catch (e) {
            last = e;
            if (!(e instanceof NotYet))
              trouble.push(
                `${what} on ${r.name}: ${e instanceof Error ? e.message.slice(0, 120) : String(e)}`,
              );
          }
        }
        throw last;
      },
      { what, timeoutMs: 40_000, intervalMs: 200 },
    ).then((x) => x.value);
  };

  beforeAll(async () => {
    cluster = await sharedGalera();
    await cluster.nodes[0].server.query(`CREATE DATABASE \`${dbName}\` CHARACTER SET utf8mb4`);
    lb = await startTcpBalancer();
    const first = await startInstance({
      name: 'ha_ca',
      db: 'mariadb',
      mariaDbAt: at(0),
      sharedMariaDb: dbName,
      env: chaosEnv('chaos-a', 'ast-a'),
      config: chaosConfig,
      logLevel: 'debug',
    });
    replicas = [first];
    lb.add(Number(new URL(first.sidecar.federationUrl).port));
    const second = await startInstance({
      name: 'ha_cb',
      db: 'mariadb',
      mariaDbAt: at(1),
      sharedMariaDb: dbName,
      env: chaosEnv('chaos-b', 'ast-b'),
      config: chaosConfig,
      logLevel: 'debug',
    });
    replicas = [first, second];
    lb.add(Number(new URL(second.sidecar.federationUrl).port));
  }, 120_000);

  afterAll(async () => {
    await Promise.all(replicas.map((r) => r.stop().catch(() => undefined)));
    await lb?.close();
  }, 60_000);

  it(`no request is lost or duplicated, every peer is applied on both Asterisks, jobs run once per period, accepts are delivered once, a replay to the other replica is refused (fault seed ${seed})`, async () => {
    const started = Date.now();
    const acceptsBefore = await metric(partner, 'uuru_fed_federation_requests_total', { endpoint: 'accept' });
    const faults: Promise<void>[] = [];
    const requestIds: string[] = [];
    let slowest = 0;
    let round = '';
    try {
      for (let i = 0; i < ROUNDS; i++) {
        const peer = name(i);
        round = peer;
        if (i === replicaRound) {
          const victim = replicas[victimIndex];
          faults.push(
            sleep(replicaDelayMs).then(async () => {
              down.add(victim);
              await victim.sidecar.kill();
              await victim.sidecar.restart();
              down.delete(victim);
            }),
          );
        }
        if (i === nodeRound) {
          faults.push(
            sleep(nodeDelayMs).then(async () => {
              await cluster.kill(nodeIndex);
              await cluster.restart(nodeIndex);
            }),
          );
        }
        // The partner asks through the balancer; a request cut by a dying replica fails and is asked again.
        const roundStarted = Date.now();
        await waitUntil(
          async () => {
            const r = await partner.admin('POST', '/federation/outgoing-requests', {
              name: peer,
              partner_url: lb.url,
              prefix: `4${String(i).padStart(2, '0')}`,
              codec: 'g722',
            });
            if (r.status !== 201)
              trouble.push(`${peer} asked: ${r.status} ${JSON.stringify(r.json).slice(0, 160)}`);
            return r.status === 201;
          },
          { what: `the partner's request ${peer} taken`, timeoutMs: 40_000, intervalMs: 300 },
        );
        // Accepted on replica A in even rounds, B in odd ones (the other while one is down).
        await onReplica(i % 2, `${peer} accepted`, async (r) => {
          const list = await adminOk<{ requests: IncomingView[] }>(
            r.sidecar,
            'GET',
            '/federation/incoming-requests',
            undefined,
            200,
          );
          const mine = list.requests.filter((x) => x.name === peer);
          if (mine.some((x) => x.state === 'accepted')) return;
          const pending = mine.find((x) => x.state === 'pending');
          if (!pending) {
            // An accept turns the request into the peer: one whose answer was lost (its replica's Galera node
            // died after the commit) left no request to find, but the peer.
            const peers = await r.sidecar.query('SELECT id FROM {db}.peers WHERE name = ?', [peer]);
            if (peers.length === 1) {
              trouble.push(`${peer}: accepted by an attempt whose answer was lost (the peer is there)`);
              return;
            }
            throw new NotYet(`no pending request ${peer} on ${r.name}`);
          }
          await adminOk(
            r.sidecar,
            'POST',
            `/federation/incoming-requests/${pending.id}/accept`,
            { prefix: `3${String(i).padStart(2, '0')}` },
            200,
          );
        });
        const there = await waitUntil(() => peerRow(partner, peer), {
          what: `peer ${peer} on the partner (the accept arrived)`,
          timeoutMs: 40_000,
        });
        requestIds.push(there.requestId);
        const here = await onReplica(i % 2, `${peer} in the replicas' database`, async (r) => {
          const rows = await r.sidecar.query<{ requestId: string }>(
            'SELECT requestId FROM {db}.peers WHERE name = ?',
            [peer],
          );
          if (rows.length !== 1) throw new NotYet(`${rows.length} peers ${peer}`);
          return rows[0].requestId;
        });
        expect(here).toBe(there.requestId);
        await waitUntil(async () => (await loaded(replicas[0], peer)) && (await loaded(replicas[1], peer)), {
          what: `${peer} loaded in both Asterisks`,
          timeoutMs: 40_000,
        });
        await onReplica(i % 2, `${peer} applied on both nodes`, async (r) => {
          const view = (await peerByName(r.sidecar, peer)) as
            { apply_nodes?: { node: string; apply_state: string }[] } | undefined;
          const nodes = (view?.apply_nodes ?? []).map((n) => `${n.node}:${n.apply_state}`).join();
          if (nodes !== 'ast-a:applied,ast-b:applied') throw new NotYet(`${peer}: ${nodes}`);
        });
        slowest = Math.max(slowest, Date.now() - roundStarted);
        // One peering per partner pair: both sides forget it before the next round (all but the last).
        if (i < ROUNDS - 1) {
          await adminOk(partner, 'DELETE', `/federation/peers/${there.id}?local_only=true`, undefined, 204);
          await onReplica(1 - (i % 2), `${peer} forgotten`, async (r) => {
            const p = await peerByName(r.sidecar, peer);
            if (p)
              await adminOk(r.sidecar, 'DELETE', `/federation/peers/${p.id}?local_only=true`, undefined, 204);
          });
        }
      }
    } catch (e) {
      // Where it stuck: the round's rows on both sides (read from the databases, whichever replica is up) and the
      // trouble met so far, so that a failure in CI can be told apart from a flake without a rerun.
      const rows = async (s: Sidecar, table: string, columns: string) =>
        JSON.stringify(
          await s
            .query(`SELECT ${columns} FROM {db}.${table} WHERE name = ?`, [round])
            .catch((x: unknown) => String(x)),
        );
      throw new Error(
        `${e instanceof Error ? e.message : String(e)}\n${schedule()}\n` +
          `incoming_requests ${round}: ${await rows(replicas[1].sidecar, 'incoming_requests', 'requestId, state, createdAt, updatedAt')}\n` +
          `partner's outgoing_requests ${round}: ${await rows(partner, 'outgoing_requests', 'id, state, lastError, createdAt, updatedAt')}\n` +
          `peers ${round}: ${await rows(replicas[1].sidecar, 'peers', 'requestId, createdAt')}, on the partner ${await rows(partner, 'peers', 'requestId, createdAt')}\n` +
          `on the way:\n${troubleSummary()}`,
        { cause: e },
      );
    }
    await Promise.all(faults);
    expect(await cluster.clusterSize(0)).toBe(3);
    const handshakesMs = Date.now() - started;

    // Nothing lost, nothing twice: an accept turns the request into the peer (the request row goes); no
    // request of the rounds is left over on either side, and each round's peering was the partner's request.
    const [ra, rb] = replicas;
    expect(new Set(requestIds).size).toBe(ROUNDS);
    expect(
      await ra.sidecar.query("SELECT name, state FROM {db}.incoming_requests WHERE name LIKE 'chaos%'"),
    ).toEqual([]);
    expect(
      await partner.query("SELECT name, state FROM {db}.outgoing_requests WHERE name LIKE 'chaos%'"),
    ).toEqual([]);
    const standing = await ra.sidecar.query<{ name: string; requestId: string }>(
      "SELECT name, requestId FROM {db}.peers WHERE name LIKE 'chaos%'",
    );
    expect(standing).toEqual([{ name: name(ROUNDS - 1), requestId: requestIds[ROUNDS - 1] }]);
    // Each accept sent once: one delivered outbox item per request, and the partner took 50 accepts.
    const items = await ra.sidecar.query<{ requestId: string; state: string }>(
      "SELECT requestId, state FROM {db}.outbox WHERE kind = 'accept' ORDER BY requestId",
    );
    expect(items.map((x) => `${x.requestId}:${x.state}`)).toEqual(
      [...requestIds].sort().map((id) => `${id}:delivered`),
    );
    const accepts =
      (await metric(partner, 'uuru_fed_federation_requests_total', { endpoint: 'accept' })) - acceptsBefore;
    expect(accepts).toBe(ROUNDS);
    // Both Asterisks hold the last peer and none of the forgotten ones.
    const last = name(ROUNDS - 1);
    for (const r of replicas) {
      const chaos = (await r.iaxPeers()).map((p) => p.name).filter((n) => n.startsWith('chaos'));
      expect(chaos).toEqual([last]);
    }

    // Each cluster job ran once per period: the periods won (logged with the fencing token, `fence`) never repeat.
    const won = [ra, rb].flatMap((r) =>
      r.sidecar
        .logs()
        .split('\n')
        .filter((l) => l.includes('cluster job period won'))
        .map((l) => JSON.parse(l) as { job: string; period: number; fence: number }),
    );
    const perPeriod = new Map<string, number>();
    for (const w of won)
      perPeriod.set(`${w.job}@${w.period}`, (perPeriod.get(`${w.job}@${w.period}`) ?? 0) + 1);
    expect([...perPeriod].filter(([, n]) => n > 1)).toEqual([]);
    const notices = won.filter((w) => w.job === 'health-notices');
    expect(new Set(notices.map((w) => w.fence)).size).toBe(notices.length);
    // health-notices has a one-second period: it kept running through the faults.
    expect(notices.length).toBeGreaterThan((Date.now() - started) / 1000 / 3);

    // A signed request taken by one replica and replayed to the other is refused.
    const { signing } = await activeKeys(partner);
    const path = '/federation/v2/phonebook';
    const headers = signRequest({ method: 'GET', url: `${lb.url}${path}`, key: signing, now: Date.now() });
    const firstTry = await fetch(`${rb.sidecar.federationUrl}${path}`, { headers });
    expect(firstTry.status).toBe(200);
    await firstTry.arrayBuffer();
    const replay = await fetch(`${ra.sidecar.federationUrl}${path}`, { headers });
    expect(replay.status).toBe(401);
    expect(((await replay.json()) as { error: string }).error).toBe('FED_REPLAY');
    process.stdout.write(
      `${schedule()}; ${ROUNDS} handshakes in ${handshakesMs} ms, ` +
        `slowest round ${slowest} ms, balancer connections ${JSON.stringify([...lb.connections()])}, ` +
        `cluster job periods won ${won.length}; on the way:\n${troubleSummary()}\n`,
    );
  }, 240_000);
});

describe('two replicas bound to the same Asterisk node', () => {
  // One real Asterisk, two replicas bound to it under one node name: only the holder of the node's
  // lease applies to it (the other stands by), and the other takes over when the holder dies.
  const NODE = 'ast-shared';
  const LEASE = `node:${NODE}`;
  const nodeEnv = (id: string): Record<string, string> => ({
    ...replicaEnv(id),
    UURU_HA_ASTERISK_NODE: NODE,
  });
  // A replica not seen for 6 s (the least: six heartbeats) is purged.
  const nodeConfig = {
    ha: { heartbeatMs: 1000, peerWatchMs: 500, replicaPurgeMs: 1000 },
    notify: { checkIntervalMs: 1000 },
    federation: config.federation,
  };
  let n1: Instance;
  let n2: Sidecar;
  type Lease = { job: string; holder: string | null; token: number };
  type Replicas = { replicas: { replica_id: string; live: boolean }[]; leases: Lease[] };
  const replicasOf = async (s: Sidecar): Promise<Replicas> =>
    (await adminOk<{ replicas: Replicas }>(s, 'GET', '/status', undefined, 200)).replicas;
  const leaseOf = async (s: Sidecar): Promise<Lease | undefined> =>
    (await replicasOf(s)).leases.find((l) => l.job === LEASE);
  const runs = (s: Sidecar) => metric(s, 'uuru_fed_reconcile_runs_total', {});
  const loaded = async (name: string): Promise<boolean> => (await n1.iaxPeers()).some((p) => p.name === name);

  beforeAll(async () => {
    n1 = await startInstance({
      name: 'ha_n1',
      db: 'mariadb',
      env: nodeEnv('replica-n1'),
      config: nodeConfig,
    });
    // The second replica on the same Asterisk (its AMI, ARI and config folder), started once n1 holds the node.
    await waitUntil(async () => (await leaseOf(n1.sidecar))?.holder === 'replica-n1', {
      what: 'replica-n1 holds the node lease',
    });
    n2 = await startSidecar({
      name: 'ha_n2',
      db: 'mariadb',
      sharedMariaDb: n1.sidecar.mariaDbName ?? '',
      config: sidecarConfig(n1.asterisk, n1.asterisk.amiPort, nodeConfig),
      env: {
        UURU_ASTERISK_ENABLED: 'true',
        UURU_LOGLEVEL: 'warn',
        UURU_FEDERATION_IAX2_HOST: n1.asterisk.iaxHost,
        UURU_FEDERATION_UURU_HOST: n1.sidecar.federationUrl,
        ...nodeEnv('replica-n2'),
      },
    });
    await createAdminIn(n1.sidecar.mariaDbName, 'nora');
  }, 120_000);

  afterAll(async () => {
    await destroyAll([n2]);
    await n1?.stop();
  });

  it('only the lease holder reconciles the node; a peer accepted on the other replica is applied by the holder; status, CLI and panel name the holder', async () => {
    await adminOk(
      partner,
      'POST',
      '/federation/outgoing-requests',
      { name: 'ha_same1', partner_url: n1.sidecar.federationUrl, prefix: '951', codec: 'g722' },
      201,
    );
    const inc = await waitUntil(() => incomingByName(n2, 'ha_same1'), { what: 'incoming ha_same1' });
    await adminOk(n2, 'POST', `/federation/incoming-requests/${inc.id}/accept`, { prefix: '51' }, 200);
    await waitUntil(() => loaded('ha_same1'), { what: 'ha_same1 loaded in the Asterisk', timeoutMs: 20_000 });
    await waitUntil(
      async () => ((await peerByName(n2, 'ha_same1')) as { apply_state?: string } | undefined)?.apply_state,
      { what: 'ha_same1 applied on the node', until: (s) => s === 'applied' },
    );
    // n2 stood by the whole time: not one run of its own, an admin's reconcile says why.
    expect(await runs(n2)).toBe(0);
    expect(await runs(n1.sidecar)).toBeGreaterThan(0);
    const now = await adminOk<{ result: string; error: string }>(n2, 'POST', '/reconcile', {}, 200);
    expect(now.result).toBe('not_run');
    expect(now.error).toContain(`stands by for Asterisk node ${NODE}: replica-n1 holds its lease`);
    expect(await runs(n2)).toBe(0);

    // `uuru-fed status` on the standby lists both replicas on the node and the node's lease holder.
    const out = await cli(['status'], { UURU_ADMIN_URL: n2.adminUrl, UURU_ADMIN_TOKEN: n2.token });
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/^this replica: +replica-n2, Asterisk node ast-shared$/m);
    expect(out.stdout).toMatch(/^replica: +replica-n1: Asterisk node ast-shared, live /m);
    expect(out.stdout).toMatch(/^replica: +replica-n2: Asterisk node ast-shared, live /m);
    expect(out.stdout).toMatch(/^lease: +node:ast-shared: replica-n1, token \d+, held, until /m);
    expect(out.stdout).toMatch(/^lease: +health-notices: replica-n[12], token \d+/m);

    // The panel (real Chromium) on the standby: the same replicas and the node's lease holder.
    const session = await panelLogin({ adminUrl: n2.adminUrl }, 'nora', PASSWORD);
    const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
    try {
      const ctx = await browser.newContext();
      const [name, value] = session.cookie.split('=');
      await ctx.addCookies([{ name, value, url: n2.adminUrl }]);
      const page = await ctx.newPage();
      await page.goto(`${n2.adminUrl}/panel/federation`);
      const section = page.locator('section#replicas');
      await expect(section.locator('p').first().textContent()).resolves.toContain('served by replica-n2');
      for (const id of ['replica-n1', 'replica-n2'])
        expect(await section.locator(`tr[data-replica="${id}"]`).getAttribute('data-replica-live')).toBe(
          'true',
        );
      const held = section.locator(`tr[data-lease="${LEASE}"] td`);
      expect((await held.nth(1).textContent())?.trim()).toMatch(/^replica-n1 \(held\)$/);
      // On a phone (390 px): nothing scrolls sideways, every cell is on screen, and a replica's cells
      // stack under its name (host and replica names are long: side by side they were cut at the edge).
      await page.setViewportSize({ width: 390, height: 844 });
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
      for (const cell of await section.locator('td').all()) {
        const box = await cell.boundingBox();
        expect(box && box.x >= 0 && box.x + box.width <= 390).toBe(true);
      }
      const row = section.locator('tr[data-replica="replica-n1"] td');
      const [nameBox, nodeBox] = [await row.nth(0).boundingBox(), await row.nth(1).boundingBox()];
      expect(nodeBox?.y).toBeGreaterThanOrEqual((nameBox?.y ?? 0) + (nameBox?.height ?? 0));
    } finally {
      await browser.close();
    }
  }, 90_000);

  it('the holder killed, the other replica takes the node over and applies; the dead row is purged with its lease; back, it stands by', async () => {
    const before = await leaseOf(n2);
    await n1.sidecar.kill();
    // Changed while the holder is dead: the peer goes (on n2 and on the partner).
    for (const s of [n2, partner]) {
      const peer = await peerByName(s, 'ha_same1');
      await adminOk(s, 'DELETE', `/federation/peers/${peer?.id}?local_only=true`, undefined, 204);
    }
    await waitUntil(async () => !(await loaded('ha_same1')), {
      what: 'ha_same1 removed from the Asterisk by n2 after the takeover',
      timeoutMs: 20_000,
    });
    const taken = await leaseOf(n2);
    expect(taken?.holder).toBe('replica-n2');
    expect(taken?.token).toBeGreaterThan(before?.token ?? Number.MAX_SAFE_INTEGER);
    expect(await runs(n2)).toBeGreaterThan(0);
    // Not seen for six heartbeats: its row goes (the status stops listing it).
    await waitUntil(async () => !(await replicasOf(n2)).replicas.some((r) => r.replica_id === 'replica-n1'), {
      what: "replica-n1's row purged",
      timeoutMs: 20_000,
    });

    // Back under the same name: listed again, and on standby (n2 keeps renewing the lease).
    await n1.sidecar.restart();
    await waitUntil(
      async () => (await replicasOf(n2)).replicas.find((r) => r.replica_id === 'replica-n1')?.live === true,
      { what: 'replica-n1 live again' },
    );
    // Two of its lease ticks after its first (each found the lease held by n2).
    await waitUntil(
      () => metric(n1.sidecar, 'uuru_fed_job_runs_total', { job: 'node-lease', result: 'ok' }),
      {
        what: "replica-n1's lease ticks",
        until: (n) => n >= 3,
      },
    );
    expect((await leaseOf(n1.sidecar))?.holder).toBe('replica-n2');
    expect(await runs(n1.sidecar)).toBe(0);
  }, 90_000);
});

describe('a replica killed mid-delivery and restarted under its name', () => {
  // The partner stopped (SIGSTOP, a real pause) holds the replica's delivery open while the replica is killed, so
  // the item stays claimed by the dead replica for ha.claimMs (60 s); started again, it gives the claim back at once.
  it('delivers the item its previous life had claimed at once, not after ha.claimMs', async () => {
    const name = 'ha_reclaim';
    await adminOk(
      partner,
      'POST',
      '/federation/outgoing-requests',
      { name, partner_url: a.federationUrl, prefix: '89', codec: 'g722' },
      201,
    );
    const inc = await waitUntil(() => incomingByName(a, name), { what: `incoming ${name}` });
    type Row = {
      id: string;
      state: string;
      claimedBy: string | null;
      claimExpiresAt: number | string | null;
    };
    const item = async (): Promise<Row | undefined> =>
      (
        await a.query<Row>(
          "SELECT id, state, claimedBy, claimExpiresAt FROM {db}.outbox WHERE kind = 'accept' AND peerName = ?",
          [name],
        )
      )[0];
    process.kill(partner.pid, 'SIGSTOP');
    let sender: Sidecar;
    try {
      await adminOk(a, 'POST', `/federation/incoming-requests/${inc.id}/accept`, { prefix: '79' }, 200);
      const claimed = await waitUntil(item, {
        what: `the accept of ${name} claimed`,
        until: (r) => r?.claimedBy === 'replica-a' || r?.claimedBy === 'replica-b',
      });
      sender = claimed?.claimedBy === 'replica-a' ? a : b;
      await sender.kill();
      expect(Number((await item())?.claimExpiresAt)).toBeGreaterThan(Date.now() + 30_000);
    } finally {
      process.kill(partner.pid, 'SIGCONT');
    }
    const restarted = Date.now();
    await sender.restart();
    await waitUntil(item, {
      what: `the accept of ${name} delivered`,
      until: (r) => r?.state === 'delivered',
      timeoutMs: 20_000,
    });
    // Well inside the 60 s the dead replica's claim would have held.
    expect(Date.now() - restarted).toBeLessThan(30_000);
    expect(sender.logs()).toContain('outbox claims of this replica before its restart given back');
    for (const s of [partner, a]) {
      const peer = await peerByName(s, name);
      await adminOk(s, 'DELETE', `/federation/peers/${peer?.id}?local_only=true`, undefined, 204);
    }
  }, 90_000);
});
