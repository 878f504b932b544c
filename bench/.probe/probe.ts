import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PeerEntity } from '../../src/store/entities';
import { startAsterisk, cleanupAsteriskRun } from '../../test/harness/asterisk';
import { startInProcessAsterisk } from '../../bench/in-process-asterisk';
import { LOCAL_CONTEXT } from '../../bench/asterisk-sidecar';
import { peerRow, benchAmi } from '../../bench/peer-rows';
import { IAX_FILE } from '../../src/asterisk/files-renderer';

async function main() {
  process.env.UURU_TEST_RUN_ID ??= `probe-${process.pid}`;
  const ast = await startAsterisk({ name: 'probe', extensionsConf: [`[${LOCAL_CONTEXT}]`, `include => ${LOCAL_CONTEXT}-federation`, ''].join('\n') });
  const layer = await startInProcessAsterisk(ast);
  try {
    const repo = layer.db.getRepository(PeerEntity);
    const rows = Array.from({ length: 1000 }, (_, i) => peerRow(i, 100000, 'scale_'));
    for (let i = 0; i < rows.length; i += 100) await repo.insert(rows.slice(i, i + 100));
    let t = performance.now();
    await layer.feature.reconcile('first');
    console.log('first reconcile', performance.now() - t);
    const ami = await benchAmi(ast);
    for (let r = 0; r < 4; r++) {
      await repo.createQueryBuilder().update().set({ codec: r % 2 ? 'ulaw' : 'alaw' }).execute();
      t = performance.now();
      const rep = await layer.feature.reconcile('r' + r);
      console.log('reconcile', r, performance.now() - t, rep && rep.finishedAt - rep.startedAt, rep?.changes.length);
      await new Promise((r) => setTimeout(r, 500));
    }
    // phases
    const tt = async (label: string, f: () => Promise<unknown>) => { const t0 = performance.now(); const v = await f(); console.log(label, (performance.now() - t0).toFixed(1)); return v; };
    await tt('iaxpeerlist', () => ami.iaxPeerList());
    await tt('showdialplan', () => ami.listAction({ Action: 'ShowDialPlan' }));
    await tt('dialplan show context', () => ami.command('dialplan show uuru-local-federation'));
    await tt('find', () => repo.find());
    const iaxFile = path.join(ast.configDir, IAX_FILE);
    for (let r = 0; r < 3; r++) {
      const when = new Date(Date.now() + (r + 1) * 2000);
      fs.utimesSync(iaxFile, when, when);
      await tt('iax reload', () => ami.reload('chan_iax2.so'));
      await new Promise((r) => setTimeout(r, 1000));
    }
    for (let r = 0; r < 2; r++) {
      await tt('iax reload unchanged', () => ami.reload('chan_iax2.so'));
    }
    await ami.stop();
  } finally {
    await layer.stop();
    await ast.stop();
    cleanupAsteriskRun();
  }
}
main().catch((e) => { console.error(e); process.exit(1); });
