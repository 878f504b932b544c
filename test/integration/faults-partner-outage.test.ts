/**
 * Fault: the requester A is unreachable for "10 minutes" while B accepts.
 *
 * Time is scaled, not waited for: every delivery timing of the sidecars is
 * divided by TIME_SCALE = 100 through config (first retry 5 s → 50 ms, longest
 * gap 1 h → 36 s; there is no give-up age since issue 14) and the outage lasts
 * 10 min / 100 = 6 s. A's public address is a FAULT-INJECTION proxy in front
 * of its real listener; during the outage the proxy resets every connection,
 * as a host that went away does. Both sidecars are real processes (A on
 * MariaDB, B on SQLite); their Asterisk is not involved here.
 *
 * What must hold: B keeps the accept in its outbox and retries with growing
 * (exponential, jittered) gaps rather than hammering or giving up; the peer on
 * B shows the failed delivery; nothing is marked failed; when A is back the
 * accept is delivered and both sides hold the peer with the same secret.
 */
import { type FaultProxy, startFaultProxy } from '../harness/fault-proxy';
import { allOrNone } from '../harness/instance';
import { sleep } from '../harness/processes';
import {
  adminOk,
  destroyAll,
  incomingByName,
  outgoingByName,
  peerByName,
  peerRow,
  type Sidecar,
  startSidecar,
} from '../harness/sidecar';
import { waitUntil } from '../harness/wait';

jest.setTimeout(120_000);

const TIME_SCALE = 100;
const MINUTE = 60_000;
const OUTAGE_MS = (10 * MINUTE) / TIME_SCALE;
const RETRY_BASE_MS = 5000 / TIME_SCALE;
const RETRY_MAX_MS = 3_600_000 / TIME_SCALE;
const POLL_MS = 50;

const scaledTimings = {
  jobs: { outboxPollMs: POLL_MS, antiEntropyCron: '*/2 * * * * *' },
  federation: {
    outboxRetryBaseMs: RETRY_BASE_MS,
    outboxRetryMaxMs: RETRY_MAX_MS,
    unsolicitedRequestsPerOriginPerHour: 100,
  },
};

interface OutboxRow {
  kind: string;
  state: string;
  attempts: number | string;
  lastError: string | null;
}

let proxyA: FaultProxy;
let a: Sidecar;
let b: Sidecar;

beforeAll(async () => {
  proxyA = await startFaultProxy({ name: 'partner-a-outage' });
  [a, b] = await allOrNone(
    [
      startSidecar({
        name: 'oa',
        db: 'mariadb',
        config: scaledTimings,
        // Partners know A only by the proxy's address.
        env: { UURU_FEDERATION_UURU_HOST: proxyA.url },
      }),
      startSidecar({ name: 'ob', config: scaledTimings }),
    ],
    (s) => s.destroy(),
  );
  proxyA.setTarget(Number(new URL(a.federationUrl).port));
}, 120_000);

afterAll(async () => {
  await destroyAll([a, b]);
  await proxyA?.close();
});

