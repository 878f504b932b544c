/**
 * The uuru-fed/2 handshake between two real sidecar processes over HTTP on
 * loopback, once on SQLite and once on MariaDB: request and accept in both
 * directions (same derived secret on both sides, read from each side's
 * database), decline, revoke, teardown from each side, local_only, and an
 * accept sent while the requester is down.
 *
 * Time is shortened, not waited for: the outbox retries after 200 ms-1 s
 * instead of minutes, and anti-entropy runs every 2 s.
 */
import {
  adminOk,
  destroyAll,
  incomingByName,
  outgoingByName,
  peerByName,
  peerRow,
  startSidecar,
  type Sidecar,
} from '../harness/sidecar';
import { waitUntil } from '../harness/wait';

const fastTimings = {
  jobs: { outboxPollMs: 100, antiEntropyCron: '*/2 * * * * *' },
  federation: { outboxRetryBaseMs: 200, outboxRetryMaxMs: 1000, unsolicitedRequestsPerOriginPerHour: 100 },
};

/** The admin view of an outgoing request, as created. */
interface Created {
  id: string;
  dialect: string;
  state: string;
}

async function request(from: Sidecar, to: Sidecar, name: string, prefix: string): Promise<Created> {
  return adminOk<Created>(
    from,
    'POST',
    '/federation/outgoing-requests',
    { name, partner_url: to.federationUrl, prefix, codec: 'g722' },
    201,
  );
}

async function accept(on: Sidecar, name: string, prefix: string): Promise<Record<string, unknown>> {
  const inc = await waitUntil(() => incomingByName(on, name), {
    what: `incoming request ${name} on ${on.name}`,
  });
  return adminOk(on, 'POST', `/federation/incoming-requests/${inc.id}/accept`, { prefix }, 200);
}

/** Both sides hold the peer with the same 40-character derived secret. */
async function expectPeered(x: Sidecar, y: Sidecar, name: string): Promise<string> {
  const px = await waitUntil(() => peerRow(x, name), { what: `peer ${name} on ${x.name}` });
  const py = await waitUntil(() => peerRow(y, name), { what: `peer ${name} on ${y.name}` });
  expect(px.secret).toMatch(/^[A-Za-z0-9_-]{40}$/);
  expect(py.secret).toBe(px.secret);
  expect(px.requestId).toBe(py.requestId);
  expect(px.dialect).toBe('v2');
  expect(py.dialect).toBe('v2');
  return px.secret;
}

