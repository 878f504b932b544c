/**
 * Call quality per trunk (issue 14) on real parts: two real Asterisk
 * instances with sidecar Asterisk layers, a generated trunk between them
 * (jitterbuffer=yes on both ends), and on A's way to B a fault-injecting UDP
 * relay that delays every datagram and drops a seeded fraction of the media
 * frames each way. A real call through the generated dial plan (Milliwatt on
 * A, the test extension's Echo on B) must show the injected round trip and
 * loss in `iax2 show netstats` as the sidecar reads it: in its gauges and its
 * stored samples, per direction; the active-calls gauge follows the call.
 * The peer name is long enough that chan_iax2 cuts it in the netstats table.
 */
import { startAsterisk, type AsteriskInstance } from '../harness/asterisk';
import { freeUdpPort } from '../harness/ports';
import { faultSeed } from '../harness/seeded-random';
import { startUdpDelayRelay, type UdpDelayRelay } from '../harness/udp-delay-relay';
import { waitUntil } from '../harness/wait';
import { CallQualityMonitor } from '../../src/asterisk/call-quality';
import { systemClock } from '../../src/core/clock';
import { Metrics } from '../../src/core/metrics';
import { createLogger } from '../../src/logging/logger';
import { PeerRunRows } from '../../src/store/peer-rows';
import { TypeormTrunkQualityStore } from '../../src/store/trunk-quality-samples';
import {
  LOCAL_CONTEXT,
  LOCAL_DIALPLAN,
  TEST_EXTENSION,
  type Sidecar,
  insertPeer,
  peerRow,
  sharedSecret,
  startSidecar,
} from './asterisk-fixtures';

jest.setTimeout(180_000);

/** 23 characters: `IAX2/<name>-<call number>` is longer than the 25 that netstats prints. */
const PEER = 'quality_trunk_long_name';
const DELAY_MS = 30;
const DROP_OUT = 0.06;
const DROP_IN = 0.12;
const seed = faultSeed();

let A: AsteriskInstance;
let B: AsteriskInstance;
let sa: Sidecar;
let sb: Sidecar;
let relay: UdpDelayRelay;

const sidecarOptions = {
  jobs: { trunkQualityPollMs: 500 },
  // Probes are placed by hand below (their job's smallest interval is 10 s).
  asterisk: { qualityProbe: { enabled: false, durationMs: 5000 } },
};

beforeAll(async () => {
  console.log(`trunk-call-quality: relay drop seed ${seed} (UURU_TEST_FAULT_SEED=${seed} repeats it)`);
  const [portA, portB] = [await freeUdpPort(), await freeUdpPort()];
  relay = await startUdpDelayRelay({ host: '127.0.0.1', port: portB }, 0);
  // pingtime: the round trip and the far end's report come with each PONG, every 21 s by default.
  const general = ['pingtime = 2'];
  [A, B] = await Promise.all([
    startAsterisk({ name: 'qa', iaxPort: portA, iaxGeneral: general, extensionsConf: LOCAL_DIALPLAN }),
    startAsterisk({ name: 'qb', iaxPort: portB, iaxGeneral: general, extensionsConf: LOCAL_DIALPLAN }),
  ]);
  [sa, sb] = await Promise.all([startSidecar(A, sidecarOptions), startSidecar(B, sidecarOptions)]);
  const secret = sharedSecret();
  await insertPeer(sa.db, { name: PEER, prefix: '61', port: relay.port, secret });
  await insertPeer(sb.db, { name: PEER, prefix: '62', port: A.iaxPort, secret });
  await Promise.all([sa.feature.port.syncPeers('test'), sb.feature.port.syncPeers('test')]);
  for (const s of [sa, sb]) {
    await waitUntil(async () => (await peerRow(s.db, PEER)).reachability === 'reachable', {
      what: 'the trunk reachable',
      timeoutMs: 20_000,
    });
  }
});

afterAll(async () => {
  await Promise.allSettled([sa?.stop(), sb?.stop()]);
  await Promise.allSettled([A?.stop(), B?.stop(), relay?.close()]);
});

