/**
 * `npm run bench [-- <scenario...>]`: runs the benchmark scenarios (all by
 * default), writes bench/results/<name>.json for each and regenerates
 * docs/performance.md from every stored result. A scenario that cannot run
 * (a part missing or broken) is recorded as not_run with the reason, never
 * with a made-up number. Everything a scenario starts it stops, by pid.
 */
import { cleanupAsteriskRun } from '../test/harness/asterisk';
import { burst } from './burst';
import { convergence } from './convergence';
import { federationApi } from './federation-api';
import { writePerformanceDoc, writeResult } from './result-files';
import { scale } from './scale';
import type { Scenario, ScenarioOutcome } from './scenario';

const SCENARIOS: Scenario[] = [federationApi, convergence, burst, scale];

async function main(): Promise<void> {
  process.env.UURU_TEST_RUN_ID ??= `bench-${process.pid}`;
  const asked = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const unknown = asked.filter((n) => !SCENARIOS.some((s) => s.name === n));
  if (unknown.length > 0) {
    process.stderr.write(
      `unknown scenario(s): ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.name).join(', ')}\n`,
    );
    process.exit(2);
  }
  const chosen = asked.length ? SCENARIOS.filter((s) => asked.includes(s.name)) : SCENARIOS;
  let failed = 0;
  for (const s of chosen) {
    const t0 = performance.now();
    const log = (line: string) =>
      process.stdout.write(`[${s.name} ${((performance.now() - t0) / 1000).toFixed(1)}s] ${line}\n`);
    log('start');
    let outcome: ScenarioOutcome;
    try {
      outcome = await s.run(log);
    } catch (e) {
      failed += 1;
      const reason = e instanceof Error ? e.message : String(e);
      outcome = { status: 'not_run', reason: `failed: ${reason.split('\n').slice(0, 6).join(' ')}` };
    }
    const result = writeResult(
      { name: s.name, title: s.title, method: s.method, durationMs: performance.now() - t0 },
      outcome,
    );
    log(result.status === 'ok' ? JSON.stringify(result.targets) : `not run: ${result.reason}`);
  }
  cleanupAsteriskRun();
  await writePerformanceDoc();
  process.stdout.write(
    `wrote bench/results and docs/performance.md${failed ? ` (${failed} scenario(s) failed)` : ''}\n`,
  );
}

process.on('SIGINT', () => {
  cleanupAsteriskRun();
  process.exit(130);
});

main().catch((e: unknown) => {
  process.stderr.write(`bench: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  cleanupAsteriskRun();
  process.exit(1);
});
