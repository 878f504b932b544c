/**
 * The reconciler records the apply states as soon as the backend's apply and
 * verify are done, before the written files are durable (the files backend's
 * folder fsync, ApplyReport.durable), and ends the run only once they are.
 * The backend is a fake that holds the durable wait: no real disk makes a
 * folder fsync last long enough on demand. What the files backend hands over
 * as durable is covered by test/unit/asterisk-atomic-file.test.ts, the rest of
 * a run against a real Asterisk by test/integration/asterisk-files.test.ts.
 */
import type { Reconciler } from '../../src/asterisk/reconciler';
import type { ApplyReport, StateBackend, VerifyReport } from '../../src/asterisk/state-backend';
import { loadConfig } from '../../src/config/load-config';
import { emptyPeerRows, reconcilerOn } from './fixtures/reconciler';
import type { PeerPatch, PeerRunRow } from '../../src/core/asterisk-peers';

const PEER: PeerRunRow = {
  id: '1',
  name: 'p1',
  prefix: '55',
  partnerIaxHost: '192.0.2.1',
  partnerIaxPort: 4569,
  partnerExtensionLength: 4,
  codec: 'ulaw',
  secret: 'A'.repeat(40),
  secretEpochSeconds: null,
  previousSecret: null,
  secretSwitchAt: null,
  secretEpochOffset: 0,
  secretShiftAt: null,
  nextSecret: null,
  nextSecretFrom: null,
  applyState: 'pending',
  applyError: null,
  appliedAt: null,
};

/** A fake, named so: its applies hand over a durable wait the test releases (or fails) when it wants. */
class HeldDurableBackend implements StateBackend {
  readonly kind = 'files' as const;
  readonly monitorable = true;
  release: () => void = () => undefined;
  fail: (e: Error) => void = () => undefined;

  async apply(): Promise<ApplyReport> {
    const durable = new Promise<void>((resolve, reject) => {
      this.release = resolve;
      this.fail = reject;
    });
    return { changes: [{ action: 'add', object: 'iax:p1' }], reloaded: ['chan_iax2.so'], durable };
  }

  async verify(): Promise<VerifyReport> {
    return { peerErrors: new Map(), problems: [] };
  }

  async close(): Promise<void> {}
}

function setUp(backend: StateBackend) {
  const patches: { ids: string[]; patch: PeerPatch }[] = [];
  const rows = emptyPeerRows({
    readAll: async () => [{ ...PEER }],
    patch: async (ids, patch) => {
      patches.push({ ids: [...ids], patch });
    },
  });
  const config = loadConfig({ env: {}, overrides: { instance: { extensionDigits: 4 } } });
  const reconciler = reconcilerOn(backend, config, rows);
  return { reconciler, patches };
}

const settle = () => new Promise<void>((r) => setTimeout(r, 20));

describe('reconciler: apply states before the durable wait', () => {
  let reconciler: Reconciler | null = null;
  afterEach(async () => {
    await reconciler?.stop();
  });

  it('records the peer applied while the written files are not durable yet, and ends the run after', async () => {
    const backend = new HeldDurableBackend();
    const s = setUp(backend);
    reconciler = s.reconciler;
    let ended = false;
    const run = reconciler.request('test').then((r) => {
      ended = true;
      return r;
    });
    await settle();
    expect(s.patches.map((p) => p.patch.applyState)).toEqual(['applied']);
    expect(ended).toBe(false);
    backend.release();
    const report = await run;
    expect(report?.applied).toEqual(['p1']);
    expect(report?.phasesMs.durable).toBeGreaterThanOrEqual(0);
  });

  it('a durable wait that fails fails the run (after the record), without an unhandled rejection', async () => {
    const backend = new HeldDurableBackend();
    const s = setUp(backend);
    reconciler = s.reconciler;
    const run = reconciler.request('test');
    await settle();
    backend.fail(new Error('EIO on the folder fsync'));
    await settle();
    expect(await run).toBeNull();
    expect(reconciler.lastError).toContain('EIO on the folder fsync');
  });
});
