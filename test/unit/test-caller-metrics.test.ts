/**
 * Test calls are counted by result: a call never handed to Asterisk (the
 * peer is not applied yet, or ARI is down) is `not_placed`, and no setup time
 * is observed for it. Real SQLite and the real TestCaller; the ARI link is a
 * stand-in that is down (answered and failed calls need a real Asterisk:
 * test/integration/asterisk-files.test.ts).
 */
import { TestCaller } from '../../src/asterisk/test-caller';
import { Metrics } from '../../src/core/metrics';
import { createLogger } from '../../src/logging/logger';
import { PeerEntity } from '../../src/store/entities';
import { PeerRunRows } from '../../src/store/peer-rows';
import { ManualClock } from '../harness/manual-clock';
import { newPeerRow } from '../harness/peer-row';
import { DownAriLink } from './fixtures/down-links';
import { useTempSqlite } from './fixtures/temp-sqlite';

describe('test call metrics', () => {
  const tmp = useTempSqlite('testcall');

  it('counts calls to a peer not yet applied, and calls while ARI is down, as not_placed', async () => {
    const { db } = tmp;
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
