/**
 * The outbox delivery worker on the in-memory stores (test/store/memory,
 * held to the same contract as SQLite and MariaDB) with a pinned clock.
 * The partner is a fault-injecting stand-in (it answers whatever status the
 * test sets), because a real partner cannot be made to answer 503, 408 or
 * 429 on demand.
 */
import { ManualClock } from '../harness/manual-clock';
import { AppError } from '../../src/core/errors';
import { Metrics } from '../../src/core/metrics';
import { DeliveryWorker } from '../../src/federation/delivery-worker';
import { Outbox } from '../../src/federation/outbox';
import { PartnerHealthService } from '../../src/federation/partner-health';
import type { PartnerCall } from '../../src/federation/partner-call';
import { v2Accept, v2Teardown } from '../../src/federation/v2-calls';
import { createLogger } from '../../src/logging/logger';
import { memoryFederationStores } from '../store/memory';

const HOUR = 3600_000;
const DAY = 24 * HOUR;

describe('outbox delivery', () => {
  let stores: ReturnType<typeof memoryFederationStores>;
  let clock: ManualClock;
  let outbox: Outbox;
  let worker: DeliveryWorker;
  let metrics: Metrics;
  let health: PartnerHealthService;
  const sent: PartnerCall[] = [];
  let answer: () => Promise<{ status: number; json: unknown }>;

  beforeEach(async () => {
    clock = new ManualClock();
    stores = memoryFederationStores(clock);
    metrics = new Metrics();
    outbox = new Outbox({ store: stores.outbox, clock });
    sent.length = 0;
    answer = async () => ({ status: 200, json: {} });
    const logger = createLogger({ level: 'error', format: 'json', silent: true });
    const retry = { baseMs: 1000, maxMs: HOUR };
    health = new PartnerHealthService({
      store: stores.partnerHealth,
      clock,
      logger,
      retry,
      suspendAfterDays: 7,
      random: () => 1,
    });
    worker = new DeliveryWorker({
      store: stores.outbox,
      clock,
      logger,
      metrics,
      // What PartnerTransport does in the app: every call's outcome recorded in the partner's health.
      send: health.observe(async (call) => {
        sent.push(call);
        return answer();
      }),
      health,
      retry,
      pollMs: 1000,
      random: () => 1,
    });
  });

  afterEach(async () => {
    await worker.stop();
  });

  const enqueue = (call: PartnerCall, kind: 'accept' | 'teardown' = 'accept', requestId = 'req-1') =>
    stores.transactions.run((tx) => outbox.enqueue(tx, { kind, call, peerName: 'p', requestId }));
  const rows = async () => stores.allOutboxItems();
  const accept = v2Accept('https://b.example', 'req-1', {
    extension_length: 4,
    iax2: { host: 'h', port: 4569 },
    agreement_kid: 'x1',
  });

  it('delivers a due item once and marks it delivered', async () => {
    await enqueue(accept);
    const reports = await worker.runOnce();
    expect(reports.map((r) => r.outcome)).toEqual(['delivered']);
    expect(sent).toEqual([accept]);
    expect((await rows())[0]).toMatchObject({ state: 'delivered', attempts: 1, lastError: null });
    expect(await worker.runOnce()).toEqual([]);
  });

  it('retries network failures and 5xx/408/429 with growing delays, only when the clock says so', async () => {
    await enqueue(accept);
    answer = async () => {
      throw new AppError('FED_PARTNER_UNREACHABLE', 'b.example could not be reached: ECONNREFUSED');
    };
    await worker.runOnce();
    let [item] = await rows();
    expect(item).toMatchObject({
      state: 'pending',
      attempts: 1,
      lastError: expect.stringMatching(/ECONNREFUSED/),
    });
    expect(item.nextAttemptAt - clock.now()).toBe(1000);
    expect(await worker.runOnce()).toEqual([]);

    for (const [status, delay] of [
      [503, 2000],
      [408, 4000],
      [429, 8000],
    ] as const) {
      answer = async () => ({ status, json: { error: 'X', message: 'later' } });
      clock.advance(item.nextAttemptAt - clock.now());
      await worker.runOnce();
      [item] = await rows();
      expect(item.state).toBe('pending');
      expect(item.nextAttemptAt - clock.now()).toBe(delay);
    }
    answer = async () => ({ status: 200, json: {} });
    clock.advance(8000);
    await worker.runOnce();
    expect((await rows())[0]).toMatchObject({ state: 'delivered', attempts: 5 });
  });

  it('a 4xx answer is final and keeps the partner’s reason', async () => {
    await enqueue(accept);
    answer = async () => ({
      status: 409,
      json: { error: 'FED_STATE_CONFLICT', message: 'request was declined' },
    });
    const [r] = await worker.runOnce();
    expect(r.outcome).toBe('final');
    expect((await rows())[0]).toMatchObject({
      state: 'failed',
      lastError: 'partner answered 409 FED_STATE_CONFLICT: request was declined',
    });
  });

  it('never gives up on an unreachable partner: weeks of failures are retried at the capped interval (1 h)', async () => {
    await enqueue(accept);
    answer = async () => {
      throw new AppError('FED_PARTNER_UNREACHABLE', 'b.example could not be reached: ECONNREFUSED');
    };
    const attemptTimes: number[] = [];
    // Three simulated weeks (the old rule gave up after 72 h).
    while (clock.now() - (await rows())[0].createdAt < 21 * DAY) {
      const [item] = await rows();
      expect(item.state).toBe('pending');
      clock.advance(Math.max(0, item.nextAttemptAt - clock.now()));
      const reports = await worker.runOnce();
      expect(reports.map((r) => r.outcome)).toEqual(['retry']);
      attemptTimes.push(clock.now());
    }
    const [item] = await rows();
    expect(item.state).toBe('pending');
    expect(item.attempts).toBe(attemptTimes.length);
    const gaps = attemptTimes.slice(1).map((t, i) => t - attemptTimes[i]);
    // Doubling from 1 s reaches the cap after 12 attempts; from then on every gap is the cap, never more.
    expect(Math.max(...gaps)).toBe(HOUR);
    expect(gaps.slice(13).every((g) => g === HOUR)).toBe(true);
    const h = await health.get('b.example');
    expect(h).toMatchObject({ consecutiveFailures: attemptTimes.length, failingSince: item.createdAt });
    expect(h?.nextAttemptAt).toBe(item.nextAttemptAt);
  });

  it('suspends a partner after failures on 7 distinct days and lifts it by itself when it answers', async () => {
    await enqueue(accept);
    answer = async () => ({ status: 503, json: null });
    const stepTo = async (t: number) => {
      // Retry at every due attempt up to t (a real worker would; the suspension counts days, not attempts).
      for (;;) {
        const [item] = await rows();
        if (item.state !== 'pending' || item.nextAttemptAt > t) break;
        clock.set(Math.max(clock.now(), item.nextAttemptAt));
        await worker.runOnce();
      }
      clock.set(t);
    };
    const start = clock.now();
    await stepTo(start + 5 * DAY + HOUR); // failures on days 1..6
    expect(await health.get('b.example')).toMatchObject({ failureDays: 6, suspendedAt: null });
    await stepTo(start + 6 * DAY + 2 * HOUR); // day 7
    const suspended = await health.get('b.example');
    expect(suspended?.failureDays).toBe(7);
    expect(suspended?.suspendedAt).not.toBeNull();
    expect(suspended?.suspendedReason).toMatch(
      /^no answer on 7 distinct days since 2026-01-01T00:00:00.000Z: HTTP 503/,
    );
    // Still retried while suspended, and resumed by the first answer.
    answer = async () => ({ status: 200, json: {} });
    await stepTo(start + 7 * DAY);
    expect((await rows())[0].state).toBe('delivered');
    expect(await health.get('b.example')).toMatchObject({
      suspendedAt: null,
      suspendedReason: null,
      failureDays: 0,
      consecutiveFailures: 0,
      failingSince: null,
      lastSuccessAt: expect.any(Number),
    });
  });

  it.each([410, 401, 403, 404])(
    'a %i answer stops the item at once, marked with the reason, and is never retried',
    async (status) => {
      await enqueue(accept);
      answer = async () => ({ status, json: { error: 'X_GONE', message: 'not here' } });
      const [r] = await worker.runOnce();
      expect(r.outcome).toBe('final');
      expect((await rows())[0]).toMatchObject({
        state: 'failed',
        attempts: 1,
        lastError: `partner answered ${status} X_GONE: not here`,
      });
      clock.advance(30 * DAY);
      await worker.makeAllDue();
      expect(await worker.runOnce()).toEqual([]);
      expect(sent).toHaveLength(1);
      // The partner answered: it is not failing, whatever it said.
      expect(await health.get('b.example')).toMatchObject({
        consecutiveFailures: 0,
        lastError: `answered HTTP ${status}`,
      });
    },
  );

  it('a verified request from the partner wakes its queue; pause holds it, resume and purge act on it', async () => {
    await enqueue(accept);
    answer = async () => ({ status: 503, json: null });
    for (let i = 0; i < 12; i++) {
      clock.advance(Math.max(0, (await rows())[0].nextAttemptAt - clock.now()));
      await worker.runOnce();
    }
    const waiting = (await rows())[0].nextAttemptAt - clock.now();
    expect(waiting).toBeGreaterThan(HOUR / 4);
    answer = async () => ({ status: 200, json: {} });
    expect(await worker.runOnce()).toEqual([]);
    expect(await health.recordInbound('B.example')).toBe(true);
    expect((await health.get('b.example'))?.nextAttemptAt).toBe(clock.now());
    // The wake makes the item due and runs a pass at once (the clock stands still).
    expect(await worker.wakePartner('b.example')).toBe(1);
    await worker.stop();
    expect((await rows())[0]).toMatchObject({ state: 'delivered', attempts: 13 });
    expect((await health.get('b.example'))?.lastInboundAt).toBe(clock.now());

    await enqueue(v2Teardown('https://b.example', 'p', 'req-2'), 'teardown', 'req-2');
    await health.setPaused('b.example', true);
    expect(await worker.runOnce()).toEqual([]);
    await health.setPaused('b.example', false);
    await health.setPaused('b.example', true);
    expect(await worker.purgePartner('b.example')).toBe(1);
    expect((await rows())[1]).toMatchObject({ state: 'failed', lastError: 'purged by an admin' });
    await health.setPaused('b.example', false);
    expect(await worker.runOnce()).toEqual([]);
  });

  it('a purged item is never sent: a pass that starts while the purge runs waits for it', async () => {
    // Two items of the partner, both due; the purge starts with no pass in flight and a pass is kicked
    // at every step while it works (a timer tick or a commit's kick can come at any moment).
    await enqueue(accept);
    await enqueue(v2Teardown('https://b.example', 'p', 'req-2'), 'teardown', 'req-2');
    let purged = false;
    const purge = worker.purgePartner('b.example').then((n) => {
      purged = true;
      return n;
    });
    for (let i = 0; i < 50 && !purged; i++) {
      worker.kick();
      await Promise.resolve();
    }
    expect(await purge).toBe(2);
    await worker.runExclusive();
    expect(sent).toEqual([]);
    expect((await rows()).map((r) => [r.state, r.lastError])).toEqual([
      ['failed', 'purged by an admin'],
      ['failed', 'purged by an admin'],
    ]);
  });

  it('keeps the order within a request: a teardown waits for the accept before it', async () => {
    await enqueue(accept);
    clock.advance(1);
    const teardown = v2Teardown('https://b.example', 'p', 'req-1');
    await enqueue(teardown, 'teardown');
    answer = async () => ({ status: 503, json: null });
    await worker.runOnce();
    expect(sent).toEqual([accept]);
    answer = async () => ({ status: 200, json: {} });
    await worker.makeAllDue();
    await worker.runOnce();
    await worker.runOnce();
    expect(sent).toEqual([accept, accept, teardown]);
  });

  describe('sendNow (an accept told right after its commit)', () => {
    const teardownC = (n: number) => v2Teardown('https://c.example', `p${n}`, `req-c${n}`);
    const enqueueC = async (n: number) => {
      await enqueue(teardownC(n), 'teardown', `req-c${n}`);
      clock.advance(1);
    };
    const settled = async () => {
      for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
      await worker.runExclusive();
    };

    it('sends the item at once, ahead of other partners’ due items, which a pass then sends', async () => {
      await enqueueC(1);
      await enqueueC(2);
      const item = await enqueue(accept);
      worker.sendNow(item);
      await settled();
      // A pass (what a kick runs) sends oldest first: the accept would wait behind c.example's items.
      expect(sent.map((c) => c.url)).toEqual([accept.url, teardownC(1).url, teardownC(2).url]);
      expect((await rows()).map((r) => r.state)).toEqual(['delivered', 'delivered', 'delivered']);
    });

    it('leaves the item to the passes while one runs, and it is sent once', async () => {
      await enqueueC(1);
      let release: () => void = () => undefined;
      const held = new Promise<void>((r) => (release = r));
      answer = async () => {
        await held;
        return { status: 200, json: {} };
      };
      const pass = worker.runOnce();
      await new Promise((r) => setImmediate(r));
      expect(sent.map((c) => c.url)).toEqual([teardownC(1).url]);
      const item = await enqueue(accept);
      worker.sendNow(item);
      await new Promise((r) => setImmediate(r));
      expect(sent).toHaveLength(1);
      release();
      await pass;
      await settled();
      expect(sent.map((c) => c.url)).toEqual([teardownC(1).url, accept.url]);
      expect((await rows()).map((r) => r.state)).toEqual(['delivered', 'delivered']);
    });

    it('keeps the order within a request: an earlier pending item of it goes first', async () => {
      const earlier = v2Teardown('https://b.example', 'p', 'req-1');
      await enqueue(earlier, 'teardown');
      clock.advance(1);
      const item = await enqueue(accept);
      worker.sendNow(item);
      await settled();
      expect(sent).toEqual([earlier, accept]);
    });
  });

  it('a revoke or teardown the partner no longer knows (404 FED_UNKNOWN_*) counts as delivered', async () => {
    await enqueue(v2Teardown('https://b.example', 'p', 'req-1'), 'teardown');
    answer = async () => ({ status: 404, json: { error: 'FED_UNKNOWN_PEER', message: 'no peer' } });
    const [r] = await worker.runOnce();
    expect(r.outcome).toBe('delivered');
  });

  it('reports depth and the oldest age as metrics', async () => {
    await enqueue(accept);
    answer = async () => ({ status: 503, json: null });
    clock.advance(30_000);
    await worker.runOnce();
    expect((await metrics.outboxDepth.get()).values[0].value).toBe(1);
    expect((await metrics.outboxOldestAge.get()).values[0].value).toBe(30);
  });
});
