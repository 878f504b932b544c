/**
 * A test call's answer does not wait for Asterisk to confirm the hangup: once the
 * call is answered (or not), the outcome is known and recorded; the hangup is sent
 * and its answer only logged away. Real SQLite and the real TestCaller; the ARI link
 * is a stand-in (named so) that answers every call at once and never answers a
 * hangup, a stalled ARI request that a real Asterisk cannot be made to produce on
 * demand (the answered call itself: test/integration/asterisk-files.test.ts).
 */
import type { AriLink, LinkState, OriginateParams } from '../../src/asterisk/asterisk-links';
import { TestCaller } from '../../src/asterisk/test-caller';
import { Metrics } from '../../src/core/metrics';
import { createLogger } from '../../src/logging/logger';
import { PeerEntity } from '../../src/store/entities';
import { PeerRunRows } from '../../src/store/peer-rows';
import { ManualClock } from '../harness/manual-clock';
import { newPeerRow } from '../harness/peer-row';
import { useTempSqlite } from './fixtures/temp-sqlite';

/** Fake ARI: every call is answered on the next turn; a hangup is taken and never answered. */
class AnsweringAriWithStalledHangup implements AriLink {
  readonly state: LinkState = 'connected';
  readonly hangups: string[] = [];
  private readonly listeners = new Map<string, Set<(...args: never[]) => void>>();
  on(event: string, listener: (...args: never[]) => void): this {
    const set = this.listeners.get(event) ?? new Set();
    set.add(listener);
    this.listeners.set(event, set);
    return this;
  }
  off(event: string, listener: (...args: never[]) => void): this {
    this.listeners.get(event)?.delete(listener);
    return this;
  }
  start(): void {}
  async stop(): Promise<void> {}
  async whenConnected(): Promise<void> {}
  async originate(p: OriginateParams): Promise<{ id: string; state: string }> {
    const id = p.channelId ?? 'no-id';
    setImmediate(() => {
      for (const l of this.listeners.get('StasisStart') ?? [])
        (l as (ev: unknown) => void)({ channel: { id } });
    });
    return { id, state: 'Down' };
  }
  hangup(channelId: string): Promise<void> {
    this.hangups.push(channelId);
    return new Promise<void>(() => undefined);
  }
}

describe('test call hangup', () => {
  const tmp = useTempSqlite('testcall-hangup');

  it('answers and records an answered call without waiting for the hangup to be confirmed', async () => {
    const { db } = tmp;
    await db.getRepository(PeerEntity).insert(
      newPeerRow({
        name: 'tc_up',
        prefix: '83',
        partnerUrl: 'https://tc-up.example',
        partnerIaxHost: '192.0.2.9',
        partnerIaxPort: 4569,
        codec: 'alaw',
        secret: 'y'.repeat(40),
        dialect: 'v2',
        role: 'requester',
        applyState: 'applied',
      }),
    );
    const ari = new AnsweringAriWithStalledHangup();
    const caller = new TestCaller({
      rows: new PeerRunRows(db),
      ari,
      clock: new ManualClock(),
      logger: createLogger({ level: 'error', format: 'json', silent: true }),
      metrics: new Metrics(),
      app: 'uuru-test',
      testExtension: '9999',
      timeoutSec: 1,
    });
    let timer: NodeJS.Timeout | undefined;
    const stalled = new Promise<'stalled'>((r) => (timer = setTimeout(() => r('stalled'), 2000)));
    // Before, the answer waited for the hangup's answer: here it never came.
    const result = await Promise.race([caller.call('tc_up'), stalled]);
    clearTimeout(timer);
    expect(result).toMatchObject({ answered: true, error: null });
    expect(ari.hangups).toHaveLength(1);
    expect(ari.hangups[0]).toMatch(/^uuru-test-/);
    const row = await db.getRepository(PeerEntity).findOneByOrFail({ name: 'tc_up' });
    expect(row.lastTestCall).toMatchObject({ answered: true });
  });
});
