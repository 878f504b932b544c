/**
 * Fault: the AMI connection between A's sidecar and its Asterisk is cut.
 * A FAULT-INJECTION proxy sits on that connection (the sidecar knows only the
 * proxy's port); cutting resets every open connection and every reconnect
 * attempt, as a restarting network path or a firewall would. Everything else
 * is real: two sidecar processes, each with its own Asterisk.
 *
 * What must hold: the sidecar notices, keeps trying to reconnect, and after
 * the reconnect resyncs Asterisk with its database; no change made while AMI
 * was cut is lost (a peer added meanwhile is applied; one removed meanwhile
 * is removed from Asterisk).
 */
import { type FaultProxy, startFaultProxy } from '../harness/fault-proxy';
import { agrees, asteriskAgreement, type Instance, startInstances } from '../harness/instance';
import { adminOk, incomingByName, peerByName, peerRow } from '../harness/sidecar';
import { assertNever, waitUntil } from '../harness/wait';

jest.setTimeout(120_000);

const fastTimings = {
  jobs: { outboxPollMs: 100, antiEntropyCron: '*/2 * * * * *', reconcileCron: '0 0 1 1 *' },
  federation: { outboxRetryBaseMs: 200, outboxRetryMaxMs: 1000, unsolicitedRequestsPerOriginPerHour: 100 },
};

let amiProxy: FaultProxy;
let a: Instance;
let b: Instance;

beforeAll(async () => {
  amiProxy = await startFaultProxy({ name: 'ami-cut' });
  [a, b] = await startInstances([
    {
      name: 'ama',
      config: fastTimings,
      amiPort: (ast) => {
        amiProxy.setTarget(ast.amiPort);
        return amiProxy.port;
      },
    },
    { name: 'amb', config: fastTimings },
  ]);
}, 120_000);

afterAll(async () => {
  await Promise.allSettled([a?.stop(), b?.stop()]);
  await amiProxy?.close();
});

async function amiState(node: Instance): Promise<string | undefined> {
  const s = await adminOk<{ asterisk: { ami: string } }>(node.sidecar, 'GET', '/status', undefined, 200);
  return s.asterisk.ami;
}

async function applyStateOf(node: Instance, name: string): Promise<string | undefined> {
  const r = await node.sidecar.query<{ applyState: string }>(
    'SELECT applyState FROM {db}.peers WHERE name = ?',
    [name],
  );
  return r[0]?.applyState;
}

async function cutAmi(): Promise<void> {
  amiProxy.setMode('reset');
  expect(amiProxy.cutAll()).toBeGreaterThan(0);
  await waitUntil(async () => (await amiState(a)) !== 'connected', { what: 'A sidecar notices AMI is gone' });
}

/** Restores the path and waits for the sidecar's own reconnect. */
async function restoreAmi(): Promise<void> {
  amiProxy.setMode('forward');
  await waitUntil(async () => (await amiState(a)) === 'connected', {
    what: 'A sidecar reconnects AMI',
    timeoutMs: 20_000,
  });
}

it('a peer added while AMI is cut is applied after the reconnect', async () => {
  await waitUntil(async () => (await amiState(a)) === 'connected', {
    what: 'A has AMI up',
    timeoutMs: 20_000,
  });
  await cutAmi();
  const attemptsBefore = amiProxy.connections().length;

  await adminOk(
    a.sidecar,
    'POST',
    '/federation/outgoing-requests',
    { name: 'ami_add', partner_url: b.sidecar.federationUrl, prefix: '41', codec: 'ulaw' },
    201,
  );
  const inc = await waitUntil(() => incomingByName(b.sidecar, 'ami_add'), { what: 'incoming on B' });
  await adminOk(b.sidecar, 'POST', `/federation/incoming-requests/${inc.id}/accept`, { prefix: '42' }, 200);
  await waitUntil(() => peerRow(a.sidecar, 'ami_add'), { what: 'A holds the peer in its DB' });
  // B, whose AMI is fine, applies at once; A cannot while AMI is cut.
  await waitUntil(async () => (await applyStateOf(b, 'ami_add')) === 'applied', {
    what: 'B applied',
    timeoutMs: 20_000,
  });
  await assertNever(async () => (await applyStateOf(a, 'ami_add')) !== 'pending', {
    what: 'A applying ami_add while its AMI is cut',
    windowMs: 1500,
    intervalMs: 250,
  });
  expect(await applyStateOf(a, 'ami_add')).toBe('pending');
  const cutView = await asteriskAgreement(a);
  expect(cutView.dbPeers).toContain('ami_add');
  expect(cutView.livePeers).not.toContain('ami_add');
  expect(await amiState(a)).not.toBe('connected');
  // The sidecar kept trying to reconnect meanwhile.
  expect(amiProxy.connections().length).toBeGreaterThan(attemptsBefore);

  await restoreAmi();
  await waitUntil(
    async () => agrees(await asteriskAgreement(a)) && (await applyStateOf(a, 'ami_add')) === 'applied',
    { what: 'A applied and verified ami_add after the reconnect', timeoutMs: 30_000, intervalMs: 200 },
  );
  expect((await asteriskAgreement(a)).livePeers).toContain('ami_add');
  const peer = await peerByName(a.sidecar, 'ami_add');
  const call = await waitUntil(
    async () => {
      const r = await a.sidecar.admin('POST', `/federation/peers/${peer?.id}/test-call`);
      return r.status === 200 && (r.json as { answered?: boolean }).answered === true ? r : undefined;
    },
    { what: 'a test call from A through ami_add is answered', timeoutMs: 45_000, intervalMs: 1000 },
  );
  expect(call.status).toBe(200);
});

it('a peer torn down while AMI is cut is removed from Asterisk after the reconnect', async () => {
  expect((await asteriskAgreement(a)).livePeers).toContain('ami_add');
  await cutAmi();
  const onB = await peerByName(b.sidecar, 'ami_add');
  await adminOk(b.sidecar, 'DELETE', `/federation/peers/${onB?.id}`, undefined, 204);
  await waitUntil(async () => (await peerRow(a.sidecar, 'ami_add')) === undefined, {
    what: 'A forgot the peer in its DB',
  });
  // Still loaded in A's Asterisk over an explicit window: the sidecar could not tell it yet.
  await assertNever(async () => !(await asteriskAgreement(a)).orphans.includes('ami_add'), {
    what: "ami_add leaving A's Asterisk while AMI is cut",
    windowMs: 1500,
    intervalMs: 250,
  });
  const cutView = await asteriskAgreement(a);
  expect(cutView.dbPeers).not.toContain('ami_add');
  expect(cutView.orphans).toContain('ami_add');

  await restoreAmi();
  const healed = await waitUntil(
    async () => {
      const v = await asteriskAgreement(a);
      return agrees(v) ? v : undefined;
    },
    { what: 'A removed ami_add from Asterisk after the reconnect', timeoutMs: 30_000, intervalMs: 200 },
  );
  expect(healed.livePeers).not.toContain('ami_add');
  expect(healed.filePeers).not.toContain('ami_add');
  expect(agrees(await asteriskAgreement(b))).toBe(true);
});
