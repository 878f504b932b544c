/**
 * Diagnostic, not a scenario of `npm run bench`: the phases of a full reconcile over 1,000 bench peers in one
 * process, without Asterisk (read, build, render, the list parse and mark check of verify, the record's
 * comparison and UPDATE), each timed over DIAG_ROUNDS rounds (default 30) with every peer's codec flipped
 * between rounds as the scale scenario does; medians in ms. For a quick before/after of a cut in seconds.
 *   npx ts-node --transpile-only bench/diag-scale-phases.ts
 * DIAG_GC=1 adds, per phase, the median number of scavenges and the bytes allocated (KB), counted with
 * v8.GCProfiler: the heap used at the end less at the start plus what each collection in between freed. With
 * the young generation held at 1 MB (src/runtime-memory.ts), as in the sidecar, these do not depend on the
 * machine's load, unlike the times (which the profiler itself lengthens a little). Run it with the young
 * generation held from the start, as in the sidecar (`newSpaceKb` in the output says its size):
 *   DIAG_GC=1 node --import ./bench/young-generation-preload.mjs -r ts-node/register/transpile-only \
 *     bench/diag-scale-phases.ts
 */
import '../src/runtime-memory';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import { configSchema } from '../src/config/schema';
import { openDatabase } from '../src/store/data-source';
import { PeerRunRows } from '../src/store/peer-rows';
import { buildDesiredState, renderSettingsFrom } from '../src/asterisk/desired-state';
import { renderIax } from '../src/asterisk/files-renderer';
import { checkPeers } from '../src/asterisk/files-verify';
import { loadedMarks } from '../src/asterisk/asterisk-readback';
import type { AmiLink } from '../src/asterisk/asterisk-links';
import { unfederatedSet } from '../src/core/unfederated-numbers';
import { PeerPatchBatch } from '../src/asterisk/peer-patch-batch';
import { openPeerTable, peerRow } from './peer-rows';

const PEERS = 1000;
const ROUNDS = Number(process.env.DIAG_ROUNDS ?? 30);

const GC = process.env.DIAG_GC === '1';

/** Scavenges and bytes allocated while `fn` runs (see the header). */
async function counted<T>(
  fn: () => Promise<T> | T,
): Promise<{ value: T; scavenges: number; others: number; bytes: number }> {
  const profiler = new v8.GCProfiler();
  profiler.start();
  const before = v8.getHeapStatistics().used_heap_size;
  const value = await fn();
  const after = v8.getHeapStatistics().used_heap_size;
  const stats = profiler.stop()?.statistics ?? [];
  let freed = 0;
  for (const g of stats)
    freed += g.beforeGC.heapStatistics.usedHeapSize - g.afterGC.heapStatistics.usedHeapSize;
  const scavenges = stats.filter((g) => g.gcType === 'Scavenge').length;
  return { value, scavenges, others: stats.length - scavenges, bytes: after - before + freed };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.floor(s.length / 2)] * 100) / 100;
};

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uuru-diag-scale-'));
  const config = configSchema.parse({
    dataDir: dir,
    database: { type: 'sqlite', sqlitePath: path.join(dir, 'db.sqlite') },
  });
  let db = await openDatabase(config);
  await db.destroy();
  const table = openPeerTable(path.join(dir, 'db.sqlite'));
  table.insert(Array.from({ length: PEERS }, (_, i) => peerRow(i, 100000, 'scale_')));
  db = await openDatabase(config); // seals the secrets inserted in clear
  const rows = new PeerRunRows(db);
  const settings = renderSettingsFrom(
    config,
    unfederatedSet({ extensionDigits: 4, policy: [], reserved: [], emergency: [] }),
  );
  const times: Record<string, number[]> = {};
  /** This round's collections and allocation over all phases (DIAG_GC). */
  const counts = { scavenges: 0, others: 0, kb: 0 };
  const record = (name: string, x: number) => (times[name] ??= []).push(x);
  /** Runs one phase, timed, and counted when DIAG_GC is set. */
  const phase = async <T>(name: string, fn: () => Promise<T> | T): Promise<T> => {
    const t = performance.now();
    if (!GC) {
      const value = await fn();
      record(name, performance.now() - t);
      return value;
    }
    const c = await counted(fn);
    record(name, performance.now() - t);
    record(`${name}.scavenges`, c.scavenges);
    record(`${name}.kb`, c.bytes / 1024);
    counts.scavenges += c.scavenges;
    counts.others += c.others;
    counts.kb += c.bytes / 1024;
    return c.value;
  };
  for (let round = 0; round < ROUNDS + 3; round++) {
    table.exec('UPDATE peers SET codec = ?', [round % 2 === 0 ? 'alaw' : 'ulaw']);
    const t0 = performance.now();
    Object.assign(counts, { scavenges: 0, others: 0, kb: 0 });
    const peers = await phase('read', () => rows.readAll());
    const desired = await phase('build', () =>
      buildDesiredState(peers, settings, { now: Date.now(), overlapMs: 86_400_000 }),
    );
    const iax = await phase('render', () => renderIax(desired));
    const listText = desired.peers
      .map(
        (p) =>
          `${p.friend.name.padEnd(20)} 127.0.0.1  (S)  255.255.255.255  40001  (E)  UNREACHABLE   ${iax.marks.get(p.friend.name)}`,
      )
      .join('\n');
    const link = { command: async () => listText } as unknown as AmiLink;
    const report = await phase('verify', async () =>
      checkPeers(
        desired,
        await loadedMarks(link),
        iax.marks,
        () => undefined,
        () => undefined,
      ),
    );
    if (report.peerErrors.size > 0) throw new Error('verify failed');
    await phase('record', async () => {
      const batch = new PeerPatchBatch();
      const patch = { applyState: 'applied', applyError: null, appliedAt: Date.now() } as const;
      for (const p of peers) batch.add(p.id, patch);
      await batch.flush(rows);
    });
    record('total', performance.now() - t0);
    if (GC) {
      record('total.scavenges', counts.scavenges);
      record('total.otherGcs', counts.others);
      record('total.kb', counts.kb);
    }
  }
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(times)) out[k] = median(v.slice(3));
  out.newSpaceKb =
    (v8.getHeapSpaceStatistics().find((x) => x.space_name === 'new_space')?.space_size ?? 0) / 1024;
  console.log(JSON.stringify(out));
  await db.destroy();
  table.close();
  fs.rmSync(dir, { recursive: true, force: true });
}

void main();
