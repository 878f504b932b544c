import { PartnerHealthService } from '../../src/federation/partner-health';
import { createLogger } from '../../src/logging/logger';
import { ManualClock } from '../harness/manual-clock';
import { memoryFederationStores } from '../store/memory';

/**
 * A call to a partner that answers (every v2 create, every delivery) records
 * the partner's health; a partner already healthy whose last success is
 * recent changes nothing an admin or the outbox acts on, so the row is not
 * written again until its last success is a minute old. Anything else (a
 * failure, recovering from one, a refusal's error text) is written at once.
 */

const MINUTE = 60_000;

function setUp() {
  const clock = new ManualClock(Date.parse('2026-05-01T00:00:00Z'));
  const stores = memoryFederationStores(clock);
  const put = jest.spyOn(stores.partnerHealth, 'put');
  const health = new PartnerHealthService({
    store: stores.partnerHealth,
    clock,
    logger: createLogger({ level: 'error', format: 'json', silent: true }),
    retry: { baseMs: 1000, maxMs: 60 * MINUTE },
    suspendAfterDays: 3,
    random: () => 1,
  });
  return { clock, stores, put, health };
}

const P = 'fed-b.example.org';

it('writes a healthy partner answering again at most once a minute', async () => {
  const { clock, stores, put, health } = setUp();
  await health.recordOutbound(P, { answered: 201 });
  expect(put).toHaveBeenCalledTimes(1);
  const first = clock.now();
  clock.advance(10_000);
  await health.recordOutbound(P, { answered: 204 });
  await health.recordOutbound(P, { answered: 200 });
  expect(put).toHaveBeenCalledTimes(1);
  expect((await stores.partnerHealth.get(P))?.lastSuccessAt).toBe(first);
  clock.advance(MINUTE);
  await health.recordOutbound(P, { answered: 200 });
  expect(put).toHaveBeenCalledTimes(2);
  expect((await stores.partnerHealth.get(P))?.lastSuccessAt).toBe(clock.now());
});

it('writes a failure, the recovery after it and a refusal at once', async () => {
  const { clock, stores, put, health } = setUp();
  await health.recordOutbound(P, { answered: 201 });
  clock.advance(1000);
  await health.recordOutbound(P, { transient: 'connect ECONNREFUSED' });
  expect(put).toHaveBeenCalledTimes(2);
  expect((await stores.partnerHealth.get(P))?.consecutiveFailures).toBe(1);
  clock.advance(1000);
  await health.recordOutbound(P, { answered: 201 });
  expect(put).toHaveBeenCalledTimes(3);
  expect(await stores.partnerHealth.get(P)).toMatchObject({
    consecutiveFailures: 0,
    lastSuccessAt: clock.now(),
  });
  clock.advance(1000);
  await health.recordOutbound(P, { answered: 409 });
  expect(put).toHaveBeenCalledTimes(4);
  expect((await stores.partnerHealth.get(P))?.lastError).toBe('answered HTTP 409');
  clock.advance(1000);
  await health.recordOutbound(P, { answered: 201 });
  expect(put).toHaveBeenCalledTimes(5);
  expect((await stores.partnerHealth.get(P))?.lastError).toBeNull();
});
