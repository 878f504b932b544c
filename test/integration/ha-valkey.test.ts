/**
 * Replicas with a Valkey server (issue 16, UURU_HA_VALKEY_URL): two sidecar
 * processes on one MariaDB database and one real Valkey-protocol server
 * (Debian's redis-server, test/harness/valkey.ts), and a partner sidecar whose
 * signed calls the per-origin limit counts. Sessions, failed logins, the
 * per-origin limit and the per-IP limit's buckets are shared through Valkey
 * (none of them is written to the database); with Valkey stopped, a session is refused with
 * VALKEY_UNAVAILABLE (never taken as valid, never as "no session"), signing in
 * likewise, API tokens and federation keep working, /readyz reports it; with
 * Valkey back, signing in works again without a restart.
 */
import crypto from 'node:crypto';
import Redis from 'ioredis';
import { configSchema } from '../../src/config/schema';
import { DESCRIPTOR_PATH } from '../../src/federation/descriptor';
import { signRequest } from '../../src/federation/http-signature';
import { createAdminUser } from '../../src/http/admin/admin-users';
import { openDatabase } from '../../src/store/data-source';
import { externalMariaDbFromEnv } from '../harness/mariadb';
import { activeKeys, destroyAll, startSidecar, type Sidecar } from '../harness/sidecar';
import { startValkey, type ValkeyServer } from '../harness/valkey';
import { waitUntil } from '../harness/wait';
import { call, panelLogin, tryLogin } from './admin-fixtures';

const SECRET = crypto.randomBytes(24).toString('base64url');
const PASSWORD = 'a long enough password for valkey';
const ORIGIN_LIMIT = 20;
// Small enough to spend at once (the burst is the whole limit); addresses through X-Forwarded-For from loopback.
const PER_IP = 60;
const config = {
  federation: { rateLimitPerOriginPerMinute: ORIGIN_LIMIT, rateLimitPerIpPerMinute: PER_IP },
  http: { trustProxy: 'loopback' },
};

let valkey: ValkeyServer;
let inspect: Redis;
let partner: Sidecar;
let a: Sidecar;
let b: Sidecar;

const replicaEnv = (id: string): Record<string, string> => ({
  UURU_HA_ENABLED: 'true',
  UURU_HA_REPLICA_ID: id,
  UURU_KEY_ENCRYPTION_SECRET: SECRET,
  UURU_HA_VALKEY_URL: valkey.url,
});

beforeAll(async () => {
  valkey = await startValkey();
  // The test's own look into the server (its reconnect attempts while the server is stopped are expected).
  inspect = new Redis(valkey.url);
  inspect.on('error', () => undefined);
  [partner, a] = await Promise.all([
    startSidecar({ name: 'vk_partner', config }),
    startSidecar({ name: 'vk_a', db: 'mariadb', env: replicaEnv('replica-a'), config }),
  ]);
  b = await startSidecar({
    name: 'vk_b',
    db: 'mariadb',
    sharedMariaDb: a.mariaDbName ?? '',
    env: { ...replicaEnv('replica-b'), UURU_FEDERATION_UURU_HOST: a.federationUrl },
    config,
  });
  await createAdmin(a.mariaDbName, 'vera');
}, 120_000);

afterAll(async () => {
  inspect?.disconnect();
  await destroyAll([b, partner]);
  await destroyAll([a]);
  await valkey?.destroy();
});

