/**
 * Partner health (issue 14) between two running instances over real HTTP:
 * A and B are in-process sidecars (buildApp, SQLite) sharing one injected
 * ManualClock, so weeks pass in seconds and B still verifies A's signatures
 * (both read the same time). A knows B only by the address of a
 * FAULT-INJECTION HTTP proxy (test/harness/http-fault-injector.ts) in front of
 * B's real listener: it forwards everything, except while a fault is armed,
 * when it drops the connection (B unreachable) or answers a status B would
 * not send on demand (410, 401, 403, 404). Each notification A queues for B
 * is the revoke of a request A sent B while the path was clear.
 *
 * What must hold: an unreachable partner is never given up and is retried at
 * the capped interval (1 h); after failures on 7 distinct days it is marked
 * suspended (its peer stays), and it resumes by itself when it answers; a
 * verified request from it wakes its queue at once; a 410 (and 401, 403,
 * 404) stops the item at once, marked, with no further attempt; an admin can
 * pause, resume and purge the queue through the API and the CLI.
 */
import { ManualClock } from '../harness/manual-clock';
import { type HttpFaultInjector, startHttpFaultInjector } from '../harness/http-fault-injector';
import { assertNever, waitUntil } from '../harness/wait';
import { adminApi, type Instance, startInstance } from './admin-fixtures';
import { cli } from './cli-fixtures';

jest.setTimeout(180_000);

const HOUR = 3600_000;
const DAY = 24 * HOUR;

interface Delivery {
  id: string;
  kind: string;
  request_id: string | null;
  state: 'pending' | 'failed';
  attempts: number;
  next_attempt_at: string | null;
  last_error: string | null;
}
interface PartnerHealth {
  server_name: string;
  peers: string[];
  outbound: {
    state: string;
    consecutive_failures: number;
    failing_since: string | null;
    failure_days: number;
    next_attempt_at: string | null;
    last_success_at: string | null;
    suspended_at: string | null;
    suspended_reason: string | null;
  };
  inbound: { last_verified_at: string | null };
  queue: { paused: boolean; pending: number };
}

