/**
 * Diagnostic, not a scenario of `npm run bench`: the federation-api scenario's signed-request phases with a
 * trace of the acceptor. It prints, per phase, the partner's slowest requests with the time each was sent
 * (ms after the phase started) next to what the acceptor did around then: garbage collections of 3 ms or
 * more, event-loop gaps over 20 ms and SQLite calls of 3 ms or more  (bench/diag-trace-preload.js, which
 * appends them to a file; see the issue 13 section of docs/performance-decisions.md).
 *   npm run build && npx ts-node --transpile-only bench/diag-federation-api.ts
 *   DIAG_PHASES=parallel,quiet,flood[,flood2][,create]  DIAG_NODE_ARGS='--cpu-prof ...'  (DIAG_PRELOAD: another trace preload)
 *   create: the scenario's v2 create (peering torn down, then DIAG_CREATES creates, default 60, each revoked before
 *   the next), after 10 untimed ones; DIAG_A_NODE_ARGS: node arguments for the requester (e.g. --cpu-prof).
 * Through /work/helpers/heavy on a shared machine.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ts from 'typescript';
import { adminOk, destroyAll, incomingByName, startSidecar, type Sidecar } from '../test/harness/sidecar';
import { waitUntil } from '../test/harness/wait';
import { closedLoop, LoopbackClient, type LoadOutcome, openLoop } from './loopback-client';
import { PartnerSigner } from './partner-signer';
import { percentile, summarize } from './percentiles';
import { requestAndAccept, teardown, waitForPeer } from './sidecar-peering';

const phases = (process.env.DIAG_PHASES ?? 'parallel,quiet,flood').split(',');
const QUIET_LOG = { UURU_LOGLEVEL: 'warn' };
const base = {
  jobs: { outboxPollMs: 100 },
  federation: { outboxRetryBaseMs: 200, outboxRetryMaxMs: 1000 },
  log: { level: 'warn' },
};
const limits = (perMinute: number) => ({
  ...base,
  federation: {
    ...base.federation,
    rateLimitPerIpPerMinute: perMinute,
    rateLimitPerOriginPerMinute: perMinute,
  },
});

interface TraceEvent {
  t: number;
  kind: string;
  ms: number;
  sql?: string;
  thread?: number;
}

/** utime + stime of a process so far, in ms (Linux /proc; clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** The phase's start on the monotonic clock every process shares (a --cpu-prof profile's timestamps, in µs). */
function mark(phase: string): void {
  console.log(`${phase} starts at monotonic ${process.hrtime.bigint() / 1000n} µs`);
}

function traceOf(file: string, from: number, to: number): TraceEvent[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as TraceEvent)
    .filter((e) => e.t >= from && e.t <= to);
}

function report(name: string, o: LoadOutcome, startedAt: number, trace: string): void {
  const s = summarize(o.latencies);
  const slow = o.latencies
    .map((ms, i) => ({ at: Math.round(o.sentAtMs[i] ?? 0), ms: Math.round(ms * 10) / 10 }))
    .sort((x, y) => y.ms - x.ms)
    .slice(0, 8);
  console.log(
    `${name}: n=${s.count} p50=${s.p50} p90=${s.p90} p99=${s.p99} max=${s.max} statuses=${JSON.stringify(o.statuses)}` +
      (o.sentAtMs.length === 0 ? ` rps=${Math.round((o.latencies.length / o.elapsedMs) * 1000)}` : ''),
  );
  if (o.sentAtMs.length > 0)
    console.log(`  slowest (sent at ms: ms): ${slow.map((x) => `${x.at}: ${x.ms}`).join(', ')}`);
  const events = traceOf(trace, startedAt, startedAt + o.elapsedMs + 200).map((e) =>
    e.thread === undefined ? e : { ...e, kind: `worker ${e.kind}` },
  );
  const byKind = new Map<string, { n: number; ms: number; max: number }>();
  for (const e of events) {
    const k = byKind.get(e.kind) ?? { n: 0, ms: 0, max: 0 };
    k.n += 1;
    k.ms += e.ms;
    k.max = Math.max(k.max, e.ms);
    byKind.set(e.kind, k);
  }
  for (const [k, v] of byKind)
    console.log(`  acceptor ${k}: ${v.n} events, ${Math.round(v.ms)} ms in all, max ${v.max} ms`);
  for (const e of events.filter((x) => x.ms >= 15))
    console.log(`    at ${Math.round(e.t - startedAt)} ms: ${e.kind} ${e.ms} ms ${e.sql ?? ''}`);
}

