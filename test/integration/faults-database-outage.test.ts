/**
 * Fault: A's database goes away while A serves.
 *
 * A runs on MariaDB (the integration run's server) reached through a
 * FAULT-INJECTION proxy: "database down" resets every open connection and
 * every new one, as a stopped or crashed server does; "back" forwards again.
 * The server itself stays up (other test files share it), which also lets the
 * test read A's rows directly while A cannot. B is a second real sidecar on
 * SQLite; Asterisk is not involved.
 *
 * What must hold while the database is down: admin, federation and readiness
 * requests answer 503 with a stable error code (never a 500), and nothing is
 * half-written (an accept is one transaction: the request, the peer and the
 * notification change together or not at all). When it is back, A serves
 * again by itself, without a restart.
 */
import { type FaultProxy, startFaultProxy } from '../harness/fault-proxy';
import { allOrNone } from '../harness/instance';
import {
  adminOk,
  countRows,
  destroyAll,
  incomingByName,
  outgoingByName,
  peerRow,
  type Sidecar,
  startSidecar,
} from '../harness/sidecar';
import { waitUntil } from '../harness/wait';

jest.setTimeout(120_000);

const fastTimings = {
  jobs: { outboxPollMs: 100, antiEntropyCron: '*/2 * * * * *' },
  federation: { outboxRetryBaseMs: 200, outboxRetryMaxMs: 1000, unsolicitedRequestsPerOriginPerHour: 100 },
};

let dbProxy: FaultProxy;
let a: Sidecar;
let b: Sidecar;

beforeAll(async () => {
  const port = Number(process.env.UURU_TEST_MARIADB_PORT);
  if (!process.env.UURU_TEST_MARIADB_HOST || !port) {
    throw new Error('no MariaDB from the integration global setup (UURU_TEST_MARIADB_*)');
  }
  dbProxy = await startFaultProxy({ name: 'database-outage', targetPort: port });
  [a, b] = await allOrNone(
    [
      startSidecar({
        name: 'dba',
        db: 'mariadb',
        config: fastTimings,
        env: { UURU_DATABASE_PORT: String(dbProxy.port) },
      }),
      startSidecar({ name: 'dbb', config: fastTimings }),
    ],
    (s) => s.destroy(),
  );
}, 120_000);

afterAll(async () => {
  await destroyAll([a, b]);
  await dbProxy?.close();
});

interface Answer {
  status: number;
  json: unknown;
}

/** A 503 whose body names a stable error code. */
function expect503WithCode(r: Answer, what: string): string {
  const body = r.json as { error?: unknown; message?: unknown };
  if (r.status !== 503 || typeof body?.error !== 'string' || !/^[A-Z][A-Z0-9_]+$/.test(body.error)) {
    const unhandled = a
      .logs()
      .split('\n')
      .filter((l) => l.includes('unhandled error'))
      .slice(-2);
    throw new Error(
      `${what}: expected 503 with an error code, got ${r.status} ${JSON.stringify(r.json)}\n${unhandled.join('\n')}`,
    );
  }
  expect(typeof body.message).toBe('string');
  return body.error;
}

async function databaseDown(): Promise<void> {
  dbProxy.setMode('reset');
  dbProxy.cutAll();
  await waitUntil(
    async () => {
      const r = await fetch(`${a.federationUrl}/readyz`);
      return r.status === 503;
    },
    { what: 'A reports its database down' },
  );
}

async function databaseBack(): Promise<void> {
  dbProxy.setMode('forward');
}

async function rowCountsOfA(): Promise<Record<string, number>> {
  return {
    peers: await countRows(a, 'peers'),
    incoming_requests: await countRows(a, 'incoming_requests'),
    outgoing_requests: await countRows(a, 'outgoing_requests'),
    outbox: await countRows(a, 'outbox'),
  };
}

async function expectServingAgain(): Promise<void> {
  await waitUntil(async () => (await a.admin('GET', '/federation/peers')).status === 200, {
    what: 'A serves again without a restart',
    timeoutMs: 30_000,
    intervalMs: 200,
  });
  expect((await fetch(`${a.federationUrl}/readyz`)).status).toBe(200);
}

const codes = new Set<string>();

afterAll(() => {
  process.stdout.write(`database outage: 503 codes answered: ${[...codes].join(', ')}\n`);
});

it('while the database is down, admin and partner requests get 503 with a code and nothing is written; then A serves again by itself', async () => {
  const before = await rowCountsOfA();
  await databaseDown();

  // Readiness says why.
  const ready = await fetch(`${a.federationUrl}/readyz`);
  expect(ready.status).toBe(503);
  expect(await ready.json()).toMatchObject({ database: 'down' });

  // Admin reads and writes.
  codes.add(expect503WithCode(await a.admin('GET', '/federation/peers'), 'GET peers'));
  codes.add(expect503WithCode(await a.admin('GET', '/federation/incoming-requests'), 'GET incoming'));
  codes.add(
    expect503WithCode(
      await a.admin('POST', '/federation/outgoing-requests', {
        name: 'db_two',
        partner_url: b.federationUrl,
        prefix: '33',
        codec: 'g722',
      }),
      'create request',
    ),
  );
  // A partner's signed request: A cannot check or store it and says so with a retryable
  // status, which B's admin sees; B keeps nothing either.
  const fromB = await b.admin('POST', '/federation/outgoing-requests', {
    name: 'db_three',
    partner_url: a.federationUrl,
    prefix: '34',
    codec: 'g722',
  });
  expect([502, 503]).toContain(fromB.status);
  expect((fromB.json as { error?: string }).error).toMatch(/^[A-Z][A-Z0-9_]+$/);
  expect(await outgoingByName(b, 'db_three')).toBeUndefined();
  // The public descriptor is served or refused cleanly, never with a 500.
  const descriptor = await fetch(`${a.federationUrl}/.well-known/uuru-federation`);
  expect([200, 503]).toContain(descriptor.status);

  // No 500 anywhere in A's log, and nothing written (read directly, past the proxy).
  expect(a.logs()).not.toMatch(/"error":"INTERNAL"|unhandled error/);
  expect(await rowCountsOfA()).toEqual(before);

  await databaseBack();
  await expectServingAgain();
});

