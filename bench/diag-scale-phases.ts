/**
 * Diagnostic, not a scenario of `npm run bench`: the phases of a full reconcile over 1,000 bench peers in one
 * process, without Asterisk (read, build, render, the list parse and mark check of verify, the record's
 * comparison and UPDATE), each timed over DIAG_ROUNDS rounds (default 30) with every peer's codec flipped
 * between rounds as the scale scenario does; medians in ms. For a quick before/after of a cut in seconds.
 *   npx ts-node --transpile-only bench/diag-scale-phases.ts
 */
import '../src/runtime-memory';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
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
  const lap = (name: string, t: number) => (times[name] ??= []).push(performance.now() - t);
  for (let round = 0; round < ROUNDS + 3; round++) {
    table.exec('UPDATE peers SET codec = ?', [round % 2 === 0 ? 'alaw' : 'ulaw']);
    const gc0 = performance.now();
    let t = performance.now();
    const peers = await rows.readAll();
    lap('read', t);
    t = performance.now();
    const desired = buildDesiredState(peers, settings, { now: Date.now(), overlapMs: 86_400_000 });
    lap('build', t);
    t = performance.now();
    const iax = renderIax(desired);
    lap('render', t);
    const listText = desired.peers
      .map(
        (p) =>
          `${p.friend.name.padEnd(20)} 127.0.0.1  (S)  255.255.255.255  40001  (E)  UNREACHABLE   ${iax.marks.get(p.friend.name)}`,
      )
      .join('\n');
    const link = { command: async () => listText } as unknown as AmiLink;
    t = performance.now();
    const listing = await loadedMarks(link);
    const report = checkPeers(
      desired,
      listing,
      iax.marks,
      () => undefined,
      () => undefined,
    );
    lap('verify', t);
    if (report.peerErrors.size > 0) throw new Error('verify failed');
    t = performance.now();
    const batch = new PeerPatchBatch();
    const patch = { applyState: 'applied', applyError: null, appliedAt: Date.now() } as const;
    for (const p of peers) batch.add(p.id, patch);
    await batch.flush(rows);
    lap('record', t);
    lap('total', gc0);
  }
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(times)) out[k] = median(v.slice(3));
  console.log(JSON.stringify(out));
  await db.destroy();
  table.close();
  fs.rmSync(dir, { recursive: true, force: true });
}

void main();
