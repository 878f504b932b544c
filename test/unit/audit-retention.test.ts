import { configSchema } from '../../src/config/schema';
import { AuditTrail } from '../../src/http/admin/audit-trail';
import { AuditEventEntity } from '../../src/store/entities';
import { ManualClock } from '../harness/manual-clock';
import { captureLogger } from '../harness/test-logger';
import { useTempSqlite } from './fixtures/temp-sqlite';

/**
 * The audit trail's retention (config admin.auditRetentionDays) on a real
 * SQLite database, with a clock the test moves: the job deletes the events
 * older than the retention, in batches, and keeps the rest.
 */

const DAY = 24 * 60 * 60 * 1000;

const clock = new ManualClock();
const tmp = useTempSqlite('audit');

async function recordAt(audit: AuditTrail, at: number, target: string): Promise<void> {
  clock.set(at);
  await audit.record({
    actorKind: 'admin',
    actor: 'alice',
    via: 'api',
    action: 'peer.teardown',
    target,
    error: null,
  });
}

async function targets(audit: AuditTrail): Promise<(string | null)[]> {
  return (await audit.list({ limit: 1000 })).events.map((e) => e.target).reverse();
}

it('defaults to 365 days', () => {
  expect(configSchema.parse({}).admin.auditRetentionDays).toBe(365);
});

it('the retention job deletes the events older than the retention, in batches, and keeps the rest', async () => {
  const { logger } = captureLogger();
  const audit = new AuditTrail(tmp.db, clock, logger);
  const start = Date.parse('2026-01-01T00:00:00Z');
  // 7 old events (days 0..6), then 3 young ones (days 20..22).
  for (let d = 0; d < 7; d++) await recordAt(audit, start + d * DAY, `old-${d}`);
  for (let d = 20; d < 23; d++) await recordAt(audit, start + d * DAY, `young-${d}`);

  // 10 days of retention, run on day 23: everything before day 13 goes.
  clock.set(start + 23 * DAY);
  const job = audit.retentionJob(10);
  expect(job).toMatchObject({ name: 'audit-retention', scope: 'cluster', runAtStart: true });
  expect(await job.run()).toBe(7);
  expect(await targets(audit)).toEqual(['young-20', 'young-21', 'young-22']);
  // A second run finds nothing.
  expect(await job.run()).toBe(0);

  // The boundary: an event exactly `days` old stays, an older one goes.
  clock.set(start + 31 * DAY);
  expect(await job.run()).toBe(1);
  expect(await targets(audit)).toEqual(['young-21', 'young-22']);
});

it('deletes in batches of the given size until nothing old is left', async () => {
  const { logger } = captureLogger();
  const audit = new AuditTrail(tmp.db, clock, logger);
  const start = Date.parse('2026-01-01T00:00:00Z');
  for (let i = 0; i < 12; i++) await recordAt(audit, start + i, `e-${i}`);
  // The data source hands out one repository per entity: count its DELETE statements.
  const del = jest.spyOn(tmp.db.getRepository(AuditEventEntity), 'delete');
  expect(await audit.prune(start + 10, 4)).toBe(10);
  // 10 old rows in batches of 4: three DELETE statements (4, 4, 2).
  expect(del).toHaveBeenCalledTimes(3);
  del.mockRestore();
  expect(await targets(audit)).toEqual(['e-10', 'e-11']);
});
