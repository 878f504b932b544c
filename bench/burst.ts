import fs from 'node:fs';
import path from 'node:path';
import type { AmiMessage } from '../src/asterisk/ami-client';
import { IAX_FILE } from '../src/asterisk/files-renderer';
import { PeerEntity } from '../src/store/entities';
import { type AsteriskInstance, startAsterisk } from '../test/harness/asterisk';
import { sleep } from '../test/harness/processes';
import { LOCAL_CONTEXT } from './asterisk-sidecar';
import { type InProcessAsterisk, startInProcessAsterisk } from './in-process-asterisk';
import { benchAmi, peerRow } from './peer-rows';
import { round2 } from './percentiles';
import { type Scenario, target } from './scenario';

const PEERS = 200;
const WINDOW_MS = 1000;
const DRIFT_EDITS = 5;

export const burst: Scenario = {
  name: 'burst',
  title: `Burst: ${PEERS} peers accepted within a second`,
  method:
    `The sidecar's Asterisk layer (built as the app builds it: real AMI/ARI clients, files backend, default reload ` +
    `debounce, SQLite) against a real Asterisk 22. ${PEERS} peer rows are written one by one over ${WINDOW_MS} ms, each ` +
    'followed by `AsteriskPort.syncPeers()`, exactly what an accept does. Counted: AMI `Reload` events per module on ' +
    "the bench's own AMI session from the first write until every peer is applied and verified (apply_state = applied) " +
    'plus 2 s, and the time from the first write until all are verified. Then drift, ' +
    `${DRIFT_EDITS} times 1 s apart: one peer's secret is changed by hand in the generated iax file, nothing else is ` +
    'done; timed from the write until the file holds the generated text again and the run that repaired it ' +
    '(started after the edit, a reload of chan_iax2 in it) has verified every peer; the target is the slowest.',

  async run(log) {
    let ast: AsteriskInstance | null = null;
    let layer: InProcessAsterisk | null = null;
    try {
      ast = await startAsterisk({
        name: 'burst',
        extensionsConf: [`[${LOCAL_CONTEXT}]`, `include => ${LOCAL_CONTEXT}-federation`, ''].join('\n'),
      });
      layer = await startInProcessAsterisk(ast);
      const ami = await benchAmi(ast);
      const reloads: Record<string, number> = {};
      const onReload = (m: AmiMessage) => {
        const mod = m.module ?? 'all';
        reloads[mod] = (reloads[mod] ?? 0) + 1;
      };
      ami.on('Reload', onReload);
      const repo = layer.db.getRepository(PeerEntity);
      const syncs: Promise<void>[] = [];
      const t0 = performance.now();
      for (let i = 0; i < PEERS; i++) {
        const wait = t0 + (i * WINDOW_MS) / PEERS - performance.now();
        if (wait > 0) await sleep(wait);
        await repo.insert(peerRow(i, 5000, 'burst_'));
        syncs.push(layer.feature.port.syncPeers('accept'));
      }
      const writtenMs = performance.now() - t0;
      log(`wrote ${PEERS} peers in ${Math.round(writtenMs)} ms`);
      let verifiedMs: number | null = null;
      while (performance.now() - t0 < 120_000) {
        if ((await repo.countBy({ applyState: 'applied' })) === PEERS) {
          verifiedMs = performance.now() - t0;
          break;
        }
        await sleep(10);
      }
      await Promise.all(syncs);
      await sleep(2000);
      ami.off('Reload', onReload);

      // Drift: a hand edit of the generated iax file (one peer's secret), no admin action; timed until
      // the file holds the sidecar's text again and the run that repaired it (and reloaded chan_iax2)
      // has verified the peer in Asterisk.
      const iaxFile = path.join(ast.configDir, IAX_FILE);
      const good = fs.readFileSync(iaxFile, 'utf8');
      const driftMs: number[] = [];
      for (let i = 0; i < DRIFT_EDITS; i++) {
        const editedAt = Date.now();
        const t = performance.now();
        fs.writeFileSync(iaxFile, good.replace(/^secret=.*$/m, `secret=handedit${i}handedit${i}`));
        while (performance.now() - t < 30_000) {
          const report = layer.feature.reconciler.lastReport;
          const repaired =
            report !== null &&
            report.startedAt >= editedAt &&
            report.reasons.some((r) => r.startsWith('drift:')) &&
            report.applied.length === PEERS &&
            fs.readFileSync(iaxFile, 'utf8') === good;
          if (repaired) {
            driftMs.push(performance.now() - t);
            break;
          }
          await sleep(2);
        }
        await sleep(1000);
      }
      const driftWorst = driftMs.length === DRIFT_EDITS ? round2(Math.max(...driftMs)) : null;
      await ami.stop();
      const failedPeers = await repo.countBy({ applyState: 'failed' });
      const maxPerModule = Object.values(reloads).reduce((m, v) => Math.max(m, v), 0);
      return {
        status: 'ok',
        metrics: {
          peers: PEERS,
          written_in_ms: round2(writtenMs),
          all_verified_ms: verifiedMs === null ? null : round2(verifiedMs),
          failed_peers: failedPeers,
          reloads_by_module: reloads,
          max_reloads_per_module: maxPerModule,
          drift_repaired_ms: driftMs.map(round2),
          drift_repaired_worst_ms: driftWorst,
        },
        targets: [
          target('reloads per module', maxPerModule, 'reloads', '<=', 3),
          target('drift repaired', driftWorst, 'ms', '<=', 1000),
        ],
        notes: [
          `all ${PEERS} verified ${verifiedMs === null ? 'never' : `${Math.round(verifiedMs)} ms`} after the first write`,
        ],
      };
    } finally {
      await layer?.stop();
      await ast?.stop();
    }
  },
};
