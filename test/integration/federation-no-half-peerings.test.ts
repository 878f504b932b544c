/**
 * No half-peerings: an accept the partner refuses leaves no trunk behind.
 *
 * B (the acceptor) is a real sidecar with a real Asterisk; A (the requester)
 * is a real sidecar. A's public address is a FAULT-INJECTION HTTP proxy in
 * front of its real listener, so one call can be answered 503 or dropped
 * unanswered on demand while everything else reaches A unchanged.
 *
 * v1: B tells A first, as stock µURU does as acceptor
 * (app/models/crud/federation.py, accept_incoming_peering_request: the PUT to
 * the partner comes first; on any non-2xx nothing is created). A's v1
 * receiver answers like stock µURU (403 {"detail":"Unknown request!"} for a
 * request it no longer has), so a withdrawn request is refused as stock µURU
 * would refuse it.
 *
 * v2: the accept is queued in B's outbox; a 503 is retried; a permanent
 * refusal (A revoked meanwhile: 404 FED_UNKNOWN_REQUEST) tears B's peer down,
 * removes the trunk from Asterisk and records why.
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  type Instance,
  GENERATED_IAX_FILE,
  allOrNone,
  parseIaxShowPeers,
  sectionNames,
  startInstance,
} from '../harness/instance';
import { type HttpFaultInjector, startHttpFaultInjector } from '../harness/http-fault-injector';
import {
  adminOk,
  incomingByName,
  outgoingByName,
  peerByName,
  peerRow,
  startSidecar,
  type Sidecar,
} from '../harness/sidecar';
import { waitUntil } from '../harness/wait';

jest.setTimeout(180_000);

const timings = {
  jobs: { outboxPollMs: 100 },
  federation: { outboxRetryBaseMs: 200, outboxRetryMaxMs: 600, unsolicitedRequestsPerOriginPerHour: 100 },
};

let proxyA: HttpFaultInjector;
let a: Sidecar;
let nodeB: Instance;
let b: Sidecar;

beforeAll(async () => {
  proxyA = await startHttpFaultInjector();
  [a, nodeB] = (await allOrNone<Sidecar | Instance>(
    [
      startSidecar({
        name: 'nhp_a',
        db: 'mariadb',
        config: timings,
        // Partners know A only by the proxy's address.
        env: { UURU_FEDERATION_UURU_HOST: proxyA.url },
      }),
      startInstance({
        name: 'nhp_b',
        config: timings,
        // v1 cannot carry a port: B's Asterisk binds the standard one, at a loopback address of its own.
        standardIaxPort: true,
      }),
    ],
    (x) => ('asterisk' in x ? x.stop() : x.destroy()),
  )) as [Sidecar, Instance];
  b = nodeB.sidecar;
  proxyA.setTarget(a.federationUrl);
}, 180_000);

afterAll(async () => {
  await Promise.allSettled([a?.destroy(), nodeB?.stop()]);
  await proxyA?.close();
});

/** One peering per partner: each test starts with neither side holding a peer or request (local only). */
afterEach(async () => {
  proxyA.setFault(null);
  for (const s of [a, b]) {
    const { peers } = await adminOk<{ peers: { id: string }[] }>(
      s,
      'GET',
      '/federation/peers',
      undefined,
      200,
    );
    for (const p of peers)
      await adminOk(s, 'DELETE', `/federation/peers/${p.id}?local_only=true`, undefined, 204);
    const out = await adminOk<{ requests: { id: string }[] }>(
      s,
      'GET',
      '/federation/outgoing-requests',
      undefined,
      200,
    );
    for (const r of out.requests) {
      await adminOk(s, 'DELETE', `/federation/outgoing-requests/${r.id}?local_only=true`, undefined, 204);
    }
    const inc = await adminOk<{ requests: { id: string }[] }>(
      s,
      'GET',
      '/federation/incoming-requests',
      undefined,
      200,
    );
    for (const r of inc.requests) {
      await adminOk(s, 'POST', `/federation/incoming-requests/${r.id}/decline`, { local_only: true }, 204);
    }
  }
});

/** Where B's Asterisk stands on a peer: in the generated file, and loaded by chan_iax2. */
async function trunkOnB(name: string): Promise<{ inFile: boolean; live: boolean }> {
  const file = path.join(nodeB.asterisk.configDir, GENERATED_IAX_FILE);
  const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  return {
    inFile: sectionNames(text).includes(name),
    live: parseIaxShowPeers(await nodeB.asterisk.cli('iax2 show peers')).includes(name),
  };
}

