/**
 * Fault: sidecars are killed with SIGKILL at random moments of 50 handshakes
 * and restarted on the same data.
 *
 * Two complete instances: real sidecar processes (A on SQLite, B on MariaDB),
 * each with its own real Asterisk. The test plays both admins through the
 * admin API only: one side requests, the other accepts (some are declined),
 * and each peering is torn down again before the next (two instances may
 * share one peering at a time). A seeded PRNG decides, per handshake, whether
 * a sidecar dies, which one, in which phase (create, accept/decline, the
 * delivery right after it, or teardown) and after how many milliseconds; the
 * seed is printed, and UURU_TEST_FAULT_SEED=<seed> repeats the same fault
 * schedule (where exactly a kill lands inside a step still depends on timing).
 * A kill that cuts an admin's own call short is answered as an admin would:
 * the clean-up is tried again.
 *
 * After every step, once both outboxes have drained, the test checks:
 *  - each instance's Peer rows, its generated iax-uuru-federation.conf and
 *    Asterisk's own peer list hold the same peers, all applied (0 missing,
 *    0 orphans);
 *  - the two instances agree: the same peer on both sides (same request id,
 *    same derived secret), or the same pending / declined request, or nothing.
 * Any disagreement is collected with the state of both sides and the seed.
 *
 * Time is shortened through config, not waited for: outbox retries after
 * 200 ms-1 s, anti-entropy every 2 s, qualify every second.
 */
import { type Instance, agrees, asteriskAgreement, startInstances } from '../harness/instance';
import {
  agreement,
  type PeeringAgreement,
  type PeeringSide,
  peeringSide,
  redactSide,
} from '../harness/peering-agreement';
import { sleep } from '../harness/processes';
import { faultSeed, seededRandom } from '../harness/seeded-random';
import { waitUntil } from '../harness/wait';

const HANDSHAKES = 50;
/** Share of handshakes during which a sidecar is killed. */
const FAULT_RATE = 0.4;
/** Kill delays are drawn from [0, MAX_KILL_DELAY_MS] after the step started. */
const MAX_KILL_DELAY_MS = 120;
const SETTLE_TIMEOUT_MS = 30_000;

jest.setTimeout(15 * 60_000);

const seed = faultSeed();
const rnd = seededRandom(seed);

const timings = {
  jobs: { outboxPollMs: 100, antiEntropyCron: '*/2 * * * * *' },
  federation: {
    outboxRetryBaseMs: 200,
    outboxRetryMaxMs: 1000,
    // 50 handshakes between the same two instances are not an abuse to throttle here.
    unsolicitedRequestsPerOriginPerHour: 10_000,
    rateLimitPerIpPerMinute: 100_000,
    rateLimitPerOriginPerMinute: 100_000,
  },
};

type Phase = 'create' | 'answer' | 'delivery' | 'teardown';
const PHASES: readonly Phase[] = ['create', 'answer', 'delivery', 'teardown'];

interface Fault {
  phase: Phase;
  victim: Instance;
  delayMs: number;
}

interface Answer {
  status: number;
  json: unknown;
}

let a: Instance;
let b: Instance;
const kills: string[] = [];

beforeAll(async () => {
  process.stdout.write(`sidecar kill test: seed ${seed} (repeat with UURU_TEST_FAULT_SEED=${seed})\n`);
  [a, b] = await startInstances([
    { name: 'ka', db: 'sqlite', config: timings },
    { name: 'kb', db: 'mariadb', config: timings },
  ]);
}, 180_000);

afterAll(async () => {
  await Promise.allSettled([a?.stop(), b?.stop()]);
});

/** An admin call that may hit a sidecar being killed: a dropped connection is status 0. */
async function admin(node: Instance, method: string, path: string, body?: unknown): Promise<Answer> {
  try {
    return await node.sidecar.admin(method, path, body);
  } catch (e) {
    return { status: 0, json: e instanceof Error ? e.message : String(e) };
  }
}

async function killAndRestart(node: Instance, what: string): Promise<void> {
  await node.sidecar.kill();
  kills.push(`${node.name}@${what}`);
  await node.sidecar.restart();
}

/** Runs a step; when the fault is for this phase, kills its victim after its delay, mid-step. */
async function step(
  fault: Fault | null,
  phase: Phase,
  label: string,
  run: () => Promise<Answer>,
): Promise<Answer> {
  const running = run();
  if (fault?.phase === phase) {
    await sleep(fault.delayMs);
    await killAndRestart(fault.victim, `${label} +${fault.delayMs}ms`);
  }
  return running;
}

