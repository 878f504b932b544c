/**
 * Fault: Asterisk goes away in the middle of an apply. Two complete
 * instances (real sidecar processes, each with its own real Asterisk); B
 * accepts A's request and its Asterisk is killed the moment the sidecar has
 * written the new peer into the generated file (before the reload and the
 * verification), then started again; in the second case it is restarted
 * gracefully right after the accept. Either way the peer must end applied and
 * verified on B: in the file, in Asterisk's own peer list, apply_state
 * applied, and a real test call through the trunk answered. While B's
 * Asterisk is down, B's /readyz answers 503 naming AMI (/healthz stays 200).
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  agrees,
  asteriskAgreement,
  type Instance,
  GENERATED_IAX_FILE,
  sectionNames,
  startInstances,
} from '../harness/instance';
import { adminOk, incomingByName, peerByName, peerRow } from '../harness/sidecar';
import { waitUntil } from '../harness/wait';

jest.setTimeout(180_000);

const fastTimings = {
  jobs: { outboxPollMs: 100, antiEntropyCron: '*/2 * * * * *' },
  federation: { outboxRetryBaseMs: 200, outboxRetryMaxMs: 1000, unsolicitedRequestsPerOriginPerHour: 100 },
};

let a: Instance;
let b: Instance;

beforeAll(async () => {
  [a, b] = await startInstances([
    { name: 'ra', config: fastTimings },
    { name: 'rb', config: fastTimings },
  ]);
}, 120_000);

afterAll(async () => {
  await Promise.allSettled([a?.stop(), b?.stop()]);
});

/** Resolves as soon as the generated iax file names `peer` (fs.watch, with a poll as a fallback). */
function whenFileNames(node: Instance, peer: string): { done: Promise<void>; cancel(): void } {
  const file = path.join(node.asterisk.configDir, GENERATED_IAX_FILE);
  let finish: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (finish = resolve));
  const check = (): void => {
    try {
      if (sectionNames(fs.readFileSync(file, 'utf8')).includes(peer)) finish();
    } catch {
      // not written yet
    }
  };
  const watcher = fs.watch(node.asterisk.configDir, check);
  const timer = setInterval(check, 5);
  const cancel = (): void => {
    watcher.close();
    clearInterval(timer);
  };
  void done.then(cancel);
  return { done, cancel };
}

/** A requests; B holds the incoming request. */
async function request(name: string, prefixA: string): Promise<void> {
  await adminOk(
    a.sidecar,
    'POST',
    '/federation/outgoing-requests',
    { name, partner_url: b.sidecar.federationUrl, prefix: prefixA, codec: 'ulaw' },
    201,
  );
  await waitUntil(() => incomingByName(b.sidecar, name), { what: `incoming ${name} on B` });
}

async function acceptOnB(name: string, prefixB: string): Promise<void> {
  const inc = await waitUntil(() => incomingByName(b.sidecar, name), { what: `incoming ${name} on B` });
  await adminOk(
    b.sidecar,
    'POST',
    `/federation/incoming-requests/${inc.id}/accept`,
    { prefix: prefixB },
    200,
  );
}

async function applyStateOf(node: Instance, name: string): Promise<string | undefined> {
  const r = await node.sidecar.query<{ applyState: string }>(
    'SELECT applyState FROM {db}.peers WHERE name = ?',
    [name],
  );
  return r[0]?.applyState;
}

/** Applied, verified against the file and Asterisk's peer list, and a test call through it is answered. */
async function expectAppliedAndVerified(node: Instance, name: string, since: number): Promise<void> {
  const row = await waitUntil(
    async () => {
      const r = await node.sidecar.query<{ applyState: string; appliedAt: number | string | null }>(
        'SELECT applyState, appliedAt FROM {db}.peers WHERE name = ?',
        [name],
      );
      return r[0]?.applyState === 'applied' ? r[0] : undefined;
    },
    { what: `${name} applied on ${node.name}`, timeoutMs: 60_000, intervalMs: 200 },
  );
  expect(Number(row.appliedAt)).toBeGreaterThanOrEqual(since);
  const agreement = await asteriskAgreement(node);
  expect(agreement).toMatchObject({ missing: [], orphans: [], notApplied: [] });
  expect(agrees(agreement)).toBe(true);
  expect(agreement.livePeers).toContain(name);
}

