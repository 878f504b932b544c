import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PeerEntity } from '../../src/store/entities';
import { startAsterisk, cleanupAsteriskRun } from '../../test/harness/asterisk';
import { LOCAL_CONTEXT, asteriskConfig } from '../asterisk-sidecar';
import { peerRow } from '../peer-rows';
import { createAsteriskFeature } from '../../src/asterisk';
import { AmiClient } from '../../src/asterisk/ami-client';
import { loadConfig } from '../../src/config/load-config';
import { systemClock } from '../../src/core/clock';
import { Metrics } from '../../src/core/metrics';
import { createLogger } from '../../src/logging/logger';
import { openDatabase } from '../../src/store/data-source';

async function main() {
  process.env.UURU_TEST_RUN_ID ??= `probe-${process.pid}`;
  const ast = await startAsterisk({ name: 'probe', extensionsConf: [`[${LOCAL_CONTEXT}]`, `include => ${LOCAL_CONTEXT}-federation`, ''].join('\n') });
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'uuru-probe-'));
  const config = loadConfig({ env: {}, overrides: { ...asteriskConfig(ast, { reloadDebounceMs: 0 }), dataDir, database: { type: 'sqlite', sqlitePath: path.join(dataDir, 'db.sqlite') }, jobs: { reconcileCron: '0 0 1 1 *', monitorPollMs: 60000 }, log: { level: 'warn' } } });
  const db = await openDatabase(config);
  const logger = createLogger({ level: 'error', format: 'json', silent: true });
  const real = new AmiClient({ host: '127.0.0.1', port: ast.amiPort, username: ast.amiUser, secret: ast.amiSecret, logger, reconnect: { initialMs: 250, maxMs: 5000 } });
  let t0 = 0;
  const mark = (s: string) => console.log(`  +${(performance.now() - t0).toFixed(1)} ${s}`);
  const ami = new Proxy(real, { get(target, prop, recv) {
    const v = Reflect.get(target, prop, target);
    if (typeof v !== 'function' || !['action', 'listAction', 'command', 'iaxPeerList', 'reload'].includes(String(prop))) return typeof v === 'function' ? v.bind(target) : v;
    return async (...args: unknown[]) => { const s = performance.now(); const r = await (v as (...a: unknown[]) => Promise<unknown>).apply(target, args); mark(`${String(prop)} ${String(JSON.stringify(args[0])).slice(0, 60)} took ${(performance.now() - s).toFixed(1)}`); return r; };
  } });
  const feature = createAsteriskFeature({ config, db, clock: systemClock, logger, fetch, metrics: new Metrics() }, { ami });
  await feature.start();
  await real.whenConnected(30000);
  try {
    const repo = db.getRepository(PeerEntity);
    const rows = Array.from({ length: 1000 }, (_, i) => peerRow(i, 100000, 'scale_'));
    for (let i = 0; i < rows.length; i += 100) await repo.insert(rows.slice(i, i + 100));
    t0 = performance.now();
    await feature.reconcile('first');
    console.log('first reconcile', performance.now() - t0);
    for (let r = 0; r < 4; r++) {
      await repo.createQueryBuilder().update().set({ codec: r % 2 ? 'ulaw' : 'alaw' }).execute();
      await new Promise((r) => setTimeout(r, 800));
      t0 = performance.now();
      const rep = await feature.reconcile('r' + r);
      console.log('reconcile', feature.reconciler.lastError, r, (performance.now() - t0).toFixed(1), rep && rep.finishedAt - rep.startedAt, rep?.changes.length);
    }
    await new Promise((r) => setTimeout(r, 800));
    t0 = performance.now();
    const rep = await feature.reconcile('noop');
    console.log('noop reconcile', (performance.now() - t0).toFixed(1), rep && rep.finishedAt - rep.startedAt, rep?.changes.length);
  } finally {
    await feature.stop();
    await db.destroy();
    await ast.stop();
    cleanupAsteriskRun();
  }
}
main().catch((e) => { console.error(e); process.exit(1); });
