/**
 * Fault: a message between the two sidecars is lost. Either a partner acts
 * on a call but its answer never arrives (the sender cannot tell "refused"
 * from "done"), or the sender dies while its request is in flight and the
 * partner never sees it. Both sides must still end up agreeing. These are the
 * precise forms of what the random SIGKILLs of faults-sidecar-kill hit only
 * now and then (a process dying between its commit and its answer).
 *
 * Each sidecar is reached by its partner only through a FAULT-INJECTION proxy
 * in front of its federation listener; the proxy lets the call through and
 * resets the connection the moment the partner's answer starts, or swallows
 * the request while the sender is killed. Two real
 * sidecar processes (SQLite); Asterisk is not involved.
 *
 * After each lost answer, once both outboxes drained, the two sides must
 * agree (same peer, same pending request, or nothing on either side).
 */
import { type FaultProxy, startFaultProxy } from '../harness/fault-proxy';
import { allOrNone } from '../harness/instance';
import { agreement, type PeeringAgreement, peeringSide, redactSide } from '../harness/peering-agreement';
import {
  adminOk,
  destroyAll,
  incomingByName,
  peerByName,
  type Sidecar,
  startSidecar,
} from '../harness/sidecar';
import { waitUntil } from '../harness/wait';

jest.setTimeout(120_000);

const timings = {
  jobs: { outboxPollMs: 100, antiEntropyCron: '*/2 * * * * *' },
  federation: { outboxRetryBaseMs: 200, outboxRetryMaxMs: 1000, unsolicitedRequestsPerOriginPerHour: 100 },
};

let proxyA: FaultProxy;
let proxyB: FaultProxy;
let a: Sidecar;
let b: Sidecar;

beforeAll(async () => {
  [proxyA, proxyB] = await Promise.all([
    startFaultProxy({ name: 'lost-answers-a' }),
    startFaultProxy({ name: 'lost-answers-b' }),
  ]);
  [a, b] = await allOrNone(
    [
      startSidecar({ name: 'la', config: timings, env: { UURU_FEDERATION_UURU_HOST: proxyA.url } }),
      startSidecar({ name: 'lb', config: timings, env: { UURU_FEDERATION_UURU_HOST: proxyB.url } }),
    ],
    (s) => s.destroy(),
  );
  proxyA.setTarget(Number(new URL(a.federationUrl).port));
  proxyB.setTarget(Number(new URL(b.federationUrl).port));
}, 120_000);

afterAll(async () => {
  await destroyAll([a, b]);
  await Promise.allSettled([proxyA?.close(), proxyB?.close()]);
});

/** Cuts the next answer `proxy`'s sidecar gives with this status and body; resolves when it was cut. */
function loseNextAnswer(proxy: FaultProxy, status: number, body: string): Promise<number> {
  return proxy.cutWhenSent('server', new RegExp(`^HTTP/1\\.1 ${status} [\\s\\S]*${body}`));
}

/** Waits until both outboxes drained and A (requester) and B (acceptor) agree on `name`. */
async function settled(name: string): Promise<PeeringAgreement> {
  let last = '';
  try {
    return await waitUntil(
      async () => {
        const [ra, sb] = [await peeringSide(a, name), await peeringSide(b, name)];
        if (ra.pendingOutbox > 0 || sb.pendingOutbox > 0) {
          last = `outboxes not drained (A ${ra.pendingOutbox}, B ${sb.pendingOutbox})`;
          return undefined;
        }
        const r = agreement(ra, sb);
        last = r.ok
          ? ''
          : `${r.why}: A=${JSON.stringify(redactSide(ra))} B=${JSON.stringify(redactSide(sb))}`;
        return r.ok ? r.state : undefined;
      },
      { what: `${name}: both sides agree`, timeoutMs: 20_000, intervalMs: 150 },
    );
  } catch (e) {
    throw new Error(`${(e as Error).message}; last seen: ${last}`, { cause: e });
  }
}

it("the partner stored A's request but its answer was lost: both sides agree", async () => {
  try {
    const cut = loseNextAnswer(proxyB, 201, '"state":"pending"');
    const r = await a.admin('POST', '/federation/outgoing-requests', {
      name: 'lost_req',
      partner_url: proxyB.url,
      prefix: '21',
      codec: 'ulaw',
    });
    expect(await cut).toBeGreaterThan(0);
    proxyB.setMode('forward');
    // A cannot know whether B stored it: not a success, and not a 500.
    expect(r.status).toBeGreaterThanOrEqual(500);
    expect(r.status).not.toBe(500);
    expect(['none', 'pending']).toContain(await settled('lost_req'));
  } finally {
    // A clean slate for the next case, whatever happened here.
    proxyB.setMode('forward');
    const left = await incomingByName(b, 'lost_req');
    if (left) await b.admin('POST', `/federation/incoming-requests/${left.id}/decline`, { local_only: true });
    const out = (await peeringSide(a, 'lost_req')).outgoing;
    if (out) await a.admin('DELETE', `/federation/outgoing-requests/${out.id}?local_only=true`);
  }
});

it('A took the accept but its answer was lost: B retries and both hold the peer', async () => {
  await adminOk(
    a,
    'POST',
    '/federation/outgoing-requests',
    { name: 'lost_acc', partner_url: proxyB.url, prefix: '23', codec: 'ulaw' },
    201,
  );
  const inc = await waitUntil(() => incomingByName(b, 'lost_acc'), { what: 'incoming on B' });
  const cut = loseNextAnswer(proxyA, 200, '"state":"active"');
  await adminOk(b, 'POST', `/federation/incoming-requests/${inc.id}/accept`, { prefix: '24' }, 200);
  expect(await cut).toBeGreaterThan(0);
  proxyA.setMode('forward');
  expect(await settled('lost_acc')).toBe('peered');
});

it('B took the teardown but its answer was lost: A retries and both forget the peer', async () => {
  const peer = await peerByName(a, 'lost_acc');
  const cut = loseNextAnswer(proxyB, 200, '"state":"torn_down"');
  await adminOk(a, 'DELETE', `/federation/peers/${peer?.id}`, undefined, 204);
  expect(await cut).toBeGreaterThan(0);
  proxyB.setMode('forward');
  expect(await settled('lost_acc')).toBe('none');
});

it('A died while its request was in flight and B never saw it: after the restart both sides agree', async () => {
  try {
    const held = proxyB.holdWhenSent('client', /^POST \/federation\/v2\/peering-requests /);
    const creating = a
      .admin('POST', '/federation/outgoing-requests', {
        name: 'lost_inflight',
        partner_url: proxyB.url,
        prefix: '25',
        codec: 'ulaw',
      })
      .catch((e: unknown) => e);
    await held;
    // A has stored its request and waits for B's answer: now it dies.
    await waitUntil(async () => (await peeringSide(a, 'lost_inflight')).outgoing, {
      what: 'A stored the request',
    });
    await a.kill();
    await creating;
    proxyB.cutAll();
    expect(await incomingByName(b, 'lost_inflight')).toBeUndefined();
    await a.restart();
    expect(['none', 'pending']).toContain(await settled('lost_inflight'));
  } finally {
    proxyB.setMode('forward');
    const left = await incomingByName(b, 'lost_inflight');
    if (left) await b.admin('POST', `/federation/incoming-requests/${left.id}/decline`, { local_only: true });
    const out = (await peeringSide(a, 'lost_inflight')).outgoing;
    if (out) await a.admin('DELETE', `/federation/outgoing-requests/${out.id}?local_only=true`);
  }
});
