import fs from 'node:fs';
import path from 'node:path';
import { adminOk } from '../test/harness/sidecar';
import { sleep } from '../test/harness/processes';
import { loadedMarks } from '../src/asterisk/asterisk-readback';
import { IAX_FILE } from '../src/asterisk/files-renderer';
import { type Instance, startInstance } from './asterisk-sidecar';
import { buildProduct } from './product-build';
import { benchAmi, openPeerTable, peerRow } from './peer-rows';
import { percentile, ratio, round2 } from './percentiles';
import { type Scenario, target } from './scenario';

const PEERS = 1000;
/** Rounds per run and runs (the ratio must hold in each); smaller only for profiling or an A/B (bench/compare.ts). */
const ROUNDS = Number(process.env.UURU_BENCH_SCALE_ROUNDS ?? 25);
const RUNS = Number(process.env.UURU_BENCH_SCALE_RUNS ?? 5);

interface ReconcileAnswer {
  ok: boolean;
  changes: unknown[];
  reloaded: string[];
  verified: string[];
  error: string | null;
  started_at: string | null;
  finished_at: string | null;
  phases_ms: Record<string, number>;
}

/** Heap figures from the sidecar's own /metrics (prom-client default metrics), MB. */
async function heapMb(adminUrl: string): Promise<Record<string, number | null>> {
  const text = await fetch(`${adminUrl}/metrics`, { signal: AbortSignal.timeout(10_000) })
    .then((r) => r.text())
    .catch(() => '');
  const pick = (name: string): number | null => {
    const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+]+)`, 'm').exec(text);
    return m ? round2(Number(m[1]) / 1048576) : null;
  };
  return {
    heap_used_mb: pick('nodejs_heap_size_used_bytes'),
    heap_total_mb: pick('nodejs_heap_size_total_bytes'),
    external_mb: pick('nodejs_external_memory_bytes'),
  };
}

/** The sidecar's own chan_iax2 reloads so far (from /metrics): how many, and their summed duration in ms. */
async function ownIaxReloads(adminUrl: string): Promise<{ count: number; sumMs: number }> {
  const text = await fetch(`${adminUrl}/metrics`, { signal: AbortSignal.timeout(10_000) }).then((r) =>
    r.text(),
  );
  const pick = (suffix: string): number => {
    const m = new RegExp(
      `^uuru_fed_asterisk_reload_duration_seconds_${suffix}\\{module="chan_iax2\\.so"\\} ([0-9.e+-]+)`,
      'm',
    ).exec(text);
    return m ? Number(m[1]) : 0;
  };
  return { count: pick('count'), sumMs: pick('sum') * 1000 };
}

function rssMb(pid: number): { rss: number | null; hwm: number | null } {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) => {
      const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status);
      return m ? round2(Number(m[1]) / 1024) : null;
    };
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  } catch {
    return { rss: null, hwm: null };
  }
}

export const scale: Scenario = {
  name: 'scale',
  title: `Scale: ${PEERS} peers`,
  method:
    `One complete instance: the product as \`npm start\` runs it (\`npm run build\`, then \`node dist/main.js\`; ` +
    'not ts-node, whose TypeScript compiler alone holds ~100 MB of heap), on SQLite, with a real Asterisk 22, files ' +
    `backend, reload debounce 0. The sidecar is stopped, ${PEERS} peer rows are written into its database, and it is ` +
    'started again: start-up is the time from spawning the process to /readyz, and to every peer applied and verified. ' +
    "RSS is read from /proc 2 s after that (and 2 s after start with no peers). A full reconcile: every peer's codec is " +
    'changed in the DB and `POST /api/admin/reconcile` with `{"verify": "changed"}` runs one: read the peers, render ' +
    'and diff both files, write ' +
    'the iax file, reload chan_iax2, verify all peers by their marks (each generated section carries a description ' +
    'with a digest of its options; one `iax2 show peers`, sent on the same AMI session right behind the Reload, ' +
    'lists every mark once the reload is over), record the apply states (one UPDATE per 1,000 peers); its duration ' +
    "is the report's finished_at - started_at (ms, after the DB writes), median of " +
    `${ROUNDS} rounds. The dial plan does not change with a codec (its steps are handed on from the last run and its ` +
    'text stands without being rendered again), so pbx_config is not reloaded and its ' +
    'steps are not read back again: they were read back in full when last loaded, and are again after any pbx_config ' +
    "reload, AMI reconnect, Asterisk restart or failed verify, on every scheduled reconcile and on an admin's " +
    'reconcile without `verify` (the default is `full`, which reads the whole dial plan back too). Against it, like for ' +
    `like: Asterisk's own reload of the same ${PEERS} peers, AMI \`Reload\` of chan_iax2.so (what \`iax2 reload\` runs) ` +
    'after touching the generated iax file so that it is parsed again, timed on a separate AMI session from send to ' +
    "response, median, in the same run on the same Asterisk; the same session then reads the peers' list its " +
    'verify reads (`iax2 show peers`, sent right behind the Reload as the sidecar sends it): ' +
    '`reload_and_list_to_reload_ratio` is what a run with no work of its own would score. The rounds alternate (a reconcile, then a reload, ' +
    `${ROUNDS} of each, 1 s apart) so that a drift in the machine's load hits both sides alike. Each report's ` +
    '`phases_ms` says where its run spent the time (read: the rows; build: the desired state; render; write: both ' +
    "files, the temp file's fsync and the rename; reload: from the writes to the reload's answer; apply: the rest " +
    'of the apply; verify: from the answer to the checked list; record), and `phases_median_ms` the median of ' +
    'each over all rounds, with `own_work_median_ms`, the median of a run without its reload phase. The ' +
    `rounds are done in ${RUNS} runs of ${ROUNDS} each, one after the other on the same instance; the target is ` +
    "the worst run's ratio (the ratio must hold in every run), the summary figures are over all rounds.",

  async run(log) {
    let inst: Instance | null = null;
    try {
      const build = buildProduct();
      if (build.typeErrors)
        log(`npm run build reported type errors (dist/ emitted anyway): ${build.typeErrors}`);
      inst = await startInstance('scale', {
        entry: 'build',
        asterisk: { reloadDebounceMs: 0 },
        config: { jobs: { reconcileCron: '0 0 1 1 *' }, log: { level: 'warn' } },
      });
      const s = inst.sidecar;
      if (!s.sqlitePath) throw new Error('the scale scenario needs the SQLite sidecar');
      // The RSS with no peers is the baseline to read the 1,000-peer figure against.
      await sleep(2000);
      const idle = rssMb(s.pid);
      await s.stop();
      const table = openPeerTable(s.sqlitePath, { keyEncryptionSecret: s.keyEncryptionSecret() });
      table.insert(Array.from({ length: PEERS }, (_, i) => peerRow(i, 100000, 'scale_')));
      log(`inserted ${PEERS} peers; starting the sidecar`);
      const t0 = performance.now();
      await s.restart();
      const readyMs = performance.now() - t0;
      let verifiedMs: number | null = null;
      while (performance.now() - t0 < 180_000) {
        if (table.count("applyState = 'applied'") === PEERS) {
          verifiedMs = performance.now() - t0;
          break;
        }
        await sleep(50);
      }
      log(
        `ready after ${Math.round(readyMs)} ms, all verified after ${verifiedMs === null ? 'never' : Math.round(verifiedMs)} ms`,
      );
      await sleep(2000);
      const memory = rssMb(s.pid);
      const heap = await heapMb(s.adminUrl);

      // Rounds alternate: a full reconcile, then Asterisk's own reload of the same peers, so that both
      // halves of the ratio see the same machine (these hosts are noisy; a drift would favour one side).
      const ami = await benchAmi(inst.asterisk);
      const iaxFile = path.join(inst.asterisk.configDir, IAX_FILE);
      const reconcileMs: number[] = [];
      const roundTripMs: number[] = [];
      const reloadMs: number[] = [];
      /** The bare Reload with the peers' list behind it: what a run with no work of its own would take. */
      const reloadAndListMs: number[] = [];
      const reports: {
        changes: number;
        reloaded: string[];
        verified: number;
        phases_ms: Record<string, number>;
      }[] = [];
      const reloadsBefore = await ownIaxReloads(s.adminUrl);
      const runs: {
        reconcile_median_ms: number | null;
        reload_median_ms: number | null;
        ratio: number | null;
      }[] = [];
      for (let run = 0; run < RUNS; run++) {
        const first = reconcileMs.length;
        for (let round = 0; round < ROUNDS; round++) {
          const r = run * ROUNDS + round;
          table.exec('UPDATE peers SET codec = ?', [r % 2 === 0 ? 'alaw' : 'ulaw']);
          const t = performance.now();
          const report = await adminOk<ReconcileAnswer>(s, 'POST', '/reconcile', { verify: 'changed' }, 200);
          roundTripMs.push(performance.now() - t);
          if (!report.ok || !report.started_at || !report.finished_at) {
            throw new Error(
              `reconcile did not complete: ${JSON.stringify({ ...report, verified: report.verified.length })}`,
            );
          }
          reconcileMs.push(Date.parse(report.finished_at) - Date.parse(report.started_at));
          reports.push({
            changes: report.changes.length,
            reloaded: report.reloaded,
            verified: report.verified.length,
            phases_ms: report.phases_ms,
          });
          await sleep(1000);
          // iax2 reload re-reads a file only when its mtime changed.
          const when = new Date(Date.now() + (r + 1) * 2000);
          fs.utimesSync(iaxFile, when, when);
          const t2 = performance.now();
          // The list a run reads its marks from goes right behind the Reload, as the sidecar sends it: the
          // Reload is timed to its own answer, the pair to the list's.
          const reloaded = ami.reload('chan_iax2.so');
          const listed = loadedMarks(ami);
          listed.catch(() => undefined);
          await reloaded;
          reloadMs.push(performance.now() - t2);
          await listed;
          reloadAndListMs.push(performance.now() - t2);
          await sleep(1000);
        }
        const runReconcile = percentile(reconcileMs.slice(first), 50);
        const runReload = percentile(reloadMs.slice(first), 50);
        runs.push({
          reconcile_median_ms: runReconcile,
          reload_median_ms: runReload,
          ratio: ratio(runReconcile, runReload),
        });
        log(`run ${run + 1}/${RUNS}: ${JSON.stringify(runs[runs.length - 1])}`);
      }
      const reloadsAfter = await ownIaxReloads(s.adminUrl);
      const ownReloads = reloadsAfter.count - reloadsBefore.count;
      const notApplied = PEERS - table.count("applyState = 'applied'");

      const listed = (await ami.iaxPeerList()).filter((p) => p.name.startsWith('scale_')).length;
      await ami.stop();
      table.close();

      // Where the runs spent their time: each phase's median over all rounds, and the run without its reload.
      const phaseNames = [...new Set(reports.flatMap((r) => Object.keys(r.phases_ms)))];
      const phasesMedian = Object.fromEntries(
        phaseNames.map((name) => [
          name,
          percentile(
            reports.map((r) => r.phases_ms[name] ?? 0),
            50,
          ),
        ]),
      );
      const ownWork = reports.map((r, i) => reconcileMs[i] - (r.phases_ms.reload ?? 0));
      log(`phases (median ms): ${JSON.stringify(phasesMedian)}, own work ${percentile(ownWork, 50)} ms`);

      const reconcileMedian = percentile(reconcileMs, 50);
      const reloadMedian = percentile(reloadMs, 50);
      const reconcileRatio = ratio(reconcileMedian, reloadMedian);
      // The target holds only if it holds in every run: the worst run's ratio.
      const runRatios = runs.map((r) => r.ratio);
      const worstRatio = runRatios.some((x) => x === null)
        ? null
        : Math.max(...runRatios.map((x) => x ?? Number.POSITIVE_INFINITY));
      return {
        status: 'ok',
        metrics: {
          peers: PEERS,
          startup_ready_ms: round2(readyMs),
          startup_all_verified_ms: verifiedMs === null ? null : round2(verifiedMs),
          rss_mb: memory.rss,
          rss_peak_mb: memory.hwm,
          rss_no_peers_mb: idle.rss,
          ...heap,
          rss_added_by_peers_mb:
            memory.rss !== null && idle.rss !== null ? round2(memory.rss - idle.rss) : null,
          runtime: 'node dist/main.js (npm start)',
          full_reconcile_ms: reconcileMs.map(round2),
          full_reconcile_median_ms: reconcileMedian,
          full_reconcile_round_trip_ms: roundTripMs.map(round2),
          full_reconcile_reports: reports,
          phases_median_ms: phasesMedian,
          own_work_median_ms: percentile(ownWork, 50),
          asterisk_iax2_reload_ms: reloadMs.map(round2),
          asterisk_iax2_reload_median_ms: reloadMedian,
          asterisk_iax2_reload_and_list_ms: reloadAndListMs.map(round2),
          asterisk_iax2_reload_and_list_median_ms: percentile(reloadAndListMs, 50),
          // The ratio a run would score with no work of its own: the Reload and the list its verify reads.
          reload_and_list_to_reload_ratio: ratio(percentile(reloadAndListMs, 50), reloadMedian),
          reconcile_to_reload_ratio: reconcileRatio,
          runs,
          worst_run_ratio: worstRatio,
          // The same Reload as the sidecar sends it inside its runs (send to response), for comparison with
          // the bench's own: the rest of a run is the sidecar's work and the verifying IAXpeerlist.
          in_run_iax2_reloads: ownReloads,
          in_run_iax2_reload_mean_ms:
            ownReloads > 0 ? round2((reloadsAfter.sumMs - reloadsBefore.sumMs) / ownReloads) : null,
          peers_not_applied_after_reconciles: notApplied,
          peers_listed_by_asterisk: listed,
        },
        targets: [
          target('full reconcile / Asterisk iax2 reload', worstRatio, 'x', '<=', 1.2),
          target(`sidecar RSS with ${PEERS} peers`, memory.rss, 'MB', '<=', 120),
        ],
      };
    } finally {
      await inst?.stop();
    }
  },
};
