/**
 * Test calls are counted by result: a call never handed to Asterisk (the
 * peer is not applied yet, or ARI is down) is `not_placed`, and no setup time
 * is observed for it. Real SQLite and the real TestCaller; the ARI link is a
 * stand-in that is down (answered and failed calls need a real Asterisk:
 * test/integration/asterisk-files.test.ts).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { DataSource } from 'typeorm';
import type { AriLink, LinkState } from '../../src/asterisk/asterisk-links';
import { TestCaller } from '../../src/asterisk/test-caller';
import { configSchema } from '../../src/config/schema';
import { Metrics } from '../../src/core/metrics';
import { createLogger } from '../../src/logging/logger';
import { openDatabase } from '../../src/store/data-source';
import { PeerEntity } from '../../src/store/entities';
import { PeerRunRows } from '../../src/store/peer-rows';
import { ManualClock } from '../harness/manual-clock';
import { newPeerRow } from '../harness/peer-row';

/** An ARI link that is down: a test call must not reach it. */
class DownAriLink implements AriLink {
  readonly state: LinkState = 'disconnected';
  on(): this {
    return this;
  }
  off(): this {
    return this;
  }
  start(): void {}
  async stop(): Promise<void> {}
  whenConnected(): Promise<void> {
    return Promise.reject(new Error('down'));
  }
  originate(): never {
    throw new Error('a call was handed to a link that is down');
  }
  hangup(): never {
    throw new Error('a call was handed to a link that is down');
  }
}

describe('test call metrics', () => {
  let dir: string;
  let db: DataSource;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uuru-testcall-'));
    db = await openDatabase(
      configSchema.parse({
        dataDir: dir,
        database: { type: 'sqlite', sqlitePath: path.join(dir, 'db.sqlite') },
      }),
    );
  });

  afterEach(async () => {
    await db.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('counts calls to a peer not yet applied, and calls while ARI is down, as not_placed', async () => {
    const row = (name: string, prefix: string, applyState: 'pending' | 'applied') =>
      newPeerRow({
        name,
        prefix,
        partnerUrl: `https://${name}.example`,
        partnerIaxHost: '192.0.2.9',
        partnerIaxPort: 4569,
        codec: 'alaw',
        secret: 'y'.repeat(40),
        dialect: 'v2',
        role: 'requester',
        applyState,
      });
    await db
      .getRepository(PeerEntity)
      .insert([row('tc_pending', '81', 'pending'), row('tc_applied', '82', 'applied')]);
    const metrics = new Metrics();
    const caller = new TestCaller({
      rows: new PeerRunRows(db),
      ari: new DownAriLink(),
      clock: new ManualClock(),
      logger: createLogger({ level: 'error', format: 'json', silent: true }),
      metrics,
      app: 'uuru-test',
      testExtension: '9999',
      timeoutSec: 1,
    });

    expect(await caller.call('tc_pending')).toMatchObject({
      answered: false,
      error: expect.stringMatching(/^not placed/),
    });
    expect(await caller.call('tc_applied')).toMatchObject({
      answered: false,
      error: 'Asterisk ARI is not connected',
    });
    expect(await caller.call('tc_applied')).toMatchObject({ answered: false });

    const counts = (await metrics.testCalls.get()).values.map((v) => [
      v.labels.peer,
      v.labels.result,
      v.value,
    ]);
    expect(counts.sort()).toEqual([
      ['tc_applied', 'not_placed', 2],
      ['tc_pending', 'not_placed', 1],
    ]);
    expect((await metrics.testCallSetup.get()).values).toEqual([]);
  });
});
