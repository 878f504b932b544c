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
import type { PartnerCall } from '../../src/federation/partner-call';
import { v2Accept, v2Teardown } from '../../src/federation/v2-calls';
import { createLogger } from '../../src/logging/logger';
import { memoryFederationStores } from '../store/memory';

const HOUR = 3600_000;

describe('outbox delivery', () => {
  let stores: ReturnType<typeof memoryFederationStores>;
  let clock: ManualClock;
  let outbox: Outbox;
  let worker: DeliveryWorker;
  let metrics: Metrics;
  const sent: PartnerCall[] = [];
  let answer: () => Promise<{ status: number; json: unknown }>;

  beforeEach(async () => {
    clock = new ManualClock();
    stores = memoryFederationStores(clock);
    metrics = new Metrics();
    outbox = new Outbox({ store: stores.outbox, clock, maxAgeMs: 72 * HOUR });
    sent.length = 0;
    answer = async () => ({ status: 200, json: {} });
    worker = new DeliveryWorker({
      store: stores.outbox,
      clock,
      logger: createLogger({ level: 'error', format: 'json', silent: true }),
      metrics,
      send: async (call) => {
        sent.push(call);
        return answer();
      },
      retry: { baseMs: 1000, maxMs: HOUR },
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

  it('gives up after the maximum age (72 h)', async () => {
    await enqueue(accept);
    answer = async () => ({ status: 503, json: null });
    let attempts = 0;
    while ((await rows())[0].state === 'pending' && attempts < 200) {
      const [item] = await rows();
      clock.advance(Math.max(0, item.nextAttemptAt - clock.now()));
      await worker.runOnce();
      attempts++;
    }
    const [item] = await rows();
    expect(item.state).toBe('failed');
    expect(item.lastError).toMatch(/^gave up after \d+ attempts/);
    expect(clock.now() - item.createdAt).toBeGreaterThanOrEqual(72 * HOUR);
    expect(clock.now() - item.createdAt).toBeLessThan(73 * HOUR);
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