function flood(args: Record<string, unknown>): { ready: Promise<void>; done: Promise<string> } {
  const child = spawn(
    'nice',
    [
      '-n',
      '19',
      process.execPath,
      '-r',
      'ts-node/register/transpile-only',
      path.join(__dirname, 'flood-worker.ts'),
      JSON.stringify(args),
    ],
    { cwd: path.resolve(__dirname, '..'), stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((r) => (markReady = r));
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    if (out.startsWith('ready\n')) markReady();
  });
  const done = new Promise<string>((resolve) =>
    child.on('exit', () => (markReady(), resolve(out.trim().split('\n').pop() ?? ''))),
  );
  return { ready, done };
}

/** bench/diag-trace-preload.ts as plain JavaScript, so the acceptor runs without ts-node in it. */
function transpiledPreload(dir: string): string {
  const source = fs.readFileSync(path.join(__dirname, 'diag-trace-preload.ts'), 'utf8');
  const js = ts.transpileModule(source, {
    compilerOptions: {
      module: ts.ModuleKind.CommonJS,
      target: ts.ScriptTarget.ES2022,
      esModuleInterop: true,
    },
  }).outputText;
  const file = path.join(dir, 'diag-trace-preload.js');
  fs.writeFileSync(file, js);
  return file;
}