const gauge = async (
  m: Metrics,
  name: 'trunkRtt' | 'trunkJitter' | 'trunkLoss' | 'trunkActiveCalls',
  labels: Record<string, string>,
) =>
  (await m[name].get()).values.find((v) =>
    Object.entries(labels).every(([k, val]) => (v.labels as Record<string, unknown>)[k] === val),
  )?.value;

const activeCalls = (m: Metrics) => gauge(m, 'trunkActiveCalls', { peer: PEER });

async function iaxChannelsOf(ast: AsteriskInstance): Promise<string[]> {
  return (await ast.cli('core show channels concise'))
    .split('\n')
    .map((l) => l.split('!')[0])
    .filter((c) => c.startsWith(`IAX2/${PEER}-`));
}

it('a real call through a lossy, slow path: RTT, jitter and loss each way within tolerance of what was injected; active calls 1, then 0', async () => {
  // The first poll after the peer exists sets its gauge: 0, no call yet.
  for (const s of [sa, sb]) {
    await waitUntil(async () => (await activeCalls(s.metrics)) === 0, {
      what: 'the active-calls gauge at 0',
    });
  }

  relay.delayMs = DELAY_MS;
  relay.setDrop({ ratio: DROP_OUT, seed, direction: 'toTarget', onlyIaxMedia: true });
  relay.setDrop({ ratio: DROP_IN, seed, direction: 'fromTarget', onlyIaxMedia: true });
  const startedAt = Date.now();
  // A phone on A dials B's test extension through the prefix; Milliwatt keeps media flowing, B echoes it.
  await sa.ami.action({
    Action: 'Originate',
    Channel: `Local/61${TEST_EXTENSION}@${LOCAL_CONTEXT}/n`,
    Application: 'Milliwatt',
    Timeout: '8000',
    Async: 'true',
  });
  await waitUntil(async () => (await activeCalls(sa.metrics)) === 1, {
    what: 'one active call on A',
    timeoutMs: 15_000,
  });
  await waitUntil(async () => (await activeCalls(sb.metrics)) === 1, {
    what: 'one active call on B',
    timeoutMs: 15_000,
  });
  expect((await iaxChannelsOf(A))[0].length).toBeGreaterThan(25);

  // chan_iax2's loss figure is a moving average over about 500 frames (10 s of 20 ms frames): let it settle.
  const store = new TypeormTrunkQualityStore(sa.db);
  const settled = await waitUntil(
    async () => {
      if (Date.now() - startedAt < 30_000) return null;
      const s = (await store.since(startedAt, PEER)).at(-1);
      return s && s.rttMs !== null && s.outbound.lossRatio !== null ? s : null;
    },
    { what: 'a settled sample with the partner report', timeoutMs: 60_000, intervalMs: 500 },
  );
  // What the relay really dropped (seeded: the same seed drops the same frames).
  const out = relay.counts.toTarget.dropped / relay.counts.toTarget.matched;
  const back = relay.counts.fromTarget.dropped / relay.counts.fromTarget.matched;
  expect(relay.counts.toTarget.matched).toBeGreaterThan(1000);
  // Outbound (A → B) is what B lost, as B reports it. Inbound (B → A) carries B's echo of what reached
  // it, so A misses what was dropped either way.
  const inbound = 1 - (1 - out) * (1 - back);
  console.log('trunk-call-quality', { out, back, expectedInbound: inbound, sample: settled });
  expect(settled.source).toBe('call');
  expect(settled.calls).toBe(1);
  expect(settled.outbound.lossRatio).toBeGreaterThanOrEqual(out - 0.03);
  expect(settled.outbound.lossRatio).toBeLessThanOrEqual(out + 0.04);
  expect(settled.inbound.lossRatio).toBeGreaterThanOrEqual(inbound - 0.04);
  expect(settled.inbound.lossRatio).toBeLessThanOrEqual(inbound + 0.05);
  // The relay adds DELAY_MS each way; loopback and the two Asterisks add a few ms.
  expect(settled.rttMs).toBeGreaterThanOrEqual(2 * DELAY_MS);
  expect(settled.rttMs).toBeLessThan(2 * DELAY_MS + 60);
  for (const d of [settled.inbound, settled.outbound]) {
    expect(d.jitterMs).not.toBeNull();
    expect(d.jitterMs).toBeGreaterThanOrEqual(0);
  }
  // The gauges say the same in base units.
  expect(await gauge(sa.metrics, 'trunkRtt', { peer: PEER })).toBeCloseTo(settled.rttMs! / 1000, 1);
  expect(await gauge(sa.metrics, 'trunkLoss', { peer: PEER, direction: 'outbound' })).toBeCloseTo(
    settled.outbound.lossRatio!,
    1,
  );
  expect(await gauge(sa.metrics, 'trunkLoss', { peer: PEER, direction: 'inbound' })).toBeCloseTo(
    settled.inbound.lossRatio!,
    1,
  );
  expect(await gauge(sa.metrics, 'trunkJitter', { peer: PEER, direction: 'inbound' })).toBeGreaterThanOrEqual(
    0,
  );
  // B's sidecar measures the same call from its side: its inbound is A's outbound.
  const fromB = (await new TypeormTrunkQualityStore(sb.db).since(startedAt, PEER)).at(-1);
  expect(fromB?.inbound.lossRatio).toBeGreaterThanOrEqual(out - 0.03);
  expect(fromB?.inbound.lossRatio).toBeLessThanOrEqual(out + 0.04);

  relay.setDrop(null);
  relay.delayMs = 0;
  for (const c of await iaxChannelsOf(A)) await sa.ami.action({ Action: 'Hangup', Channel: c });
  await waitUntil(async () => (await activeCalls(sa.metrics)) === 0, { what: 'no active call on A' });
  await waitUntil(async () => (await activeCalls(sb.metrics)) === 0, { what: 'no active call on B' });
});