async function outboxOnB(requestId: string) {
  return b.query<{ kind: string; state: string; attempts: number | string; lastError: string | null }>(
    'SELECT kind, state, attempts, lastError FROM {db}.outbox WHERE requestId = ? ORDER BY createdAt',
    [requestId],
  );
}

async function requestFromA(name: string, prefix: string, dialect: 'v1' | 'v2') {
  const created = await adminOk<{ id: string; dialect: string }>(
    a,
    'POST',
    '/federation/outgoing-requests',
    { name, partner_url: b.federationUrl, prefix, codec: 'alaw', dialect },
    201,
  );
  expect(created.dialect).toBe(dialect);
  const inc = await waitUntil(() => incomingByName(b, name), { what: `incoming ${name} on B` });
  return { created, inc };
}

describe('v1: B tells the partner first and stores only on its 2xx', () => {
  it('the partner withdrew the request: FED_PARTNER_REFUSED, no peer, no trunk, the request removed', async () => {
    const { created, inc } = await requestFromA('nh_v1_gone', '61', 'v1');
    // A's admin withdraws without telling B (µURU's revoke with local_only): A no longer knows the request.
    await adminOk(a, 'DELETE', `/federation/outgoing-requests/${created.id}?local_only=true`, undefined, 204);

    const r = await b.admin('POST', `/federation/incoming-requests/${inc.id}/accept`, { prefix: '62' });
    expect(r.status).toBe(409);
    expect(r.json).toMatchObject({
      error: 'FED_PARTNER_REFUSED',
      message: expect.stringMatching(/Unknown request!.*nothing was stored.*removed/),
    });
    expect(await peerRow(b, 'nh_v1_gone')).toBeUndefined();
    expect(await peerByName(b, 'nh_v1_gone')).toBeUndefined();
    // Nobody can complete it any more: it is gone, and nothing waits in the outbox.
    expect(await incomingByName(b, 'nh_v1_gone')).toBeUndefined();
    expect(await outboxOnB(created.id)).toEqual([]);
    expect(await peerRow(a, 'nh_v1_gone')).toBeUndefined();

    // Control: a v1 accept the partner takes creates the trunk (so the absence above is meaningful).
    const ok = await requestFromA('nh_v1_ok', '63', 'v1');
    await adminOk(b, 'POST', `/federation/incoming-requests/${ok.inc.id}/accept`, { prefix: '64' }, 200);
    // Told first: A holds its peer by the time B answered.
    expect(await peerRow(a, 'nh_v1_ok')).toMatchObject({ dialect: 'v1', role: 'requester' });
    await waitUntil(
      async () => {
        const t = await trunkOnB('nh_v1_ok');
        return t.inFile && t.live;
      },
      { what: 'B applied the control trunk' },
    );
    expect(await trunkOnB('nh_v1_gone')).toEqual({ inFile: false, live: false });
    expect(await outboxOnB(ok.created.id)).toEqual([]);
  });

  it('the partner cannot be told (no answer, then 5xx): FED_PARTNER_UNREACHABLE, nothing stored, the request kept; then it takes the accept', async () => {
    const { created, inc } = await requestFromA('nh_v1_down', '65', 'v1');
    const acceptPath = /^\/api\/v1\/federation\/outgoing\/request\//;

    for (const fault of [
      { method: 'PUT', path: acceptPath, status: 0 },
      { method: 'PUT', path: acceptPath, status: 500, body: { detail: 'Internal Server Error' } },
    ]) {
      proxyA.setFault(fault);
      const r = await b.admin('POST', `/federation/incoming-requests/${inc.id}/accept`, { prefix: '66' });
      expect({ status: r.status, json: r.json }).toEqual({
        status: 502,
        json: {
          error: 'FED_PARTNER_UNREACHABLE',
          message: expect.stringMatching(/not told.*nothing was stored.*local_only/),
        },
      });
      expect(await peerRow(b, 'nh_v1_down')).toBeUndefined();
      expect((await incomingByName(b, 'nh_v1_down'))?.state).toBe('pending');
      expect(await outboxOnB(created.id)).toEqual([]);
    }
    expect(proxyA.injected()).toBe(2);
    proxyA.setFault(null);
    expect(await trunkOnB('nh_v1_down')).toEqual({ inFile: false, live: false });
    // A never saw either attempt: it still has its request, and now takes the accept.
    expect((await outgoingByName(a, 'nh_v1_down'))?.state).toBe('pending');
    await adminOk(b, 'POST', `/federation/incoming-requests/${inc.id}/accept`, { prefix: '66' }, 200);
    const pa = await peerRow(a, 'nh_v1_down');
    expect(pa?.secret).toBe((await peerRow(b, 'nh_v1_down'))?.secret);
    await waitUntil(async () => (await trunkOnB('nh_v1_down')).live, { what: 'B applied the trunk' });
  });

  it('accept with local_only, for a partner that is gone: the peer is created and nobody is told', async () => {
    const { created, inc } = await requestFromA('nh_v1_local', '67', 'v1');
    const injectedBefore = proxyA.injected();
    proxyA.setFault({ method: 'PUT', path: /^\/api\/v1\//, status: 0 });
    try {
      const peer = await adminOk<{ name: string; state: string }>(
        b,
        'POST',
        `/federation/incoming-requests/${inc.id}/accept`,
        { prefix: '68', local_only: true },
        200,
      );
      expect(peer).toMatchObject({ name: 'nh_v1_local', state: 'active' });
      // Nothing was sent: a call would have hit the armed fault.
      expect(proxyA.injected()).toBe(injectedBefore);
    } finally {
      proxyA.setFault(null);
    }
    expect(await incomingByName(b, 'nh_v1_local')).toBeUndefined();
    expect(await outboxOnB(created.id)).toEqual([]);
    expect(await peerRow(a, 'nh_v1_local')).toBeUndefined();
    await waitUntil(async () => (await trunkOnB('nh_v1_local')).live, { what: 'B applied the trunk' });
  });
});

describe('v2: a queued accept the partner refuses for good tears the peering down', () => {
  it('503 is retried with the peer kept; then A answers 404 (it revoked meanwhile): peer and trunk gone, the reason recorded', async () => {
    const { created, inc } = await requestFromA('nh_v2_ref', '71', 'v2');
    proxyA.setFault({
      method: 'POST',
      path: /\/federation\/v2\/peering-requests\/[^/]+\/accept$/,
      status: 503,
      body: { error: 'FED_UNAVAILABLE', message: 'overloaded' },
    });
    await adminOk(b, 'POST', `/federation/incoming-requests/${inc.id}/accept`, { prefix: '72' }, 200);

    // Transient: retried, the peer and its trunk stay.
    const retrying = await waitUntil(
      async () => {
        const [row] = await outboxOnB(created.id);
        return row && Number(row.attempts) >= 3 ? row : undefined;
      },
      { what: 'B retried the accept three times' },
    );
    expect(retrying).toMatchObject({
      kind: 'accept',
      state: 'pending',
      lastError: expect.stringMatching(/503/),
    });
    await waitUntil(
      async () => {
        const t = await trunkOnB('nh_v2_ref');
        return t.inFile && t.live;
      },
      { what: 'B applied the trunk' },
    );
    expect(await peerByName(b, 'nh_v2_ref')).toMatchObject({ state: 'active', pending_deliveries: 1 });

    // A's admin withdraws without telling B; the next retry reaches A, which no longer knows the request.
    await adminOk(a, 'DELETE', `/federation/outgoing-requests/${created.id}?local_only=true`, undefined, 204);
    proxyA.setFault(null);

    await waitUntil(async () => (await peerRow(b, 'nh_v2_ref')) === undefined, {
      what: 'B tore its peer down',
    });
    await waitUntil(
      async () => {
        const t = await trunkOnB('nh_v2_ref');
        return !t.inFile && !t.live;
      },
      { what: 'the trunk is gone from B’s Asterisk', timeoutMs: 20_000 },
    );
    // Why, for the admin: the given-up accept says what happened and what the partner answered.
    const [row] = await outboxOnB(created.id);
    expect(row).toMatchObject({ kind: 'accept', state: 'failed' });
    expect(row.lastError).toMatch(
      /^peering torn down: the partner refused the accept: partner answered 404 FED_UNKNOWN_REQUEST/,
    );
    const listed = await adminOk<{
      deliveries: { kind: string; request_id: string; last_error: string | null }[];
    }>(b, 'GET', '/federation/outbox?state=failed', undefined, 200);
    expect(listed.deliveries.find((d) => d.request_id === created.id)).toMatchObject({
      kind: 'accept',
      last_error: row.lastError,
    });
    const warned = b
      .logs()
      .split('\n')
      .some(
        (l) => l.includes('"level":"warn"') && l.includes('peer torn down: the partner refused the accept'),
      );
    expect(warned).toBe(true);
    // Neither side holds anything; the pair may peer again.
    expect(await peerRow(a, 'nh_v2_ref')).toBeUndefined();
    expect(await incomingByName(b, 'nh_v2_ref')).toBeUndefined();
  });
});