it('an accept cut off by the outage leaves nothing half-written, and succeeds once the database is back', async () => {
  // B asks A to peer while all is well; A's admin accepts during the outage.
  await adminOk(
    b,
    'POST',
    '/federation/outgoing-requests',
    { name: 'db_one', partner_url: a.federationUrl, prefix: '31', codec: 'g722' },
    201,
  );
  const inc = await waitUntil(() => incomingByName(a, 'db_one'), { what: 'incoming on A' });
  const before = await rowCountsOfA();
  expect(before).toMatchObject({ peers: 0, incoming_requests: 1, outbox: 0 });

  await databaseDown();
  codes.add(
    expect503WithCode(
      await a.admin('POST', `/federation/incoming-requests/${inc.id}/accept`, { prefix: '32' }),
      'accept',
    ),
  );
  // The accept is one transaction: no peer without its notification, no request half-consumed.
  expect(await rowCountsOfA()).toEqual(before);
  expect((await a.query<{ state: string }>('SELECT state FROM {db}.incoming_requests'))[0]?.state).toBe(
    'pending',
  );
  expect(await peerRow(b, 'db_one')).toBeUndefined();
  expect((await outgoingByName(b, 'db_one'))?.state).toBe('pending');

  await databaseBack();
  await expectServingAgain();
  const again = await waitUntil(() => incomingByName(a, 'db_one'), { what: 'incoming still listed on A' });
  expect(again.id).toBe(inc.id);
  await adminOk(a, 'POST', `/federation/incoming-requests/${inc.id}/accept`, { prefix: '32' }, 200);
  const onB = await waitUntil(() => peerRow(b, 'db_one'), { what: 'B holds the peer' });
  const onA = await peerRow(a, 'db_one');
  expect(onA?.secret).toBe(onB.secret);
  expect(await rowCountsOfA()).toMatchObject({ peers: 1, incoming_requests: 0 });
  expect(a.logs()).not.toMatch(/"error":"INTERNAL"|unhandled error/);
});

it('a database lost in the middle of the accept transaction keeps nothing of it, and the accept succeeds afterwards', async () => {
  // Free the pair for a new peering.
  const oldView = await waitUntil(
    async () => {
      const list = await adminOk<{ peers: { id: string; name: string }[] }>(
        a,
        'GET',
        '/federation/peers',
        undefined,
        200,
      );
      return list.peers.find((p) => p.name === 'db_one');
    },
    { what: 'peer listed on A' },
  );
  await adminOk(a, 'DELETE', `/federation/peers/${oldView.id}`, undefined, 204);
  await waitUntil(async () => (await peerRow(b, 'db_one')) === undefined, { what: 'B forgot db_one' });
  await waitUntil(
    async () => {
      const rows = await a.query<{ n: number | string }>(
        "SELECT COUNT(*) AS n FROM {db}.outbox WHERE state = 'pending'",
      );
      return Number(rows[0]?.n) === 0;
    },
    { what: 'A delivered the teardown' },
  );

  await adminOk(
    b,
    'POST',
    '/federation/outgoing-requests',
    { name: 'db_mid', partner_url: a.federationUrl, prefix: '35', codec: 'g722' },
    201,
  );
  const inc = await waitUntil(() => incomingByName(a, 'db_mid'), { what: 'incoming on A' });
  const before = await rowCountsOfA();

  // The cut comes when A sends the outbox insert: the request is already deleted
  // and the peer already inserted inside the open transaction.
  const cut = dbProxy.cutWhenSent('client', /INSERT INTO `outbox`/i);
  const answer = await a.admin('POST', `/federation/incoming-requests/${inc.id}/accept`, { prefix: '36' });
  expect(await cut).toBeGreaterThan(0);
  codes.add(expect503WithCode(answer, 'accept cut mid-transaction'));

  expect(await rowCountsOfA()).toEqual(before);
  expect(await peerRow(a, 'db_mid')).toBeUndefined();
  expect(
    (await a.query<{ state: string }>('SELECT state FROM {db}.incoming_requests WHERE id = ?', [inc.id]))[0]
      ?.state,
  ).toBe('pending');

  await databaseBack();
  await expectServingAgain();
  await adminOk(a, 'POST', `/federation/incoming-requests/${inc.id}/accept`, { prefix: '36' }, 200);
  const onB = await waitUntil(() => peerRow(b, 'db_mid'), { what: 'B holds the peer' });
  expect((await peerRow(a, 'db_mid'))?.secret).toBe(onB.secret);
  expect(a.logs()).not.toMatch(/"error":"INTERNAL"|unhandled error/);
});