/** An admin account in the replicas' database, made as `uuru-fed admin create` would. */
async function createAdmin(database: string | null, username: string): Promise<void> {
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

const keysIn = (pattern: string) => inspect.keys(pattern);
const rowsOf = async (table: string) =>
  Number((await a.query<{ n: unknown }>(`SELECT COUNT(*) AS n FROM {db}.${table}`))[0].n);
const status = (s: Sidecar, cookie: string) =>
  call(s.adminUrl, 'GET', '/api/admin/status', { headers: { cookie } });

it('a session made on replica A is valid on B; a logout on B ends it on A; it lives in Valkey, not the database', async () => {
  const s = await panelLogin({ adminUrl: a.adminUrl }, 'vera', PASSWORD);
  const onB = await status(b, s.cookie);
  expect(onB.status).toBe(200);
  expect(onB.json).toMatchObject({ principal: 'vera' });
  expect(await rowsOf('admin_sessions')).toBe(0);
  expect(await keysIn('uuru-fed:session:*')).toHaveLength(1);

  const out = await call(b.adminUrl, 'POST', '/panel/logout', {
    rawBody: new URLSearchParams({ _csrf: s.csrf }).toString(),
    headers: { cookie: s.cookie, 'content-type': 'application/x-www-form-urlencoded' },
  });
  expect(out.status).toBe(303);
  expect((await status(a, s.cookie)).status).toBe(401);
  expect(await keysIn('uuru-fed:session:*')).toHaveLength(0);
});

it('failed logins on both replicas add up to one throttle, counted in Valkey', async () => {
  // Five per account in 15 minutes: three on A and two on B reach it.
  for (const s of [a, b, a, b, a]) {
    expect((await tryLogin({ adminUrl: s.adminUrl }, 'vera', 'wrong password')).status).toBe(401);
  }
  const refused = await tryLogin({ adminUrl: b.adminUrl }, 'vera', PASSWORD);
  expect(refused.status).toBe(429);
  expect(refused.headers.get('x-error-code')).toBe('LOGIN_THROTTLED');
  expect(await rowsOf('login_failures')).toBe(0);
  // The account's count cleared by hand (as a successful login would), for the tests below.
  await inspect.del('uuru-fed:login-failures:u:vera');
});

it("the per-origin limit counts one partner's calls to both replicas together, in Valkey", async () => {
  const { signing, agreementKid } = await activeKeys(partner);
  // A first contact (a peering request, whose base_url the replicas fetch the keys from) makes the partner known:
  // a signed call of a partner whose keys are not pinned is refused (FED_UNKNOWN_KEY) before any limit counts it.
  const request = JSON.stringify({
    request_id: crypto.randomUUID(),
    name: 'vk_first',
    codec: 'g722',
    extension_length: 4,
    base_url: partner.federationUrl,
    iax2: { host: '127.0.0.1', port: 4569 },
    agreement_kid: agreementKid,
  });
  const requestUrl = `${a.federationUrl}/federation/v2/peering-requests`;
  const first = await fetch(requestUrl, {
    method: 'POST',
    headers: signRequest({ method: 'POST', url: requestUrl, body: request, key: signing, now: Date.now() }),
    body: request,
  });
  expect(first.status).toBe(201);
  // The partner's window starts afresh, so that the calls below are all in it.
  const counted = await keysIn('uuru-fed:rate:origin*');
  if (counted.length > 0) await inspect.del(...counted);
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
  // Counted per replica, each would let ORIGIN_LIMIT through: 2 × ORIGIN_LIMIT in all.
  expect(statuses.filter((s) => s !== 429)).toHaveLength(ORIGIN_LIMIT);
  expect(statuses.slice(ORIGIN_LIMIT).every((s) => s === 429)).toBe(true);
  expect(await keysIn('uuru-fed:rate:origin*')).toHaveLength(1);
  // In the database only what stays there with Valkey: the unsolicited budget's hold.
  const rows = await a.query<{ limiterKey: string }>('SELECT limiterKey FROM {db}.rate_limit_windows');
  expect(rows.map((r) => r.limiterKey.replace(/:.*/, ''))).toEqual(['unsolicited']);
});

it('one address alternating between both replicas is refused once the one per-IP limit is spent, its bucket in Valkey', async () => {
  const get = async (s: Sidecar) => {
    const res = await fetch(`${s.federationUrl}${DESCRIPTOR_PATH}`, {
      headers: { 'x-forwarded-for': '203.0.113.51' },
    });
    await res.arrayBuffer();
    return res.status;
  };
  const statuses: number[] = [];
  for (let i = 0; i < 2 * PER_IP; i++) statuses.push(await get(i % 2 === 0 ? a : b));
  // Each replica counting on its own would have let every one through. One more a second refills the bucket.
  expect(statuses.slice(0, PER_IP)).toEqual(Array(PER_IP).fill(200));
  expect(statuses.filter((s) => s === 200).length).toBeLessThanOrEqual(PER_IP + 3);
  expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(PER_IP - 3);
  expect(await keysIn('uuru-fed:bucket:ip:203.0.113.51')).toHaveLength(1);
  const rows = await a.query("SELECT limiterKey FROM {db}.rate_limit_windows WHERE limiterKey LIKE 'ip:%'");
  expect(rows).toHaveLength(0);
});

it('with Valkey stopped a session is refused with VALKEY_UNAVAILABLE on both replicas (never let in, never taken as signed out), signing in too; tokens and /readyz answer; back, signing in works again', async () => {
  const s = await panelLogin({ adminUrl: a.adminUrl }, 'vera', PASSWORD);
  await valkey.stop();

  for (const r of [a, b]) {
    const api = await status(r, s.cookie);
    expect([api.status, (api.json as { error?: string } | null)?.error]).toEqual([503, 'VALKEY_UNAVAILABLE']);
    const page = await call(r.adminUrl, 'GET', '/panel/federation', { headers: { cookie: s.cookie } });
    expect([page.status, page.headers.get('x-error-code')]).toEqual([503, 'VALKEY_UNAVAILABLE']);
    expect(page.text).not.toContain('vera');
    // A state change with the session and its CSRF token: refused before anything runs.
    const change = await call(r.adminUrl, 'PUT', '/api/admin/federation/policy', {
      body: {
        mode: 'closed',
        allowed_peers: [],
        blocked_peers: [],
        allow_legacy: true,
        unfederated_numbers: [],
      },
      headers: { cookie: s.cookie, 'x-csrf-token': s.csrf },
    });
    expect([change.status, (change.json as { error?: string } | null)?.error]).toEqual([
      503,
      'VALKEY_UNAVAILABLE',
    ]);
    const login = await tryLogin({ adminUrl: r.adminUrl }, 'vera', PASSWORD);
    expect([login.status, login.headers.get('x-error-code')]).toEqual([503, 'VALKEY_UNAVAILABLE']);
    // No credentials at all: the same 401 as ever; a bearer token does not need Valkey.
    expect((await call(r.adminUrl, 'GET', '/api/admin/status')).status).toBe(401);
    expect((await call(r.adminUrl, 'GET', '/api/admin/status', { token: r.token })).status).toBe(200);
    const ready = await call(r.adminUrl, 'GET', '/readyz');
    expect([ready.status, (ready.json as { valkey?: string }).valkey]).toEqual([200, 'down']);
    // Federation answers: the per-IP gate counts on the replica's own bucket meanwhile, never refusing for it.
    const descriptor = await fetch(`${r.federationUrl}${DESCRIPTOR_PATH}`);
    await descriptor.arrayBuffer();
    expect(descriptor.status).toBe(200);
  }
  const policy = await call(a.adminUrl, 'GET', '/api/admin/federation/policy', { token: a.token });
  expect((policy.json as { mode?: string }).mode).not.toBe('closed');

  await valkey.restart();
  // The replicas reconnect by themselves (every 2 s at most); the restarted server is empty (no persistence).
  for (const r of [a, b])
    await waitUntil(async () => (await call(r.adminUrl, 'GET', '/readyz')).json, {
      what: `${r.name} to report Valkey up again`,
      until: (j) => (j as { valkey?: string }).valkey === 'up',
      timeoutMs: 10_000,
    });
  expect((await status(a, s.cookie)).status).toBe(401);
  const again = await panelLogin({ adminUrl: b.adminUrl }, 'vera', PASSWORD);
  expect((await status(a, again.cookie)).status).toBe(200);

  // The URL's password was never written to a log.
  for (const r of [a, b]) expect(r.logs()).not.toContain(valkey.password);
  expect(a.logs()).toContain('Valkey unreachable');
});