// 01:00 UTC today: every simulated day's attempts fall on one UTC day (the suspension counts distinct days).
const clock = new ManualClock(Math.floor(Date.now() / DAY) * DAY + HOUR);
let a: Instance;
let b: Instance;
let proxy: HttpFaultInjector;
/** B's server name as A knows it: the proxy's host:port. */
let bServer: string;
const DROP = { method: 'DELETE', path: /^\/federation\/v2\/peering-requests\//, status: 0 };

const apiA = (method: string, path: string, body?: unknown) => adminApi(a)(method, path, body);
const healthOfB = async (): Promise<PartnerHealth> => {
  const r = await apiA('GET', `/federation/partners/${encodeURIComponent(bServer)}`);
  expect(r.status).toBe(200);
  return r.json as PartnerHealth;
};
const deliveryOf = async (requestId: string): Promise<Delivery | undefined> => {
  const r = await apiA('GET', '/federation/outbox');
  return (r.json as { deliveries: Delivery[] }).deliveries.find((d) => d.request_id === requestId);
};
const cliEnv = () => ({ UURU_ADMIN_URL: a.adminUrl, UURU_ADMIN_TOKEN: a.token });

let nextPrefix = 40;
/** A sends B a request (the path clear), then revokes it: the revoke waits in A's outbox. Returns the request id. */
async function queueRevoke(
  name: string,
  fault: Parameters<HttpFaultInjector['setFault']>[0],
): Promise<string> {
  proxy.setFault(null);
  const created = await apiA('POST', '/federation/outgoing-requests', {
    name,
    partner_url: proxy.url,
    prefix: String(nextPrefix++),
    codec: 'alaw',
  });
  if (created.status !== 201) throw new Error(`request ${name} refused: ${created.status} ${created.text}`);
  const id = (created.json as { id: string }).id;
  proxy.setFault(fault);
  expect((await apiA('DELETE', `/federation/outgoing-requests/${id}`)).status).toBe(204);
  return id;
}

/**
 * Only one pending request per partner pair is allowed (either way), so each case starts from a clean pair: each side
 * drops, without telling the other, the pending requests a case left (a revoke a fault stopped leaves A's request
 * pending on B; B's own request to A stays on both sides).
 */
async function clearPair(): Promise<void> {
  for (const inst of [a, b]) {
    const api = adminApi(inst);
    const incoming = await api('GET', '/federation/incoming-requests');
    expect(incoming.status).toBe(200);
    for (const r of (incoming.json as { requests: { id: string; state: string }[] }).requests) {
      if (r.state !== 'pending') continue;
      const declined = await api('POST', `/federation/incoming-requests/${r.id}/decline`, {
        local_only: true,
      });
      expect(declined.status).toBe(204);
    }
    const outgoing = await api('GET', '/federation/outgoing-requests');
    expect(outgoing.status).toBe(200);
    for (const r of (outgoing.json as { requests: { id: string; state: string }[] }).requests) {
      if (r.state !== 'pending') continue;
      expect((await api('DELETE', `/federation/outgoing-requests/${r.id}?local_only=true`)).status).toBe(204);
    }
  }
}

/** Moves the shared clock to the item's next attempt and waits for A's worker to make that attempt. */
async function nextAttempt(requestId: string): Promise<Delivery> {
  const before = await deliveryOf(requestId);
  if (!before?.next_attempt_at) throw new Error(`no next attempt for ${requestId}`);
  clock.set(Math.max(clock.now(), Date.parse(before.next_attempt_at)));
  return waitUntil(
    async () => {
      const d = await deliveryOf(requestId);
      return d && d.attempts > before.attempts ? d : undefined;
    },
    { what: `attempt ${before.attempts + 1} of ${requestId}` },
  );
}

beforeAll(async () => {
  proxy = await startHttpFaultInjector();
  bServer = new URL(proxy.url).host;
  const timings = {
    jobs: { outboxPollMs: 50, antiEntropyCron: '0 0 1 1 *' },
    federation: {
      outboxRetryBaseMs: 5000,
      outboxRetryMaxMs: HOUR,
      unsolicitedRequestsPerOriginPerHour: 1000,
    },
  };
  a = await startInstance('pha', { clock, overrides: timings });
  b = await startInstance('phb', {
    clock,
    overrides: { ...timings, instance: { publicUrl: proxy.url, iax2Host: '127.0.0.1' } },
  });
  proxy.setTarget(b.federationUrl);
}, 120_000);

afterEach(async () => {
  proxy.setFault(null);
  await clearPair();
});

afterAll(async () => {
  await a?.stop();
  await b?.stop();
  await proxy?.close();
});

it('an unreachable partner is never given up: retried at the capped interval, suspended after 7 distinct days, resumed when it answers', async () => {
  const id = await queueRevoke('ph_weeks', DROP);
  const first = await waitUntil(
    async () => {
      const d = await deliveryOf(id);
      return d && d.attempts >= 1 ? d : undefined;
    },
    { what: 'the first attempt' },
  );
  expect(first.state).toBe('pending');
  const start = clock.now();
  let last = first;
  let lastAt = clock.now();
  const gaps: number[] = [];
  // Backoff from 5 s doubles up to the cap (1 h, drawn in [d/2, d]); then the gap stays capped.
  for (let i = 0; i < 14; i++) {
    last = await nextAttempt(id);
    gaps.push(clock.now() - lastAt);
    lastAt = clock.now();
  }
  expect(Math.max(...gaps)).toBeLessThanOrEqual(HOUR);
  expect(gaps.slice(-3).every((g) => g >= HOUR / 2)).toBe(true);
  expect(last.state).toBe('pending');

  // Weeks: each simulated day, A keeps trying at the capped interval (two attempts watched per day).
  const suspendedOn: number[] = [];
  for (let day = 1; day <= 21; day++) {
    clock.set(start + day * DAY);
    for (let k = 0; k < 2; k++) {
      const before = clock.now();
      last = await nextAttempt(id);
      expect(last.state).toBe('pending');
      expect(clock.now() - before).toBeLessThanOrEqual(HOUR);
    }
    const h = await healthOfB();
    if (h.outbound.state === 'suspended') suspendedOn.push(day);
  }
  // Failures on day 0 .. 6 are seven distinct days: suspended from day 6 on, never given up.
  expect(suspendedOn[0]).toBe(6);
  const h = await healthOfB();
  expect(h.outbound).toMatchObject({ state: 'suspended', failure_days: 22 });
  expect(h.outbound.suspended_reason).toMatch(/^no answer on 7 distinct days since /);
  expect(h.outbound.failing_since).toBe(new Date(start).toISOString());
  expect(h.queue.pending).toBe(1);
  expect((await deliveryOf(id))?.state).toBe('pending');

  // B answers again: the next attempt (the 58th) delivers and the suspension is lifted by itself. A delivered item
  // leaves the outbox listing, so the attempt shows as the item gone (not as its attempt count going up).
  proxy.setFault(null);
  const due = (await deliveryOf(id))!;
  expect(due).toMatchObject({ state: 'pending', attempts: 57 });
  await assertNever(async () => (await deliveryOf(id)) === undefined, {
    what: 'a delivery before the next attempt time',
    windowMs: 300,
  });
  clock.set(Math.max(clock.now(), Date.parse(due.next_attempt_at!)));
  await waitUntil(async () => (await deliveryOf(id)) === undefined, { what: 'the revoke delivered' });
  const back = await healthOfB();
  expect(back.outbound).toMatchObject({
    state: 'ok',
    consecutive_failures: 0,
    failure_days: 0,
    suspended_at: null,
    suspended_reason: null,
    failing_since: null,
  });
  expect(back.outbound.last_success_at).toBe(new Date(clock.now()).toISOString());
});

it('a verified request from the partner wakes its queue at once', async () => {
  const id = await queueRevoke('ph_wake', DROP);
  for (let i = 0; i < 12; i++) await nextAttempt(id);
  const waiting = (await deliveryOf(id))!;
  expect(Date.parse(waiting.next_attempt_at!) - clock.now()).toBeGreaterThan(HOUR / 4);
  proxy.setFault(null);
  // Nothing is tried before the next attempt while B keeps silent.
  await assertNever(async () => (await deliveryOf(id))?.attempts !== waiting.attempts, {
    what: 'an attempt before the next attempt time',
    windowMs: 500,
  });
  // B sends A a peering request of its own (a signed request A verifies); the clock stands still. One pending request
  // per pair: B first drops A's request locally (nothing is sent to A, so this wakes nothing); A's revoke, when it
  // comes, is then answered 404 FED_UNKNOWN_REQUEST, which is its goal reached (delivered).
  const mine = await adminApi(b)('GET', '/federation/incoming-requests');
  const fromA = (mine.json as { requests: { id: string; name: string; state: string }[] }).requests.filter(
    (r) => r.state === 'pending',
  );
  expect(fromA.map((r) => r.name)).toEqual(['ph_wake']);
  expect(
    (await adminApi(b)('POST', `/federation/incoming-requests/${fromA[0]!.id}/decline`, { local_only: true }))
      .status,
  ).toBe(204);
  await assertNever(async () => (await deliveryOf(id))?.attempts !== waiting.attempts, {
    what: 'an attempt after B dropped the request locally',
    windowMs: 300,
  });
  const hello = await adminApi(b)('POST', '/federation/outgoing-requests', {
    name: 'ph_hello',
    partner_url: a.federationUrl,
    prefix: '61',
    codec: 'alaw',
  });
  expect(hello.status).toBe(201);
  await waitUntil(async () => (await deliveryOf(id)) === undefined, {
    what: "A's queue for B woken and delivered",
  });
  const h = await healthOfB();
  expect(h.inbound.last_verified_at).toBe(new Date(clock.now()).toISOString());
  expect(h.outbound.state).toBe('ok');
});

it.each([410, 401, 403, 404])(
  'a %i answer stops the item at once, marked with the reason, never tried again',
  async (status) => {
    const fault = {
      method: 'DELETE',
      path: /^\/federation\/v2\/peering-requests\//,
      status,
      body: { error: 'INJECTED', message: `fault injection: ${status}` },
    };
    const injectedBefore = proxy.injected();
    const id = await queueRevoke(`ph_s${status}`, fault);
    const failed = await waitUntil(
      async () => {
        const r = await apiA('GET', '/federation/outbox?state=failed');
        return (r.json as { deliveries: Delivery[] }).deliveries.find((d) => d.request_id === id);
      },
      { what: `the ${status} item marked` },
    );
    expect(failed).toMatchObject({
      state: 'failed',
      attempts: 1,
      next_attempt_at: null,
      last_error: `partner answered ${status} INJECTED: fault injection: ${status}`,
    });
    expect(proxy.injected()).toBe(injectedBefore + 1);
    // A day later and with "retry now", nothing more is sent for it.
    clock.advance(DAY);
    expect((await apiA('POST', '/federation/outbox/retry', {})).status).toBe(200);
    await assertNever(() => proxy.injected() !== injectedBefore + 1, {
      what: `another attempt after ${status}`,
      windowMs: 500,
    });
    // The partner answered: it is not failing.
    expect((await healthOfB()).outbound.consecutive_failures).toBe(0);
  },
);

it('pause, resume and purge a partner queue through the admin API and the CLI', async () => {
  const id = await queueRevoke('ph_admin', DROP);
  await waitUntil(async () => ((await deliveryOf(id))?.attempts ?? 0) >= 1, { what: 'the first attempt' });

  // API: pause holds the item even when it is due.
  const paused = await apiA('POST', `/federation/partners/${encodeURIComponent(bServer)}/queue/pause`, {});
  expect(paused.status).toBe(200);
  expect((paused.json as PartnerHealth).queue).toMatchObject({ paused: true, pending: 1 });
  const held = (await deliveryOf(id))!;
  clock.advance(2 * HOUR);
  await assertNever(async () => (await deliveryOf(id))?.attempts !== held.attempts, {
    what: 'an attempt while paused',
    windowMs: 500,
  });

  // CLI: shows inbound and outbound apart; resume tries it at once.
  const shown = await cli(['partners', 'show', bServer], cliEnv());
  expect(shown.code).toBe(0);
  expect(shown.stdout).toMatch(/^outbound\s+failing/m);
  expect(shown.stdout).toMatch(/^inbound\s+last verified request /m);
  expect(shown.stdout).toMatch(/^queue\s+1 pending, paused since/m);
  const resumed = await cli(['partners', 'resume', bServer, '--json'], cliEnv());
  expect(resumed.code).toBe(0);
  expect((JSON.parse(resumed.stdout) as PartnerHealth).queue.paused).toBe(false);
  await waitUntil(async () => ((await deliveryOf(id))?.attempts ?? 0) > held.attempts, {
    what: 'an attempt after resume',
  });

  // CLI pause, then API resume, then CLI purge.
  expect((await cli(['partners', 'pause', bServer], cliEnv())).code).toBe(0);
  expect((await healthOfB()).queue.paused).toBe(true);
  const r = await apiA('POST', `/federation/partners/${encodeURIComponent(bServer)}/queue/resume`, {});
  expect((r.json as PartnerHealth).queue.paused).toBe(false);
  const purged = await cli(['partners', 'purge', bServer], cliEnv());
  expect(purged.code).toBe(0);
  expect(purged.stdout).toBe(`purged 1 notification(s) to ${bServer}\n`);
  const failed = await apiA('GET', '/federation/outbox?state=failed');
  expect(
    (failed.json as { deliveries: Delivery[] }).deliveries.find((d) => d.request_id === id),
  ).toMatchObject({
    state: 'failed',
    last_error: 'purged by an admin',
  });
  const list = await cli(['partners', 'list'], cliEnv());
  expect(list.stdout).toMatch(/OUTBOUND.*INBOUND \(LAST VERIFIED\)/);
  // API: purge through the API on an empty queue; an unknown partner is refused with its code.
  const again = await apiA('POST', `/federation/partners/${encodeURIComponent(bServer)}/queue/purge`, {});
  expect(again.json).toMatchObject({ purged: 0 });
  const unknown = await apiA('POST', '/federation/partners/nobody.example/queue/pause', {});
  expect(unknown.status).toBe(404);
  expect(unknown.json).toMatchObject({ error: 'FED_UNKNOWN_PARTNER' });
  proxy.setFault(null);
});