async function main(): Promise<void> {
  const trace = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'diag-api-')), 'trace.jsonl');
  const preload = process.env.DIAG_PRELOAD ?? transpiledPreload(path.dirname(trace));
  const nodeArgs = [
    ...(preload ? ['-r', preload] : []),
    ...(process.env.DIAG_NODE_ARGS ?? '').split(/\s+/).filter((a) => a !== ''),
  ];
  const env = { ...QUIET_LOG, DIAG_OUT: trace, DIAG_ROOT: path.resolve(__dirname, '..') };
  let a: Sidecar | null = null;
  let b: Sidecar | null = null;
  const clients: LoopbackClient[] = [];
  try {
    [a, b] = await Promise.all([
      startSidecar({
        name: 'diag_api_a',
        config: base,
        entry: 'build',
        env: QUIET_LOG,
        nodeArgs: (process.env.DIAG_A_NODE_ARGS ?? '').split(/\s+/).filter((a) => a !== ''),
      }),
      startSidecar({ name: 'diag_api_b', config: limits(10_000_000), entry: 'build', env, nodeArgs }),
    ]);
    const peering = await requestAndAccept(a, b, 'diag_api', { requester: '71', acceptor: '72' });
    await waitForPeer(a, 'diag_api');
    const signer = await PartnerSigner.of(a);
    const target = b.federationUrl;
    const make = () => signer.sign(target, 'GET', `/federation/v2/peerings/${peering.requestId}`);
    const client = new LoopbackClient(target, { maxSockets: 16 });
    clients.push(client);
    await closedLoop(client, make, { concurrency: 8, count: 500, maxMs: 20_000 });
    if (phases.includes('parallel')) {
      const t0 = Date.now();
      mark('16 in flight');
      const o = await closedLoop(client, make, { concurrency: 16, count: 6000, maxMs: 30_000 });
      report('16 in flight', o, t0, trace);
    }
    if (['quiet', 'flood', 'flood2'].some((p) => phases.includes(p))) {
      fs.writeFileSync(path.join(b.dataDir, 'config.json'), JSON.stringify(limits(3000)));
      await b.restart();
      const partner = new LoopbackClient(target, { maxSockets: 16 });
      clients.push(partner);
      await closedLoop(partner, make, { concurrency: 1, count: 20, maxMs: 10_000 });
      if (phases.includes('quiet')) {
        const t0 = Date.now();
        mark('quiet');
        const o = await openLoop(partner, make, { perSecond: 25, durationMs: 16_000 });
        report('quiet', o, t0, trace);
      }
      // flood2: a second flood after the first (3 s apart, the per-IP burst full again): warm code, same burst.
      for (const phase of ['flood', 'flood2'].filter((p) => phases.includes(p))) {
        if (phase === 'flood2') await new Promise((r) => setTimeout(r, 3000));
        const f = flood({
          baseUrl: target,
          localAddress: '127.0.0.2',
          concurrency: 32,
          durationMs: 17_000,
          requestId: peering.requestId,
          partnerKeyId: signer.keyId,
        });
        await f.ready;
        const t0 = Date.now();
        mark(phase);
        const o = await openLoop(partner, make, { perSecond: 25, durationMs: 16_000 });
        report(phase === 'flood' ? 'flooded' : 'flooded again', o, t0, trace);
        console.log(`  flooder: ${await f.done}`);
      }
    }
    if (phases.includes('start')) {
      // The flood's first second after a fresh restart (code cold, the per-IP burst full), round after round:
      // the partner at 200 requests/s, so the first 300 ms hold some 60 of its requests.
      fs.writeFileSync(path.join(b.dataDir, 'config.json'), JSON.stringify(limits(3000)));
      const early: number[] = [];
      const later: number[] = [];
      for (let round = 0; round < Number(process.env.DIAG_START_ROUNDS ?? 5); round++) {
        await b.restart();
        const partner = new LoopbackClient(target, { maxSockets: 16 });
        clients.push(partner);
        await closedLoop(partner, make, { concurrency: 1, count: 20, maxMs: 10_000 });
        await new Promise((r) => setTimeout(r, 500));
        const f = flood({
          baseUrl: target,
          localAddress: '127.0.0.2',
          concurrency: 32,
          durationMs: 1500,
          requestId: peering.requestId,
          partnerKeyId: signer.keyId,
        });
        await f.ready;
        const o = await openLoop(partner, make, { perSecond: 200, durationMs: 1000 });
        await f.done;
        const first = o.latencies.filter((_, i) => (o.sentAtMs[i] ?? 0) < 300);
        const rest = o.latencies.filter((_, i) => (o.sentAtMs[i] ?? 0) >= 300);
        early.push(...first);
        later.push(...rest);
        const s0 = summarize(first);
        const s1 = summarize(rest);
        console.log(
          `start round ${round}: first 300 ms n=${s0.count} p50=${s0.p50} p90=${s0.p90} max=${s0.max}; ` +
            `300-1000 ms n=${s1.count} p50=${s1.p50} p90=${s1.p90} max=${s1.max}`,
        );
      }
      const e = summarize(early);
      const l = summarize(later);
      console.log(
        `start, all rounds: first 300 ms n=${e.count} p50=${e.p50} p90=${e.p90} p99=${e.p99} max=${e.max}; ` +
          `300-1000 ms n=${l.count} p50=${l.p50} p90=${l.p90} p99=${l.p99} max=${l.max}`,
      );
    }
    if (phases.includes('create')) {
      await teardown(a, b, 'diag_api');
      // Odd creates wait until the partner has forgotten the previous revoked request (its delivery done);
      // even ones follow the revoke at once, as the scenario does.
      const n = Number(process.env.DIAG_CREATES ?? 60);
      const ms: { atOnce: number[]; settled: number[] } = { atOnce: [], settled: [] };
      const cpu0 = [cpuMs(a.pid), cpuMs(b.pid)];
      for (let i = 0; i < n + 10; i++) {
        const t0 = performance.now();
        const name = `diag_create_${i}`;
        const created = await adminOk<{ id: string }>(
          a,
          'POST',
          '/federation/outgoing-requests',
          { name, partner_url: target, prefix: String(600 + i), codec: 'ulaw' },
          201,
        );
        if (i === 10) mark('create');
        if (i >= 10) (i % 2 === 1 ? ms.settled : ms.atOnce).push(performance.now() - t0);
        await adminOk(a, 'DELETE', `/federation/outgoing-requests/${created.id}`, undefined, 204);
        if (i % 2 === 0) {
          const other = b;
          await waitUntil(async () => (await incomingByName(other, name)) === undefined, {
            what: `${name} forgotten`,
            timeoutMs: 10_000,
            intervalMs: 2,
          });
        }
      }
      const cpu1 = [cpuMs(a.pid), cpuMs(b.pid)];
      for (const [mode, xs] of Object.entries(ms)) {
        const sorted = [...xs].sort((x, y) => x - y);
        console.log(
          `v2 create (${mode}): n=${xs.length} p50=${percentile(xs, 50)?.toFixed(2)} ` +
            `p90=${percentile(xs, 90)?.toFixed(2)} min=${sorted[0]?.toFixed(2)} max=${sorted[sorted.length - 1]?.toFixed(2)}`,
        );
      }
      const per = (k: number) => (((cpu1[k] ?? 0) - (cpu0[k] ?? 0)) / (n + 10)).toFixed(2);
      console.log(`CPU per create + revoke cycle: requester ${per(0)} ms, partner ${per(1)} ms`);
    }
  } finally {
    clients.forEach((c) => c.close());
    await destroyAll([a, b]);
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