interface Settled {
  state: PeeringAgreement;
  req: PeeringSide;
  acc: PeeringSide;
}

const disagreements: string[] = [];

/**
 * Waits until both outboxes drained, the two sides agree and each Asterisk
 * matches its database; records a disagreement (and returns null) if that
 * does not happen within SETTLE_TIMEOUT_MS.
 */
async function settle(label: string, name: string, req: Instance, acc: Instance): Promise<Settled | null> {
  let last = '';
  try {
    return await waitUntil(
      async () => {
        const [rs, as] = [await peeringSide(req.sidecar, name), await peeringSide(acc.sidecar, name)];
        if (rs.pendingOutbox > 0 || as.pendingOutbox > 0) {
          last = `outboxes not drained (${req.name}: ${rs.pendingOutbox}, ${acc.name}: ${as.pendingOutbox})`;
          return undefined;
        }
        const agreed = agreement(rs, as);
        if (!agreed.ok) {
          last = `${agreed.why}: ${req.name}=${JSON.stringify(redactSide(rs))} ${acc.name}=${JSON.stringify(redactSide(as))}`;
          return undefined;
        }
        for (const node of [req, acc]) {
          const ast = await asteriskAgreement(node);
          if (!agrees(ast)) {
            last = `${node.name}: DB and Asterisk differ ${JSON.stringify(ast)}`;
            return undefined;
          }
        }
        return { state: agreed.state, req: rs, acc: as };
      },
      { what: `${label} to settle`, timeoutMs: SETTLE_TIMEOUT_MS, intervalMs: 150 },
    );
  } catch {
    disagreements.push(`${label}: ${last} (seed ${seed}, kills so far: ${kills.join(', ')})`);
    return null;
  }
}

/** After a recorded disagreement: an admin cleans up both sides without notifying, so the run can go on. */
async function cleanUpLocally(name: string): Promise<void> {
  for (const node of [a, b]) {
    const s = await peeringSide(node.sidecar, name);
    const peers = await admin(node, 'GET', '/federation/peers');
    const peer = (peers.json as { peers?: { id: string; name: string }[] })?.peers?.find(
      (p) => p.name === name,
    );
    if (peer) await admin(node, 'DELETE', `/federation/peers/${peer.id}?local_only=true`);
    if (s.outgoing)
      await admin(node, 'DELETE', `/federation/outgoing-requests/${s.outgoing.id}?local_only=true`);
    if (s.incoming)
      await admin(node, 'POST', `/federation/incoming-requests/${s.incoming.id}/decline`, {
        local_only: true,
      });
  }
}

async function peerIdOn(node: Instance, name: string): Promise<string | undefined> {
  const r = await admin(node, 'GET', '/federation/peers');
  return (r.json as { peers?: { id: string; name: string }[] })?.peers?.find((p) => p.name === name)?.id;
}

const outcomes: Record<string, number> = {};
const count = (what: string): void => {
  outcomes[what] = (outcomes[what] ?? 0) + 1;
};

