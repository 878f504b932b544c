import fs from 'node:fs';
import { PeerRunRows } from '../src/store/peer-rows';
import { TypeormTrunkQualityStore } from '../src/store/trunk-quality-samples';
import { TypeormSettingStore } from '../src/store/typeorm';
import os from 'node:os';
import path from 'node:path';
import type { DataSource } from 'typeorm';
import { createAsteriskFeature, type AsteriskFeature } from '../src/asterisk';
import { PolicyStore } from '../src/federation/policy';
import { loadConfig } from '../src/config/load-config';
import { systemClock } from '../src/core/clock';
import { Metrics } from '../src/core/metrics';
import { createLogger } from '../src/logging/logger';
import { openDatabase } from '../src/store/data-source';
import type { AsteriskInstance } from '../test/harness/asterisk';

import { asteriskConfig } from './asterisk-sidecar';
import { waitUntil } from '../test/harness/wait';

/**
 * The sidecar's Asterisk layer built in the bench process the way the app
 * builds it (config from loadConfig, a SQLite DataSource, the real AMI/ARI
 * clients) against a real Asterisk, so a scenario can call the AsteriskPort
 * exactly as the protocol layer does after an accept.
 */
export interface InProcessAsterisk {
  feature: AsteriskFeature;
  db: DataSource;
  stop(): Promise<void>;
}

export async function startInProcessAsterisk(ast: AsteriskInstance): Promise<InProcessAsterisk> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'uuru-bench-ast-'));
  const config = loadConfig({
    env: {},
    overrides: {
      ...asteriskConfig(ast),
      dataDir,
      database: { type: 'sqlite', sqlitePath: path.join(dataDir, 'db.sqlite') },
      jobs: { reconcileCron: '0 0 1 1 *', monitorPollMs: 5000 },
      log: { level: 'warn' },
    },
  });
  const db = await openDatabase(config);
  const logger = createLogger({ level: 'error', format: 'json', silent: true });
  const feature = createAsteriskFeature({
    config,
    db,
    clock: systemClock,
    logger,
    fetch,
    metrics: new Metrics(),
    peers: new PeerRunRows(db),
    quality: new TypeormTrunkQualityStore(db),
    unfederated: new PolicyStore({ settings: new TypeormSettingStore(db), clock: systemClock, config }),
  });
  await feature.start();
  await waitUntil(async () => feature.port.status().ami === 'connected', {
    what: 'the Asterisk layer connected',
    timeoutMs: 30_000,
    intervalMs: 50,
  });
  await feature.reconcile('bench-start');
  return {
    feature,
    db,
    async stop() {
      await feature.stop();
      if (db.isInitialized) await db.destroy();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