it('a quality probe is a short call of its own: samples marked probe with the round trip, then no call left', async () => {
  relay.delayMs = 20;
  const before = Date.now();
  await sa.feature.quality.probe(PEER);
  const samples = await new TypeormTrunkQualityStore(sa.db).since(before, PEER);
  const probed = samples.filter((s) => s.source === 'probe');
  expect(probed.length).toBeGreaterThan(0);
  const last = probed.at(-1)!;
  expect(last.rttMs).toBeGreaterThanOrEqual(40);
  expect(last.rttMs).toBeLessThan(120);
  expect(last.inbound.lossRatio).not.toBeNull();
  expect(last.outbound.lossRatio).not.toBeNull();
  // Hung up by the sidecar at the end of the probe.
  await waitUntil(async () => (await iaxChannelsOf(A)).length === 0, { what: 'the probe hung up' });
  await waitUntil(async () => (await activeCalls(sa.metrics)) === 0, { what: 'no active call on A' });
  relay.delayMs = 0;
});

it("a restarted monitor's gauges start from the newest stored sample of each peer, before any call", async () => {
  const store = new TypeormTrunkQualityStore(sa.db);
  const newest = (await store.latest()).find((x) => x.peer === PEER)!;
  expect(newest.rttMs).not.toBeNull();
  const metrics = new Metrics();
  const monitor = new CallQualityMonitor({
    rows: new PeerRunRows(sa.db),
    ami: sa.ami,
    store,
    clock: systemClock,
    logger: createLogger({ level: 'error', format: 'json', silent: true }),
    metrics,
    pollMs: 1000,
    probe: { enabled: false, intervalMs: 60_000, durationMs: 5000, extension: TEST_EXTENSION },
  });
  monitor.start();
  try {
    const rtt = await waitUntil(async () => gauge(metrics, 'trunkRtt', { peer: PEER }), {
      what: 'the round trip gauge from the store',
    });
    expect(rtt).toBeCloseTo(newest.rttMs! / 1000, 3);
    expect(await gauge(metrics, 'trunkLoss', { peer: PEER, direction: 'outbound' })).toBeCloseTo(
      newest.outbound.lossRatio!,
      3,
    );
  } finally {
    monitor.stop();
  }
});
