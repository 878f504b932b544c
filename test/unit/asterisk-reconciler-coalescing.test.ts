/**
 * The reconciler's coalescing of run requests (src/asterisk/reconciler.ts):
 * leading edge (a request that finds nothing running or waiting runs at once,
 * however recently the previous one came), a lone request during a run runs
 * right after it (a follow-up), and coalescing of what comes while a run is in
 * flight and a request waits, or back to back. The backend is a recording fake:
 * these tests are about when runs start and how many there are, which no
 * Asterisk behaviour can change; what a run does against a real Asterisk is
 * covered by test/integration/asterisk-files.test.ts (including the 50-peer
 * burst's reload count).
 */
import type { Reconciler } from '../../src/asterisk/reconciler';
import type { ApplyReport, StateBackend, VerifyReport } from '../../src/asterisk/state-backend';
import { loadConfig } from '../../src/config/load-config';
import { emptyPeerRows, reconcilerOn } from './fixtures/reconciler';

const DEBOUNCE_MS = 400;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A backend that records when each apply started and can hold an apply until released. */
class RecordingBackend implements StateBackend {
  readonly kind = 'files' as const;
  readonly monitorable = true;
  readonly applyStarts: number[] = [];
  /** When set, the next applies wait for this promise. */
  hold: Promise<void> | null = null;

  async apply(): Promise<ApplyReport> {
    this.applyStarts.push(performance.now());
    if (this.hold) await this.hold;
    return { changes: [], reloaded: ['chan_iax2.so'] };
  }

  async verify(): Promise<VerifyReport> {
    return { peerErrors: new Map(), problems: [] };
  }

  async close(): Promise<void> {}
}

function reconcilerWith(backend: RecordingBackend): Reconciler {
  const config = loadConfig({
    env: {},
    overrides: { instance: { extensionDigits: 4 }, asterisk: { reloadDebounceMs: DEBOUNCE_MS } },
  });
  return reconcilerOn(backend, config, emptyPeerRows());
}

