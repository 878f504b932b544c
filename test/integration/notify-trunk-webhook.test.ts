/**
 * Told when it breaks (issue 14; docs/operations.md, Notifications), on real
 * parts: two complete instances (real sidecar processes, each with its own
 * real Asterisk) peer; A's notifications go to a real HTTP receiver in this
 * test (test/harness/webhook-receiver.ts), which checks each post's
 * HMAC-SHA256 signature as the docs tell a receiver to. B's Asterisk is
 * killed and started again:
 * - a short outage (inside the hysteresis: A's monitor sees the trunk
 *   unreachable, but for fewer polls than trunkDownAfterPolls) is told to
 *   nobody;
 * - a long one is told exactly once when the trunk goes down and once when
 *   it comes back, at the receiver and in A's log; the receiver is down
 *   when the trunk goes down, and still gets the notification once it
 *   listens (retries).
 * The webhook URL and secret reach A through UURU_NOTIFY_WEBHOOK_URL and
 * UURU_NOTIFY_WEBHOOK_SECRET, and neither appears in A's log.
 */
import crypto from 'node:crypto';
import { type Instance, startInstances } from '../harness/instance';
import { adminOk, incomingByName } from '../harness/sidecar';
import { assertNever, waitUntil } from '../harness/wait';
import { createWebhookReceiver, type WebhookReceiver } from '../harness/webhook-receiver';

jest.setTimeout(300_000);

const SECRET = crypto.randomBytes(24).toString('base64url');
/** A's monitor polls every second (and at once on each peer status event); 20 unreachable polls make "down". */
const DOWN_AFTER = 20;
const PEER = 'nt_trunk';

const fastTimings = {
  jobs: { outboxPollMs: 100, antiEntropyCron: '*/2 * * * * *' },
  federation: { outboxRetryBaseMs: 200, outboxRetryMaxMs: 1000, unsolicitedRequestsPerOriginPerHour: 100 },
};

let a: Instance;
let b: Instance;
let receiver: WebhookReceiver;

beforeAll(async () => {
  receiver = await createWebhookReceiver({ secret: SECRET });
  [a, b] = await startInstances([
    {
      name: 'na',
      config: {
        ...fastTimings,
        jobs: { ...fastTimings.jobs, monitorPollMs: 1000 },
        notify: { trunkDownAfterPolls: DOWN_AFTER, trunkUpAfterPolls: 2, retryBaseMs: 200, retryMaxMs: 1000 },
      },
      env: { UURU_NOTIFY_WEBHOOK_URL: receiver.url, UURU_NOTIFY_WEBHOOK_SECRET: SECRET },
      logLevel: 'info',
    },
    { name: 'nb', config: fastTimings },
  ]);
  await adminOk(
    a.sidecar,
    'POST',
    '/federation/outgoing-requests',
    { name: PEER, partner_url: b.sidecar.federationUrl, prefix: '71', codec: 'ulaw' },
    201,
  );
  const inc = await waitUntil(() => incomingByName(b.sidecar, PEER), { what: 'the request on B' });
  await adminOk(b.sidecar, 'POST', `/federation/incoming-requests/${inc.id}/accept`, { prefix: '72' }, 200);
  await reachabilityOnA('reachable', 90_000);
}, 240_000);

afterAll(async () => {
  await Promise.allSettled([a?.stop(), b?.stop(), receiver?.close()]);
});

async function reachability(): Promise<string | undefined> {
  const rows = await a.sidecar.query<{ reachability: string }>(
    'SELECT reachability FROM {db}.peers WHERE name = ?',
    [PEER],
  );
  return rows[0]?.reachability;
}

async function reachabilityOnA(state: string, timeoutMs = 60_000): Promise<void> {
  await waitUntil(async () => (await reachability()) === state, {
    what: `A's monitor to record ${PEER} ${state}`,
    timeoutMs,
    intervalMs: 100,
  });
}

const trunkNotices = () => receiver.received.filter((n) => n.kind === 'trunk');
const logLines = (text: string) =>
  a.sidecar
    .logs()
    .split('\n')
    .filter((l: string) => l.includes(text));

it('a flap inside the hysteresis (B down for fewer polls than the threshold) is told to nobody', async () => {
  await b.asterisk.kill();
  // A's monitor has seen the trunk unreachable: without hysteresis this would be a notification.
  await reachabilityOnA('unreachable');
  await b.asterisk.start();
  await reachabilityOnA('reachable');
  await assertNever(() => trunkNotices().length > 0 || logLines(`trunk ${PEER} is`).length > 0, {
    what: 'a trunk notification for a flap',
    windowMs: 4000,
  });
  expect(receiver.refused).toEqual([]);
});

it('B down for long: one notification down and one up, the first retried until the receiver listens', async () => {
  await receiver.close();
  await b.asterisk.kill();
  await reachabilityOnA('unreachable');
  // The down notification is made (and logged) while nobody listens: A retries it.
  await waitUntil(() => logLines('will retry').length > 0, {
    what: 'A failing to post the down notification',
    timeoutMs: 90_000,
    intervalMs: 200,
  });
  expect(logLines(`trunk ${PEER} is down`)).toHaveLength(1);
  expect(trunkNotices()).toHaveLength(0);
  await receiver.listen();
  const [down] = await waitUntil(() => (trunkNotices().length > 0 ? trunkNotices() : null), {
    what: 'the down notification at the receiver',
    timeoutMs: 30_000,
  });
  expect(down).toMatchObject({
    version: 1,
    kind: 'trunk',
    severity: 'warning',
    peer: PEER,
    old_state: 'up',
    new_state: 'down',
    details: { polls: DOWN_AFTER, reachability: 'unreachable' },
  });
  expect(typeof down.at).toBe('string');

  await b.asterisk.start();
  await reachabilityOnA('reachable');
  await waitUntil(() => trunkNotices().length === 2, { what: 'the up notification', timeoutMs: 30_000 });
  await assertNever(() => trunkNotices().length > 2, { what: 'a third trunk notification', windowMs: 5000 });
  expect(trunkNotices().map((n) => `${n.old_state}->${n.new_state}`)).toEqual(['up->down', 'down->up']);
  expect(trunkNotices()[1]).toMatchObject({ severity: 'info', peer: PEER, details: { polls: 2 } });
  expect(new Set(trunkNotices().map((n) => n.id)).size).toBe(2);
  expect(receiver.refused).toEqual([]);
  // One log line each way, never repeated while the state held.
  expect(logLines(`trunk ${PEER} is down`)).toHaveLength(1);
  expect(logLines(`trunk ${PEER} is up again`)).toHaveLength(1);
  const log = a.sidecar.logs();
  expect(log).not.toContain(SECRET);
  expect(log).not.toContain('in-the-url');

  const metrics = await (await fetch(`${a.sidecar.adminUrl}/metrics`)).text();
  // Every post the receiver took is counted sent (here the two trunk notifications, unless another kind came too).
  expect(metrics).toMatch(
    new RegExp(`^uuru_fed_notifications_total\\{result="sent"\\} ${receiver.received.length}$`, 'm'),
  );
  expect(metrics).toMatch(/^uuru_fed_notifications_total\{result="dropped"\} 0$/m);
  expect(metrics).toMatch(
    new RegExp(`^uuru_fed_peer_key_expiry_timestamp_seconds\\{peer="${PEER}"\\} \\d+`, 'm'),
  );
});
