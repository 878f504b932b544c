/**
 * The protocol's notices (src/federation/health-notices.ts) on the in-memory
 * stores with an injected clock: a partner error and a stuck outbox are told
 * once when they start and once when they end, never while they hold; a new
 * message for the same partner error is not a change; a restart (a new
 * HealthNotices) tells a bad state that still holds once more, and nothing
 * about states that are fine. The notifier here is the port itself, recording
 * what it is told (the webhook behind it: notify-webhook.test.ts).
 */
import type { NotificationEvent, Notifier } from '../../src/core/notifications';
import { HealthNotices } from '../../src/federation/health-notices';
import { PartnerHealthService } from '../../src/federation/partner-health';
import { createLogger } from '../../src/logging/logger';
import { ManualClock } from '../harness/manual-clock';
import { newPeerRow } from '../harness/peer-row';
import { memoryFederationStores } from '../store/memory';

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

async function setUp() {
  const clock = new ManualClock(Date.parse('2026-05-01T00:00:00Z'));
  const stores = memoryFederationStores(clock);
  const told: NotificationEvent[] = [];
  const notifier: Notifier = { notify: (e) => told.push(e) };
  const peer = newPeerRow(
    {
      name: 'to_c',
      prefix: '55',
      partnerUrl: 'https://fed-c.example.org',
      partnerIaxHost: '192.0.2.9',
      partnerIaxPort: 4569,
      codec: 'ulaw',
      secret: 's',
      dialect: 'v1',
      role: 'acceptor',
    },
    clock.now(),
  );
  await stores.peerings.insertPeer(peer);
  const notices = () =>
    new HealthNotices({
      peerings: stores.peerings,
      partners: stores.partners,
      outbox: stores.outbox,
      partnerHealth: stores.partnerHealth,
      clock,
      notifier,
      keyExpiryWarnMs: 14 * 24 * 60 * MINUTE,
      outboxStuckMs: 60 * MINUTE,
      checkIntervalMs: MINUTE,
    });
  return { clock, stores, told, peer, notices };
}

it('a partner error is told when it appears and when it clears, not while it holds', async () => {
  const { clock, stores, told, peer, notices } = await setUp();
  const n = notices();
  await n.run();
  expect(told).toEqual([]);
  await stores.peerings.updatePeer(peer.id, {
    partnerError: 'the partner reports this peering as unknown (checked 1)',
    partnerErrorAt: clock.now(),
  });
  await n.run();
  clock.advance(MINUTE);
  // Anti-entropy rewrites the message with its check time: the same problem.
  await stores.peerings.updatePeer(peer.id, {
    partnerError: 'the partner reports this peering as unknown (checked 2)',
  });
  await n.run();
  await n.run();
  expect(told.map((e) => `${e.kind} ${e.oldState}->${e.newState}`)).toEqual(['partner_error ok->error']);
  expect(told[0]).toMatchObject({
    severity: 'warning',
    peer: 'to_c',
    details: { error: 'the partner reports this peering as unknown (checked 1)' },
  });

  // A restart: the error still holds and is told once more, from unknown.
  const after = notices();
  await after.run();
  await after.run();
  expect(told.map((e) => `${e.oldState}->${e.newState}`)).toEqual(['ok->error', 'unknown->error']);

  await stores.peerings.updatePeer(peer.id, { partnerError: null, partnerErrorAt: null });
  await after.run();
  await after.run();
  expect(told.map((e) => `${e.oldState}->${e.newState}`)).toEqual([
    'ok->error',
    'unknown->error',
    'error->ok',
  ]);
  expect(told[2].severity).toBe('info');
});

it('an outbox item undelivered past the threshold is told once as stuck, once when it is gone', async () => {
  const { clock, stores, told, notices } = await setUp();
  const n = notices();
  const queuedAt = clock.now();
  await stores.outbox.insert({
    id: 'item-1',
    kind: 'accept',
    dialect: 'v1',
    peerName: 'to_c',
    requestId: 'req-1',
    method: 'POST',
    url: 'https://fed-c.example.org/api/v1/federation/accept?secret=never-told',
    body: null,
    state: 'pending',
    attempts: 3,
    nextAttemptAt: queuedAt,
    expiresAt: queuedAt + 72 * 60 * MINUTE,
    lastError: 'connect ECONNREFUSED',
    createdAt: queuedAt,
    updatedAt: queuedAt,
  });
  clock.advance(59 * MINUTE);
  await n.run();
  expect(told).toEqual([]);
  clock.advance(2 * MINUTE);
  await n.run();
  clock.advance(30 * MINUTE);
  await n.run();
  expect(told).toHaveLength(1);
  expect(told[0]).toMatchObject({
    kind: 'outbox_stuck',
    severity: 'warning',
    peer: 'to_c',
    partner: 'fed-c.example.org',
    oldState: 'ok',
    newState: 'stuck',
    details: { items: 1, oldest_queued_at: '2026-05-01T00:00:00.000Z', last_error: 'connect ECONNREFUSED' },
  });
  expect(JSON.stringify(told)).not.toContain('never-told');

  await stores.outbox.update('item-1', { state: 'delivered', updatedAt: clock.now() });
  await n.run();
  await n.run();
  expect(told.map((e) => `${e.oldState}->${e.newState}`)).toEqual(['ok->stuck', 'stuck->ok']);
  expect(told[1]).toMatchObject({
    kind: 'outbox_stuck',
    severity: 'info',
    peer: 'to_c',
    partner: 'fed-c.example.org',
  });
});

it('a partner suspended after failures on N distinct days is told once, and once when it answers again', async () => {
  const { clock, stores, told, notices } = await setUp();
  const health = new PartnerHealthService({
    store: stores.partnerHealth,
    clock,
    logger: createLogger({ level: 'error', format: 'json', silent: true }),
    retry: { baseMs: 1000, maxMs: 60 * MINUTE },
    suspendAfterDays: 3,
    random: () => 1,
  });
  const n = notices();
  const fail = () => health.recordOutbound('Fed-C.example.org', { transient: 'connect ECONNREFUSED' });
  await fail();
  await n.run();
  clock.advance(DAY);
  await fail();
  await n.run();
  expect(told).toEqual([]); // failing on 2 days: not suspended yet
  clock.advance(DAY);
  await fail();
  expect((await health.get('fed-c.example.org'))?.suspendedAt).not.toBeNull();
  await n.run();
  clock.advance(DAY);
  await fail();
  await n.run();
  await n.run();
  expect(told).toHaveLength(1);
  expect(told[0]).toMatchObject({
    kind: 'partner_suspended',
    severity: 'warning',
    peer: null,
    partner: 'fed-c.example.org',
    oldState: 'ok',
    newState: 'suspended',
    details: { failure_days: 3, since: new Date(clock.now() - DAY).toISOString() },
  });
  expect(told[0].message).toContain('suspended');

  // A restart tells a suspension that still holds once more; nothing about partners that are fine.
  const restarted = notices();
  await restarted.run();
  expect(told.map((e) => `${e.kind}:${e.newState}`)).toEqual([
    'partner_suspended:suspended',
    'partner_suspended:suspended',
  ]);

  await health.recordOutbound('fed-c.example.org', { answered: 200 });
  expect((await health.get('fed-c.example.org'))?.suspendedAt).toBeNull();
  await n.run();
  await n.run();
  expect(told.slice(2)).toEqual([
    expect.objectContaining({
      kind: 'partner_suspended',
      severity: 'info',
      partner: 'fed-c.example.org',
      oldState: 'suspended',
      newState: 'ok',
    }),
  ]);
});