async function testCallAnswered(from: Instance, name: string): Promise<void> {
  const peer = await waitUntil(() => peerByName(from.sidecar, name), { what: `${name} on ${from.name}` });
  await waitUntil(
    async () => {
      const r = await from.sidecar.admin('POST', `/federation/peers/${peer.id}/test-call`);
      return r.status === 200 && (r.json as { answered?: boolean }).answered === true;
    },
    {
      what: `test call ${from.name} → partner through ${name} answered`,
      timeoutMs: 45_000,
      intervalMs: 1000,
    },
  );
}

async function teardown(name: string): Promise<void> {
  const peer = await peerByName(a.sidecar, name);
  await adminOk(a.sidecar, 'DELETE', `/federation/peers/${peer?.id}`, undefined, 204);
  await waitUntil(async () => (await peerRow(b.sidecar, name)) === undefined, { what: `B forgot ${name}` });
  for (const node of [a, b]) {
    await waitUntil(async () => agrees(await asteriskAgreement(node)), {
      what: `${node.name}'s Asterisk dropped ${name}`,
      timeoutMs: 30_000,
      intervalMs: 200,
    });
  }
}

describe('Asterisk restarts in the middle of an apply', () => {
  it('killed right after the peer was written, before reload and verification: the peer ends applied and verified', async () => {
    await request('rs_kill', '61');
    const written = whenFileNames(b, 'rs_kill');
    const t0 = Date.now();
    // Fault injection: B's Asterisk is frozen (SIGSTOP) before the accept, so the Reload the sidecar sends
    // right behind writing its file cannot be answered; the sidecar now writes, reloads and verifies within
    // a few milliseconds, faster than this process could kill Asterisk between the write and the reload.
    process.kill(b.asterisk.pid, 'SIGSTOP');
    const accepted = acceptOnB('rs_kill', '62');
    await written.done;
    await b.asterisk.kill();
    // The apply was cut short: the sidecar has not seen Asterisk take the peer.
    const atKill = await applyStateOf(b, 'rs_kill');
    await accepted;
    expect(atKill).toBe('pending');
    const ast = await waitUntil(
      async () => {
        const s = await adminOk<{ asterisk?: { ami?: string } }>(b.sidecar, 'GET', '/status', undefined, 200);
        return s.asterisk?.ami !== 'connected' ? s : undefined;
      },
      { what: 'B sidecar notices Asterisk is gone' },
    );
    expect(ast.asterisk?.ami).not.toBe('connected');
    expect(await applyStateOf(b, 'rs_kill')).not.toBe('applied');
    // Readiness says AMI is missing; liveness stays 200.
    const notReady = await fetch(`${b.sidecar.federationUrl}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toMatchObject({ status: 'not_ready', not_ready: ['ami'], database: 'up' });
    expect((await fetch(`${b.sidecar.federationUrl}/healthz`)).status).toBe(200);

    await b.asterisk.start();
    await expectAppliedAndVerified(b, 'rs_kill', t0);
    const ready = await waitUntil(
      async () => {
        const r = await fetch(`${b.sidecar.federationUrl}/readyz`);
        return r.status === 200 ? ((await r.json()) as { status?: string; not_ready?: unknown }) : undefined;
      },
      { what: 'B ready again once AMI is back' },
    );
    expect(ready).toEqual(expect.objectContaining({ status: 'ready' }));
    expect(ready.not_ready).toBeUndefined();
    await expectAppliedAndVerified(a, 'rs_kill', t0);
    await testCallAnswered(a, 'rs_kill');
    await testCallAnswered(b, 'rs_kill');
    await teardown('rs_kill');
  });

  it('restarted gracefully while applying: the peer ends applied and verified', async () => {
    await request('rs_restart', '63');
    const t0 = Date.now();
    const written = whenFileNames(b, 'rs_restart');
    await acceptOnB('rs_restart', '64');
    await b.asterisk.restart();
    written.cancel();
    await expectAppliedAndVerified(b, 'rs_restart', t0);
    await expectAppliedAndVerified(a, 'rs_restart', t0);
    await testCallAnswered(b, 'rs_restart');
    await teardown('rs_restart');
  });
});