describe('reconciler coalescing', () => {
  let reconciler: Reconciler;
  afterEach(async () => {
    await reconciler?.stop();
  });

  it('runs a request at once when the previous run has ended, even within the debounce of its request', async () => {
    const backend = new RecordingBackend();
    reconciler = reconcilerWith(backend);
    expect(await reconciler.request('peer x torn down')).not.toBeNull();
    // Well past the back-to-back gap, well within the debounce: the next accept after a teardown.
    await sleep(60);
    const asked = performance.now();
    const report = await reconciler.request('peer y accepted');
    expect(report?.reasons).toEqual(['peer y accepted']);
    expect(backend.applyStarts).toHaveLength(2);
    // The old rule (any request within the debounce of the previous one waits for the burst to
    // pause) started this run DEBOUNCE_MS after the request.
    expect(backend.applyStarts[1] - asked).toBeLessThan(DEBOUNCE_MS / 2);
  });

  it('coalesces every request that arrives while a run is in flight into one more run', async () => {
    const backend = new RecordingBackend();
    reconciler = reconcilerWith(backend);
    let release = () => undefined as void;
    backend.hold = new Promise<void>((r) => (release = r));
    const first = reconciler.request('accept 0');
    const rest: ReturnType<Reconciler['request']>[] = [];
    for (let i = 1; i <= 20; i++) {
      rest.push(reconciler.request(`accept ${i}`));
      await sleep(5);
    }
    expect(backend.applyStarts).toHaveLength(1); // the leading run, still in flight
    backend.hold = null;
    release();
    const reports = await Promise.all([first, ...rest]);
    expect(backend.applyStarts).toHaveLength(2);
    expect(reports[0]?.reasons).toEqual(['accept 0']);
    // Everything that came during the leading run shares the second one.
    const second = reports[1];
    expect(second?.reasons).toHaveLength(20);
    for (const r of reports.slice(1)) expect(r).toBe(second);
  });

  it('treats requests that come back to back as a burst even when each run ends before the next request', async () => {
    const backend = new RecordingBackend();
    reconciler = reconcilerWith(backend);
    await reconciler.request('accept 0');
    // The leading run has ended; the next requests follow at once (a script accepting in a loop).
    const burst: Promise<unknown>[] = [];
    for (let i = 1; i <= 10; i++) {
      // Each request after the run before it has ended (an immediate run ends within one turn).
      await new Promise((r) => setImmediate(r));
      burst.push(reconciler.request(`accept ${i}`));
    }
    await Promise.all(burst);
    expect(backend.applyStarts).toHaveLength(2);
  });

  it('runs a lone request that comes back to back after a run has ended as a follow-up, not a debounce later', async () => {
    const backend = new RecordingBackend();
    reconciler = reconcilerWith(backend);
    // The accept's run, then the teardown right behind it (within the back-to-back gap), nothing else.
    expect(await reconciler.request('peer x accepted')).not.toBeNull();
    const asked = performance.now();
    const report = await reconciler.request('peer x torn down');
    expect(report?.reasons).toEqual(['peer x torn down']);
    expect(backend.applyStarts).toHaveLength(2);
    // The old rule (back to back counts as a burst) held it for the whole debounce.
    expect(backend.applyStarts[1] - asked).toBeLessThan(DEBOUNCE_MS / 4);
  });

  it('makes a back-to-back follow-up a burst when a third request joins it, even paced past the gap', async () => {
    const backend = new RecordingBackend();
    reconciler = reconcilerWith(backend);
    await reconciler.request('accept 0');
    const second = reconciler.request('accept 1'); // back to back, nothing running: a follow-up
    // Paced a little slower than the back-to-back gap (the 50-peer test's rows come 17-25 ms apart, more
    // on a loaded machine): the third must still find the follow-up waiting and make the two a burst.
    await sleep(32);
    const thirdAsked = performance.now();
    const third = reconciler.request('accept 2');
    const reports = await Promise.all([second, third]);
    expect(backend.applyStarts).toHaveLength(2);
    expect(reports[0]).toBe(reports[1]);
    expect(reports[0]?.reasons).toEqual(['accept 1', 'accept 2']);
    expect(backend.applyStarts[1] - thirdAsked).toBeGreaterThan(DEBOUNCE_MS / 2);
  });

  it('runs a lone request that came during a leading run right after that run, not a debounce later', async () => {
    const backend = new RecordingBackend();
    reconciler = reconcilerWith(backend);
    let release = () => undefined as void;
    backend.hold = new Promise<void>((r) => (release = r));
    const teardown = reconciler.request('peer x torn down');
    // Well past the back-to-back gap: the next accept, while the teardown's run is still in flight.
    await sleep(60);
    const accept = reconciler.request('peer y accepted');
    await sleep(40);
    backend.hold = null;
    release();
    await teardown;
    const leadingEnded = performance.now();
    const report = await accept;
    expect(report?.reasons).toEqual(['peer y accepted']);
    expect(backend.applyStarts).toHaveLength(2);
    // The old rule held it for the whole debounce (DEBOUNCE_MS after its request, 360 ms after the run ended).
    expect(backend.applyStarts[1] - leadingEnded).toBeLessThan(DEBOUNCE_MS / 4);
  });

  it('runs a follow-up as soon as a slow run ends when it came early in that run', async () => {
    const backend = new RecordingBackend();
    reconciler = reconcilerWith(backend);
    let release = () => undefined as void;
    backend.hold = new Promise<void>((r) => (release = r));
    const teardown = reconciler.request('peer x torn down');
    await sleep(40);
    const accept = reconciler.request('peer y accepted'); // a follow-up, alone
    // The teardown's run goes on (a slow disk) well past the window in which a burst's next request comes.
    await sleep(120);
    backend.hold = null;
    release();
    await teardown;
    const leadingEnded = performance.now();
    expect((await accept)?.reasons).toEqual(['peer y accepted']);
    expect(backend.applyStarts).toHaveLength(2);
    // Before, it waited the follow-up's settle (25 ms) after the run in any case.
    expect(backend.applyStarts[1] - leadingEnded).toBeLessThan(15);
  });

  it('makes a follow-up a burst when a second request joins it before it runs', async () => {
    const backend = new RecordingBackend();
    reconciler = reconcilerWith(backend);
    let release = () => undefined as void;
    backend.hold = new Promise<void>((r) => (release = r));
    const first = reconciler.request('accept 0');
    await sleep(40);
    const second = reconciler.request('accept 1'); // a follow-up, alone so far
    await sleep(40);
    const thirdAsked = performance.now();
    const third = reconciler.request('accept 2'); // joins it: a burst, paced slower than back to back
    backend.hold = null;
    release();
    const reports = await Promise.all([first, second, third]);
    expect(backend.applyStarts).toHaveLength(2);
    expect(reports[1]).toBe(reports[2]);
    expect(reports[1]?.reasons).toEqual(['accept 1', 'accept 2']);
    expect(backend.applyStarts[1] - thirdAsked).toBeGreaterThan(DEBOUNCE_MS / 2);
  });

  it('holds a request that comes during a follow-up run for the burst to pause', async () => {
    const backend = new RecordingBackend();
    reconciler = reconcilerWith(backend);
    let release = () => undefined as void;
    backend.hold = new Promise<void>((r) => (release = r));
    const first = reconciler.request('accept 0');
    await sleep(40);
    const second = reconciler.request('accept 1'); // the follow-up
    // The follow-up run is held too; the next request comes while it is in flight.
    let releaseFollowUp = () => undefined as void;
    const followUpHeld = new Promise<void>((r) => (releaseFollowUp = r));
    backend.hold = null;
    release();
    await first;
    backend.hold = followUpHeld;
    while (backend.applyStarts.length < 2) await sleep(5);
    await sleep(40);
    const thirdAsked = performance.now();
    const third = reconciler.request('accept 2');
    backend.hold = null;
    releaseFollowUp();
    await Promise.all([second, third]);
    expect(backend.applyStarts).toHaveLength(3);
    // Leading run, one follow-up, then the rest of the burst once it paused: never a run per request.
    expect(backend.applyStarts[2] - thirdAsked).toBeGreaterThan(DEBOUNCE_MS / 2);
  });

  it('holds a burst back until it pauses, then runs it once', async () => {
    const backend = new RecordingBackend();
    reconciler = reconcilerWith(backend);
    let release = () => undefined as void;
    backend.hold = new Promise<void>((r) => (release = r));
    const first = reconciler.request('accept 0');
    const second = reconciler.request('accept 1'); // during the leading run: part of a burst
    backend.hold = null;
    release();
    await first;
    const leadingEnded = performance.now();
    await sleep(DEBOUNCE_MS / 4);
    expect(backend.applyStarts).toHaveLength(1); // still waiting for the burst to pause
    await second;
    expect(backend.applyStarts).toHaveLength(2);
    expect(backend.applyStarts[1] - leadingEnded).toBeGreaterThan(DEBOUNCE_MS / 2);
  });
});