describe.each(['sqlite', 'mariadb'] as const)('uuru-fed/2 handshake between two sidecars (%s)', (db) => {
  let a: Sidecar;
  let b: Sidecar;

  beforeAll(async () => {
    [a, b] = await Promise.all([
      startSidecar({ name: `v2a_${db}`, db, config: fastTimings }),
      startSidecar({ name: `v2b_${db}`, db, config: fastTimings }),
    ]);
  }, 120_000);

  afterAll(async () => {
    await destroyAll([a, b]);
  });

  it('A requests, B accepts: both hold the peer with the same derived secret, and requests are gone', async () => {
    const created = await request(a, b, 'ab_one', '71');
    expect(created).toMatchObject({ dialect: 'v2', state: 'pending' });

    const inc = await waitUntil(() => incomingByName(b, 'ab_one'), { what: 'incoming on B' });
    const aKeys = await adminOk<{ keys: { alg: string; status: string; fingerprint: string }[] }>(
      a,
      'GET',
      '/federation/keys',
      undefined,
      200,
    );
    const aActive = aKeys.keys.find((k) => k.alg === 'ed25519' && k.status === 'active');
    // B shows A's pinned key so admins can compare it out of band.
    expect(inc.partner_key_fingerprint).toBe(aActive?.fingerprint);
    expect(inc.request_id).toBe(created.id);

    const peerOnB = await accept(b, 'ab_one', '72');
    expect(peerOnB).toMatchObject({
      name: 'ab_one',
      role: 'acceptor',
      dialect: 'v2',
      prefix: '72',
      state: 'active',
    });
    expect(JSON.stringify(peerOnB)).not.toMatch(/secret/);

    const secret = await expectPeered(a, b, 'ab_one');
    expect((await peerRow(a, 'ab_one'))?.prefix).toBe('71');
    expect((await peerRow(a, 'ab_one'))?.role).toBe('requester');
    expect(await outgoingByName(a, 'ab_one')).toBeUndefined();
    expect(await incomingByName(b, 'ab_one')).toBeUndefined();
    await waitUntil(async () => (await peerByName(b, 'ab_one'))?.pending_deliveries === 0, {
      what: 'B delivered the accept',
    });
    // The secret never crosses the wire and is never shown.
    expect(a.logs()).not.toContain(secret);
    expect(b.logs()).not.toContain(secret);
    const viewOnA = await peerByName(a, 'ab_one');
    expect(JSON.stringify(viewOnA)).not.toContain(secret);
  });

  it('a second request to an instance we already peer with is refused with FED_ALREADY_PEERED', async () => {
    const r = await a.admin('POST', '/federation/outgoing-requests', {
      name: 'ab_twice',
      partner_url: b.federationUrl,
      prefix: '79',
      codec: 'g722',
    });
    expect(r.status).toBe(409);
    expect(r.json).toMatchObject({ error: 'FED_ALREADY_PEERED' });
  });

  it('teardown from A removes the peer on both sides (then the pair may peer again)', async () => {
    const peer = await peerByName(a, 'ab_one');
    await adminOk(a, 'DELETE', `/federation/peers/${peer?.id}`, undefined, 204);
    expect(await peerRow(a, 'ab_one')).toBeUndefined();
    await waitUntil(async () => (await peerRow(b, 'ab_one')) === undefined, { what: 'B forgot ab_one' });
  });

  it('B requests, A accepts: the other direction works the same way', async () => {
    await request(b, a, 'ba_one', '73');
    await accept(a, 'ba_one', '74');
    await expectPeered(b, a, 'ba_one');
    expect((await peerRow(b, 'ba_one'))?.role).toBe('requester');
    expect((await peerRow(a, 'ba_one'))?.role).toBe('acceptor');
  });

  it('teardown from B removes the peer on both sides', async () => {
    const peer = await peerByName(b, 'ba_one');
    await adminOk(b, 'DELETE', `/federation/peers/${peer?.id}`, undefined, 204);
    expect(await peerRow(b, 'ba_one')).toBeUndefined();
    await waitUntil(async () => (await peerRow(a, 'ba_one')) === undefined, { what: 'A forgot ba_one' });
  });

  it('B declines: A sees the request declined with the reason, no peer anywhere', async () => {
    await request(a, b, 'ab_dec', '75');
    const inc = await waitUntil(() => incomingByName(b, 'ab_dec'), { what: 'incoming on B' });
    await adminOk(b, 'POST', `/federation/incoming-requests/${inc.id}/decline`, { reason: 'not today' }, 204);
    expect((await incomingByName(b, 'ab_dec'))?.state).toBe('declined');
    const out = await waitUntil(
      async () => {
        const o = await outgoingByName(a, 'ab_dec');
        return o?.state === 'declined' ? o : undefined;
      },
      { what: 'A sees the decline' },
    );
    expect(out.decline_reason).toBe('not today');
    expect(await peerRow(a, 'ab_dec')).toBeUndefined();
    expect(await peerRow(b, 'ab_dec')).toBeUndefined();
    // Clean up on both sides without notifying (the request is finished).
    await adminOk(a, 'DELETE', `/federation/outgoing-requests/${out.id}`, undefined, 204);
    await adminOk(b, 'POST', `/federation/incoming-requests/${inc.id}/decline`, { local_only: true }, 204);
    expect(await incomingByName(b, 'ab_dec')).toBeUndefined();
  });

  it('A revokes a pending request: it disappears on B', async () => {
    const created = await request(a, b, 'ab_rev', '76');
    await waitUntil(() => incomingByName(b, 'ab_rev'), { what: 'incoming on B' });
    await adminOk(a, 'DELETE', `/federation/outgoing-requests/${created.id}`, undefined, 204);
    expect(await outgoingByName(a, 'ab_rev')).toBeUndefined();
    await waitUntil(async () => (await incomingByName(b, 'ab_rev')) === undefined, {
      what: 'B forgot the request',
    });
  });

  it('local_only revoke and teardown change only the local side; anti-entropy then flags the half-peering', async () => {
    const created = await request(a, b, 'ab_loc', '77');
    await waitUntil(() => incomingByName(b, 'ab_loc'), { what: 'incoming on B' });
    await adminOk(a, 'DELETE', `/federation/outgoing-requests/${created.id}?local_only=true`, undefined, 204);
    expect(await outgoingByName(a, 'ab_loc')).toBeUndefined();
    const revokes = await a.query<{ n: number | string }>(
      "SELECT COUNT(*) AS n FROM {db}.outbox WHERE kind = 'revoke' AND requestId = ?",
      [created.id],
    );
    expect(Number(revokes[0].n)).toBe(0);
    // B still has the request: it was not told.
    expect((await incomingByName(b, 'ab_loc'))?.state).toBe('pending');
    const stale = await incomingByName(b, 'ab_loc');
    await adminOk(b, 'POST', `/federation/incoming-requests/${stale?.id}/decline`, { local_only: true }, 204);

    await request(a, b, 'ab_loc2', '78');
    await accept(b, 'ab_loc2', '78');
    await expectPeered(a, b, 'ab_loc2');
    await waitUntil(async () => (await peerByName(b, 'ab_loc2'))?.pending_deliveries === 0, {
      what: 'accept delivered',
    });
    const onA = await peerByName(a, 'ab_loc2');
    await adminOk(a, 'DELETE', `/federation/peers/${onA?.id}?local_only=true`, undefined, 204);
    expect(await peerRow(a, 'ab_loc2')).toBeUndefined();
    // B keeps its side; anti-entropy asks A, which no longer knows the peering.
    const flagged = await waitUntil(
      async () => {
        const p = await peerByName(b, 'ab_loc2');
        return p?.state === 'partner_missing' ? p : undefined;
      },
      { what: 'B marks the peer partner_missing', timeoutMs: 15_000 },
    );
    expect(flagged.partner_error).toMatch(/unknown/);
    await adminOk(b, 'DELETE', `/federation/peers/${flagged.id}?local_only=true`, undefined, 204);
    expect(await peerRow(b, 'ab_loc2')).toBeUndefined();
  });

  it('an accept sent while the requester is down is delivered once it is back: peered on both sides', async () => {
    await request(a, b, 'ab_down', '81');
    await waitUntil(() => incomingByName(b, 'ab_down'), { what: 'incoming on B' });
    await a.kill();
    const peerOnB = await accept(b, 'ab_down', '82');
    expect(peerOnB).toMatchObject({ name: 'ab_down', state: 'active' });
    // The accept waits in B's outbox, with the failure visible on the peer.
    const waiting = await waitUntil(
      async () => {
        const p = await peerByName(b, 'ab_down');
        return p && p.pending_deliveries === 1 && p.partner_error ? p : undefined;
      },
      { what: 'B shows the failed delivery' },
    );
    expect(waiting.partner_error).toMatch(/unreachable|ECONNREFUSED|could not be reached/);
    await a.restart();
    await expectPeered(a, b, 'ab_down');
    await waitUntil(async () => (await peerByName(b, 'ab_down'))?.pending_deliveries === 0, {
      what: 'B delivered the accept',
    });
    expect(await outgoingByName(a, 'ab_down')).toBeUndefined();
  });
});