it(`${HANDSHAKES} handshakes with sidecars killed at random moments end in agreement everywhere`, async () => {
  const t0 = Date.now();
  for (let i = 0; i < HANDSHAKES; i++) {
    const name = `fk_${i}`;
    const [req, acc] = rnd.chance(0.5) ? [a, b] : [b, a];
    const decline = rnd.chance(0.15);
    const teardownBy = rnd.pick([req, acc]);
    const fault: Fault | null = rnd.chance(FAULT_RATE)
      ? { phase: rnd.pick(PHASES), victim: rnd.pick([a, b]), delayMs: rnd.int(0, MAX_KILL_DELAY_MS) }
      : null;
    const label = `#${i} ${name} ${req.name}→${acc.name}${decline ? ' (decline)' : ''}`;
    const prefixOnReq = `7${String(i).padStart(2, '0')}`;
    const prefixOnAcc = `8${String(i).padStart(2, '0')}`;

    // 1. The requester's admin creates the request.
    await step(fault, 'create', `${label} create`, () =>
      admin(req, 'POST', '/federation/outgoing-requests', {
        name,
        partner_url: acc.sidecar.federationUrl,
        prefix: prefixOnReq,
        codec: 'ulaw',
      }),
    );
    let settled = await settle(`${label} after create`, name, req, acc);
    if (!settled) {
      await cleanUpLocally(name);
      continue;
    }

    // 2. The acceptor's admin answers; 3. the notification is delivered.
    if (settled.state === 'pending' && settled.acc.incoming) {
      const incId = settled.acc.incoming.id;
      const answered = await step(fault, 'answer', `${label} ${decline ? 'decline' : 'accept'}`, () =>
        decline
          ? admin(acc, 'POST', `/federation/incoming-requests/${incId}/decline`, { reason: 'fault test' })
          : admin(acc, 'POST', `/federation/incoming-requests/${incId}/accept`, { prefix: prefixOnAcc }),
      );
      if (fault?.phase === 'delivery' && answered.status >= 200 && answered.status < 300) {
        await sleep(fault.delayMs);
        await killAndRestart(fault.victim, `${label} delivery +${fault.delayMs}ms`);
      }
      settled = await settle(`${label} after ${decline ? 'decline' : 'accept'}`, name, req, acc);
      if (!settled) {
        await cleanUpLocally(name);
        continue;
      }
    }
    count(settled.state);

    // 4. Back to nothing for the next round (the last peering is kept, so the run ends with a live trunk).
    if (i === HANDSHAKES - 1) continue;
    if (settled.state === 'none' && settled.req.outgoing) {
      await admin(req, 'DELETE', `/federation/outgoing-requests/${settled.req.outgoing.id}`);
    }
    // Like an admin, try again when a kill cut the clean-up itself short (the state is then
    // unchanged on both sides, which is agreement, not loss).
    let current: Settled | null = settled;
    for (let attempt = 0; current && current.state !== 'none' && attempt < 3; attempt++) {
      const f = attempt === 0 ? fault : null;
      if (current.state === 'peered') {
        const by = teardownBy;
        const id = await peerIdOn(by, name);
        await step(f, 'teardown', `${label} teardown by ${by.name}`, () =>
          admin(by, 'DELETE', `/federation/peers/${id}`),
        );
      } else if (current.state === 'pending') {
        const id = current.req.outgoing?.id;
        await step(f, 'teardown', `${label} revoke`, () =>
          admin(req, 'DELETE', `/federation/outgoing-requests/${id}`),
        );
      } else {
        await admin(req, 'DELETE', `/federation/outgoing-requests/${current.req.outgoing?.id}`);
        await admin(acc, 'POST', `/federation/incoming-requests/${current.acc.incoming?.id}/decline`, {
          local_only: true,
        });
      }
      current = await settle(`${label} after clean-up`, name, req, acc);
    }
    if (current && current.state !== 'none') {
      disagreements.push(`${label}: still ${current.state} after three clean-ups (seed ${seed})`);
    }
    if (!current || current.state !== 'none') await cleanUpLocally(name);
  }

  const elapsed = Math.round((Date.now() - t0) / 1000);
  process.stdout.write(
    [
      `sidecar kill test (seed ${seed}): ${HANDSHAKES} handshakes in ${elapsed} s, ${kills.length} SIGKILLs`,
      `  outcomes: ${JSON.stringify(outcomes)}`,
      `  kills: ${kills.join('; ')}`,
      ...disagreements.map((d) => `  DISAGREEMENT ${d}`),
      '',
    ].join('\n'),
  );

  // Both instances, DB against Asterisk, at the end.
  for (const node of [a, b]) {
    const final = await asteriskAgreement(node);
    expect({
      node: node.name,
      missing: final.missing,
      orphans: final.orphans,
      notApplied: final.notApplied,
    }).toEqual({ node: node.name, missing: [], orphans: [], notApplied: [] });
  }
  expect(disagreements).toEqual([]);
  // The peering kept from the last round is a working trunk after all those kills.
  const lastName = `fk_${HANDSHAKES - 1}`;
  for (const node of [a, b]) {
    const id = await peerIdOn(node, lastName);
    if (!id) continue;
    const call = await waitUntil(
      async () => {
        const r = await admin(node, 'POST', `/federation/peers/${id}/test-call`);
        return r.status === 200 && (r.json as { answered?: boolean }).answered === true ? r : undefined;
      },
      {
        what: `test call from ${node.name} through ${lastName} answered`,
        timeoutMs: 45_000,
        intervalMs: 1000,
      },
    );
    expect(call.status).toBe(200);
  }
  // The run must have exercised what it claims to.
  expect(kills.length).toBeGreaterThanOrEqual(10);
  expect(outcomes.peered ?? 0).toBeGreaterThanOrEqual(HANDSHAKES / 2);
});
