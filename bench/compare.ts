/**
 * `npx ts-node --transpile-only bench/compare.ts [--base <commit>] [--current <commit>] [--runs <n>] [scenario...]`:
 * runs scenarios against two builds in one run on one machine: this tree and
 * an older commit (by default the last one before the issue 12 redesign),
 * built in a worktree of its own beside this one whose node_modules is this
 * tree's. The scenario code is this tree's for both; only the sidecar the
 * scenario spawns (and builds) comes from the other tree
 * (UURU_BENCH_SIDECAR_ROOT, read by test/harness/sidecar.ts and
 * bench/product-build.ts). Builds alternate run by run (base, current, then
 * current, base, ...) so that a drift in the machine's load hits both alike;
 * the medians of each target's value over the runs are written to
 * bench/results/compare-<scenario>.json and printed.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { cleanupAsteriskRun } from '../test/harness/asterisk';
import { burst } from './burst';
import { convergence } from './convergence';
import { federationApi } from './federation-api';
import { percentile } from './percentiles';
import { writePerformanceDoc, writeResult } from './result-files';
import { scale } from './scale';
import type { Scenario, ScenarioOutcome } from './scenario';

const ROOT = path.resolve(__dirname, '..');
/** The last commit on main before the first issue 12 merge (w3-jobs, 0279b72). */
const DEFAULT_BASE = '01bfbdf';
const SCENARIOS: Scenario[] = [federationApi, convergence, burst, scale];

function git(args: string[], cwd = ROOT): string {
  const r = spawnSync('git', args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}

/** A worktree of a commit beside this tree, with this tree's node_modules (built by the scenario). */
function prepareTree(commit: string): { dir: string; commit: string; depsDiffer: string[] } {
  const full = git(['rev-parse', commit]);
  const dir = path.resolve(ROOT, '..', `${path.basename(ROOT)}-at-${full.slice(0, 7)}`);
  if (!fs.existsSync(path.join(dir, 'package.json'))) git(['worktree', 'add', '--detach', dir, full]);
  const modules = path.join(dir, 'node_modules');
  if (!fs.existsSync(modules)) fs.symlinkSync(fs.realpathSync(path.join(ROOT, 'node_modules')), modules);
  const deps = (root: string): Record<string, string> => {
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>;
    };
    return pkg.dependencies ?? {};
  };
  const [was, now] = [deps(dir), deps(ROOT)];
  const depsDiffer = [...new Set([...Object.keys(was), ...Object.keys(now)])]
    .filter((d) => was[d] !== now[d])
    .map((d) => `${d}: ${was[d] ?? '-'} -> ${now[d] ?? '-'}`);
  return { dir, commit: full, depsDiffer };
}

