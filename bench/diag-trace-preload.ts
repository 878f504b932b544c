/**
 * Diagnostic preload for the acceptor of bench/diag-federation-api.ts (not product code; the diag transpiles
 * it to a temporary .js and starts the sidecar with `-r`): garbage collections of 3 ms or more, event-loop
 * gaps over 20 ms and SQLite calls of 3 ms or more, appended as JSON lines to $DIAG_OUT with wall-clock times
 * (epoch ms). better-sqlite3 is loaded from $DIAG_ROOT, the tree the sidecar runs from.
 */
import fs from 'node:fs';
import path from 'node:path';
import { performance, PerformanceObserver } from 'node:perf_hooks';
import { isMainThread, threadId } from 'node:worker_threads';
import type BetterSqlite3 from 'better-sqlite3';

interface TraceEvent {
  t: number;
  kind: string;
  ms: number;
  sql?: string;
  /** Set for what a worker thread did (its own loop and heap are not the acceptor's). */
  thread?: number;
}

const out = process.env.DIAG_OUT ?? '/dev/null';
let buf: TraceEvent[] = [];
const abs = (t: number): number => performance.timeOrigin + t;
const flush = (): void => {
  if (buf.length === 0) return;
  if (!isMainThread) for (const e of buf) e.thread = threadId;
  fs.appendFileSync(out, buf.map((e) => JSON.stringify(e)).join('\n') + '\n');
  buf = [];
};
setInterval(flush, 500).unref();
process.on('exit', flush);

new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    const kind = (e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind ?? 0;
    if (e.duration >= 3) buf.push({ t: abs(e.startTime), kind: `gc${kind}`, ms: round(e.duration) });
  }
}).observe({ entryTypes: ['gc'] });

let last = performance.now();
setInterval(() => {
  const now = performance.now();
  if (now - last > 20) buf.push({ t: abs(last), kind: 'loop-gap', ms: round(now - last) });
  last = now;
}, 2).unref();

type Database = typeof BetterSqlite3;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const Db = require(path.join(process.env.DIAG_ROOT ?? '.', 'node_modules', 'better-sqlite3')) as Database;
const prepare = Db.prototype.prepare;
Db.prototype.prepare = function (this: BetterSqlite3.Database, source: string) {
  const stmt = prepare.call(this, source) as BetterSqlite3.Statement;
  const timed = stmt as unknown as Record<string, (...p: unknown[]) => unknown>;
  for (const m of ['run', 'all', 'get']) {
    const f = timed[m];
    if (!f) continue;
    timed[m] = function (this: unknown, ...p: unknown[]) {
      const t = performance.now();
      try {
        return f.apply(this, p);
      } finally {
        const d = performance.now() - t;
        if (d > 3) buf.push({ t: abs(t), kind: `sql-${m}`, ms: round(d), sql: source.slice(0, 60) });
      }
    };
  }
  return stmt;
} as typeof prepare;

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