it('an accept sent while the requester is unreachable is retried with backoff and completes when it returns', async () => {
  await adminOk(
    a,
    'POST',
    '/federation/outgoing-requests',
    { name: 'out_ten', partner_url: b.federationUrl, prefix: '51', codec: 'alaw' },
    201,
  );
  const inc = await waitUntil(() => incomingByName(b, 'out_ten'), { what: 'incoming on B' });

  // A drops off the network.
  proxyA.setMode('reset');
  proxyA.cutAll();
  const outageStart = Date.now();
  const seenBefore = proxyA.connections().length;

  const peerOnB = await adminOk<{ state: string }>(
    b,
    'POST',
    `/federation/incoming-requests/${inc.id}/accept`,
    { prefix: '52' },
    200,
  );
  expect(peerOnB.state).toBe('active');
  const failing = await waitUntil(
    async () => {
      const p = await peerByName(b, 'out_ten');
      return p && p.pending_deliveries === 1 && p.partner_error ? p : undefined;
    },
    { what: 'B shows the failed delivery on the peer' },
  );
  expect(failing.partner_error).toMatch(
    /reset|ECONNRESET|socket|unreachable|could not be reached|fetch failed/i,
  );

  await sleep(Math.max(0, OUTAGE_MS - (Date.now() - outageStart)));
  const duringOutage = await b.query<OutboxRow>(
    "SELECT kind, state, attempts, lastError FROM {db}.outbox WHERE kind = 'accept'",
  );
  const attemptTimes = proxyA
    .connections()
    .slice(seenBefore)
    .map((c) => c.at);
  proxyA.setMode('forward');

  // Retried, not given up: still pending with its attempts counted and the error kept.
  expect(duringOutage).toHaveLength(1);
  expect(duringOutage[0].state).toBe('pending');
  const attempts = Number(duringOutage[0].attempts);
  expect(attempts).toBeGreaterThanOrEqual(4);
  expect(duringOutage[0].lastError).toBeTruthy();
  // Every attempt reached the (faulty) network: the proxy saw each one.
  expect(attemptTimes.length).toBeGreaterThanOrEqual(attempts);

  // Backoff, not a fixed poll: polling every 50 ms for 6 s would be ~120 attempts;
  // doubling from 50 ms (jitter d/2..d) allows at most ~9 in 6 s.
  expect(attemptTimes.length).toBeLessThanOrEqual(12);
  const gaps = attemptTimes.slice(1).map((t, i) => t - attemptTimes[i]);
  // Jitter keeps each gap within [d/2, d] of a doubling d, so a gap never shrinks
  // by more than the poll interval plus scheduling slack.
  for (let i = 1; i < gaps.length; i++) expect(gaps[i]).toBeGreaterThanOrEqual(gaps[i - 1] - POLL_MS - 60);
  expect(gaps[gaps.length - 1]).toBeGreaterThanOrEqual(4 * gaps[0]);
  process.stdout.write(
    `partner outage: ${attempts} delivery attempts in ${OUTAGE_MS} ms (10 min / ${TIME_SCALE}); gaps ms: ${gaps.join(', ')}\n`,
  );

  // A is back: the waiting accept goes through without anyone pressing "retry".
  const onA = await waitUntil(() => peerRow(a, 'out_ten'), {
    what: 'A holds the peer',
    timeoutMs: 2 * OUTAGE_MS + 10_000,
  });
  const onB = await peerRow(b, 'out_ten');
  expect(onA.secret).toMatch(/^[A-Za-z0-9_-]{40}$/);
  expect(onA.secret).toBe(onB?.secret);
  expect(onA.requestId).toBe(onB?.requestId);
  expect(onA.role).toBe('requester');
  expect(await outgoingByName(a, 'out_ten')).toBeUndefined();
  await waitUntil(
    async () => {
      const p = await peerByName(b, 'out_ten');
      return p?.pending_deliveries === 0 && p.partner_error === null ? p : undefined;
    },
    { what: 'B sees the delivery done' },
  );
  const after = await b.query<OutboxRow>(
    "SELECT kind, state, attempts, lastError FROM {db}.outbox WHERE kind = 'accept'",
  );
  expect(after).toHaveLength(1);
  expect(after[0].state).toBe('delivered');
  expect(Number(after[0].attempts)).toBeGreaterThan(attempts);
  // Nothing anywhere was given up.
  expect(await b.query("SELECT id FROM {db}.outbox WHERE state = 'failed'")).toEqual([]);
  expect(await a.query("SELECT id FROM {db}.outbox WHERE state = 'failed'")).toEqual([]);
  expect((await peerByName(a, 'out_ten'))?.state).toBe('active');
  expect((await peerByName(b, 'out_ten'))?.state).toBe('active');
});