function median(xs: (number | null)[]): number | null {
  const ok = xs.filter((x): x is number => typeof x === 'number');
  return ok.length === 0 ? null : percentile(ok, 50);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const opt = (name: string): string | undefined => {
    const i = args.indexOf(name);
    if (i < 0) return undefined;
    const v = args[i + 1];
    args.splice(i, 2);
    return v;
  };
  const baseArg = opt('--base') ?? DEFAULT_BASE;
  const runs = Number(opt('--runs') ?? 3);
  const currentArg = opt('--current');
  const chosen = args.length ? SCENARIOS.filter((s) => args.includes(s.name)) : [scale];
  if (chosen.length !== args.length && args.length > 0)
    throw new Error(`unknown scenario in ${args.join(' ')}`);
  process.env.UURU_TEST_RUN_ID ??= `bench-compare-${process.pid}`;
  const base = prepareTree(baseArg);
  // This tree as it is (edits included), or another commit in a worktree of its own: edits made here while
  // a long comparison runs then never reach its sidecars (scenarios on sources run src/ under ts-node).
  const current = currentArg ? prepareTree(currentArg) : { dir: ROOT, commit: git(['rev-parse', 'HEAD']) };
  const log = (line: string) => process.stdout.write(`[compare] ${line}\n`);
  log(`base ${base.commit.slice(0, 7)} in ${base.dir}; current ${current.commit.slice(0, 7)}`);
  if (base.depsDiffer.length)
    log(`dependencies differ (the base runs on this tree's node_modules): ${base.depsDiffer.join('; ')}`);

  for (const s of chosen) {
    const t0 = performance.now();
    const values: Record<'base' | 'current', Record<string, (number | null)[]>> = { base: {}, current: {} };
    const units: Record<string, string> = {};
    const failures: string[] = [];
    for (let run = 0; run < runs; run++) {
      const order: ('base' | 'current')[] = run % 2 === 0 ? ['base', 'current'] : ['current', 'base'];
      for (const which of order) {
        if (which === 'base') process.env.UURU_BENCH_SIDECAR_ROOT = base.dir;
        else if (current.dir !== ROOT) process.env.UURU_BENCH_SIDECAR_ROOT = current.dir;
        else delete process.env.UURU_BENCH_SIDECAR_ROOT;
        let outcome: ScenarioOutcome;
        try {
          outcome = await s.run((line) => log(`${s.name} ${which} ${run + 1}/${runs}: ${line}`));
        } catch (e) {
          outcome = { status: 'not_run', reason: e instanceof Error ? e.message : String(e) };
        }
        if (outcome.status !== 'ok') {
          failures.push(`${which} run ${run + 1}: ${outcome.reason.slice(0, 300)}`);
          log(`${s.name} ${which} ${run + 1}/${runs} failed: ${outcome.reason.slice(0, 300)}`);
          continue;
        }
        for (const t of outcome.targets) {
          (values[which][t.what] ??= []).push(t.value);
          units[t.what] = t.unit;
        }
        log(
          `${s.name} ${which} ${run + 1}/${runs}: ${JSON.stringify(outcome.targets.map((t) => [t.what, t.value]))}`,
        );
      }
    }
    delete process.env.UURU_BENCH_SIDECAR_ROOT;
    const rows = Object.keys(units).map((what) => ({
      what,
      unit: units[what],
      base_median: median(values.base[what] ?? []),
      current_median: median(values.current[what] ?? []),
      base_values: values.base[what] ?? [],
      current_values: values.current[what] ?? [],
    }));
    for (const r of rows)
      log(`${s.name}: ${r.what}: base ${r.base_median} ${r.unit}, current ${r.current_median} ${r.unit}`);
    writeResult(
      {
        name: `compare-${s.name}`,
        title: `Same-run comparison: ${s.title}, base ${base.commit.slice(0, 7)} against ${current.commit.slice(0, 7)}`,
        method:
          `bench/compare.ts: the ${s.name} scenario of this tree run ${runs} times against each build, alternating ` +
          '(base then current, then current then base, ...), on one machine in one run; the base is the given ' +
          "commit built in a worktree of its own on this tree's node_modules. Medians of each target's value over " +
          'the runs. Scenario settings from the environment (e.g. UURU_BENCH_SCALE_RUNS/ROUNDS) apply to both.',
        durationMs: performance.now() - t0,
      },
      {
        status: 'ok',
        metrics: {
          base_commit: base.commit,
          current_commit: current.commit,
          runs_per_build: runs,
          scale_runs_and_rounds:
            s.name === 'scale'
              ? `${process.env.UURU_BENCH_SCALE_RUNS ?? 5} x ${process.env.UURU_BENCH_SCALE_ROUNDS ?? 25}`
              : null,
          dependencies_differ: base.depsDiffer,
          failures,
          comparison: rows,
        },
        targets: [],
      },
    );
  }
  cleanupAsteriskRun();
  await writePerformanceDoc();
}

process.on('SIGINT', () => {
  cleanupAsteriskRun();
  process.exit(130);
});

main().catch((e: unknown) => {
  process.stderr.write(`bench compare: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  cleanupAsteriskRun();
  process.exit(1);
});
