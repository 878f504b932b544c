/**
 * Diagnostic, not a scenario of `npm run bench`: the convergence scenario's rounds (A requests, B accepts,
 * A tears down) with both sidecars at log level debug, printing per round when the accept was sent, when
 * each side listed the peer as applied, and each side's log lines on the way: the reconcile requests (with
 * the delay each got), runs (with their phases) and module reloads, the outbox deliveries and the
 * handshake steps, from the previous round's teardown on. Where the time from the accept to a live trunk goes, before and after a change.
 *   npx ts-node --transpile-only bench/diag-convergence.ts   (DIAG_ROUNDS=8, DIAG_LEVEL=debug, DIAG_ENTRY=source)
 * DIAG_ENTRY=build runs dist/main.js as the bench does (its first round then shows the cold paths of a
 * built sidecar rather than ts-node's compiling of modules loaded late).
 * Through /work/helpers/heavy on a shared machine: it starts two Asterisks and two sidecars.
 */
import { deepMerge } from '../src/config/deep-merge';
import { cleanupAsteriskRun, startAsterisk } from '../test/harness/asterisk';
import { sleep } from '../test/harness/processes';
import { peerByName, startSidecar } from '../test/harness/sidecar';
import { asteriskConfig, type Instance, LOCAL_CONTEXT } from './asterisk-sidecar';
import { requestAndAccept, teardown } from './sidecar-peering';

const config = {
  jobs: { outboxPollMs: 100, reconcileCron: '0 0 1 1 *' },
  federation: { outboxRetryBaseMs: 200, outboxRetryMaxMs: 1000, unsolicitedRequestsPerOriginPerHour: 1000 },
};

async function startInstance(name: string, opts: { config: Record<string, unknown> }): Promise<Instance> {
  const asterisk = await startAsterisk({
    name,
    extensionsConf: [`[${LOCAL_CONTEXT}]`, `include => ${LOCAL_CONTEXT}-federation`, ''].join('\n'),
  });
  const sidecar = await startSidecar({
    name,
    env: { UURU_ASTERISK_ENABLED: 'true', UURU_LOGLEVEL: process.env.DIAG_LEVEL ?? 'debug' },
    config: deepMerge(asteriskConfig(asterisk), opts.config),
    entry: process.env.DIAG_ENTRY === 'build' ? 'build' : 'source',
  });
  return {
    asterisk,
    sidecar,
    async stop() {
      await sidecar.destroy().catch(() => undefined);
      await asterisk.stop();
    },
  };
}

async function main(): Promise<void> {
  process.env.UURU_TEST_RUN_ID ??= `diag-${process.pid}`;
  let a: Instance | null = null;
  let b: Instance | null = null;
  try {
    [a, b] = await Promise.all([startInstance('dg_a', { config }), startInstance('dg_b', { config })]);
    const [A, B] = [a.sidecar, b.sidecar];
    const rounds = Number(process.env.DIAG_ROUNDS ?? 8);
    // Each round's lines start at the previous round's teardown: whether its run was still going when the
    // accept came (the accept then waits for it, and for the follow-up's settle after it) shows in them.
    let aMark = A.logs().length;
    let bMark = B.logs().length;
    for (let i = 0; i < rounds; i++) {
      const name = `dg_${i}`;
      const p = await requestAndAccept(A, B, name, { requester: '71', acceptor: '72' });
      const wall = Date.now() - (performance.now() - p.acceptSentAt);
      const readyAt: Record<string, number> = {};
      while (Object.keys(readyAt).length < 2 && performance.now() - p.acceptSentAt < 10000) {
        for (const s of [A, B]) {
          if (readyAt[s.name] !== undefined) continue;
          const v = (await peerByName(s, name)) as { apply_state?: string } | undefined;
          if (v?.apply_state === 'applied') readyAt[s.name] = performance.now() - p.acceptSentAt;
        }
        await sleep(2);
      }
      const t = new Date(wall).toISOString().slice(11, 23);
      console.log(
        `=== ${name}: accept sent ${t} ${(performance.timeOrigin + p.acceptSentAt).toFixed(1)} (took ${p.acceptMs.toFixed(0)} ms), ready ${JSON.stringify(readyAt)}`,
      );
      for (const [s, mark] of [
        [A, aMark],
        [B, bMark],
      ] as const) {
        const lines = s
          .logs()
          .slice(mark)
          .split('\n')
          .filter((l) => /reconcile|peering|torn|outbox|deliver|reloaded|laps/.test(l));
        for (const l of lines) console.log(`  ${s.name} ${l.slice(0, 400)}`);
      }
      [aMark, bMark] = [A.logs().length, B.logs().length];
      await teardown(A, B, name);
    }
  } finally {
    await Promise.all([a?.stop(), b?.stop()]);
    cleanupAsteriskRun();
  }
}
main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
