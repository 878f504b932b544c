/**
 * Notifications (docs/operations.md, Notifications): the signature format,
 * the hysteresis of the trunk states, and the notifier against a real HTTP
 * receiver (test/harness/webhook-receiver.ts) that checks every signature:
 * the documented payload, retries while the receiver is down, a bounded queue
 * that drops its oldest, giving up after the last attempt, no secret in the
 * logs. And the protocol's notices: a partner key nearing expiry is told once
 * while time moves (injected clock), on the in-memory stores.
 */
import { TrunkHysteresis } from '../../src/asterisk/trunk-hysteresis';
import { Metrics } from '../../src/core/metrics';
import type { NotificationEvent } from '../../src/core/notifications';
import { HealthNotices } from '../../src/federation/health-notices';
import { NotificationService, type WebhookSettings } from '../../src/notify/notifier';
import { verifyWebhookSignature, webhookSignature } from '../../src/notify/webhook-signature';
import { ManualClock } from '../harness/manual-clock';
import { newPeerRow } from '../harness/peer-row';
import { captureLogger } from '../harness/test-logger';
import { assertNever, waitUntil } from '../harness/wait';
import { createWebhookReceiver, type WebhookReceiver } from '../harness/webhook-receiver';
import { memoryFederationStores } from '../store/memory';

const SECRET = 'receiver-shared-secret';
const DAY = 24 * 60 * 60 * 1000;

describe('signature format', () => {
  it('is t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" under the secret>', () => {
    // The vector was computed apart from this code: printf '%s' '1767225600.{"kind":"trunk"}' | openssl dgst -sha256 -hmac receiver-shared-secret
    expect(webhookSignature(SECRET, 1767225600, '{"kind":"trunk"}')).toBe(
      't=1767225600,v1=44bc2bdbe3463a59b64c4114dcf84a2b1daa7b6e36df265c7b67da1264f65257',
    );
  });

  it('verifies as documented: the same bytes and secret within the time window, nothing else', () => {
    const body = '{"kind":"trunk","peer":"to_b"}';
    const header = webhookSignature(SECRET, 1000, body);
    expect(verifyWebhookSignature(SECRET, header, body, 1000)).toBe('ok');
    expect(verifyWebhookSignature(SECRET, header, body, 1300)).toBe('ok');
    expect(verifyWebhookSignature(SECRET, header, body, 1301)).toBe('stale');
    expect(verifyWebhookSignature(SECRET, header, body, 699)).toBe('stale');
    expect(verifyWebhookSignature(SECRET, header, body.replace('to_b', 'to_c'), 1000)).toBe('mismatch');
    expect(verifyWebhookSignature('another-secret-of-16', header, body, 1000)).toBe('mismatch');
    // The timestamp is signed too: moving it breaks the signature.
    expect(verifyWebhookSignature(SECRET, header.replace('t=1000', 't=1001'), body, 1000)).toBe('mismatch');
    expect(verifyWebhookSignature(SECRET, undefined, body, 1000)).toBe('malformed');
    expect(verifyWebhookSignature(SECRET, 'v1=abc', body, 1000)).toBe('malformed');
    expect(
      verifyWebhookSignature(SECRET, `t=1000,v1=${'0'.repeat(64)},${header.split(',')[1]}`, body, 1000),
    ).toBe('ok');
  });
});

describe('trunk hysteresis', () => {
  it('goes down after N unreachable polls and up after M reachable ones; shorter flaps change nothing', () => {
    const h = new TrunkHysteresis({ downAfter: 3, upAfter: 2 });
    const seen: string[] = [];
    const poll = (r: 'reachable' | 'lagged' | 'unreachable' | 'unknown' | 'unmonitored') => {
      const c = h.observe('to_b', r);
      if (c) seen.push(`${c.from}->${c.to}`);
    };
    poll('reachable');
    poll('reachable');
    expect(seen).toEqual(['unknown->up']);
    // A flap: two bad polls, one good one, two bad ones: never three in a row.
    for (const r of ['unreachable', 'unreachable', 'reachable', 'unreachable', 'unreachable'] as const)
      poll(r);
    expect(h.state('to_b')).toBe('up');
    // Polls that cannot tell (Asterisk away) break no streak and count for neither side.
    poll('unknown');
    poll('unreachable');
    expect(seen).toEqual(['unknown->up', 'up->down']);
    poll('unreachable');
    poll('unreachable');
    expect(seen).toEqual(['unknown->up', 'up->down']);
    poll('lagged');
    poll('unreachable');
    poll('reachable');
    expect(h.state('to_b')).toBe('down');
    poll('reachable');
    expect(seen).toEqual(['unknown->up', 'up->down', 'down->up']);
    h.retain(new Set());
    expect(h.state('to_b')).toBe('unknown');
  });
});

function event(over: Partial<NotificationEvent> = {}): NotificationEvent {
  return {
    kind: 'trunk',
    severity: 'warning',
    peer: 'to_b',
    partner: null,
    oldState: 'up',
    newState: 'down',
    at: Date.parse('2026-03-01T12:00:00Z'),
    message: 'trunk to_b is down: no answer to IAX2 qualify probes',
    details: { polls: 3 },
    ...over,
  };
}

describe('notifier', () => {
  let receiver: WebhookReceiver;
  let service: NotificationService | null = null;
  afterEach(async () => {
    await service?.stop();
    service = null;
    await receiver?.close();
  });

  function start(webhook: Partial<WebhookSettings> = {}, clock = new ManualClock(Date.now())) {
    const metrics = new Metrics();
    const logs = captureLogger();
    service = new NotificationService({
      clock,
      logger: logs.logger,
      metrics,
      fetch,
      instance: 'fed-a.example.org',
      webhook: {
        url: receiver.url,
        secret: SECRET,
        timeoutMs: 2000,
        retry: { initialMs: 50, maxMs: 200 },
        maxAttempts: 50,
        queueSize: 100,
        ...webhook,
      },
    });
    const count = async (result: string) =>
      (await metrics.notifications.get()).values.find((v) => v.labels.result === result)?.value ?? -1;
    return { service, metrics, logs, count };
  }

  it('posts one signed notification in the documented shape, logs it once, and logs no secret', async () => {
    receiver = await createWebhookReceiver({ secret: SECRET });
    const { service: s, logs, count } = start();
    s.notify(event());
    const [got] = await waitUntil(() => (receiver.received.length ? receiver.received : null), {
      what: 'the notification at the receiver',
    });
    expect(got).toEqual({
      version: 1,
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      kind: 'trunk',
      severity: 'warning',
      instance: 'fed-a.example.org',
      peer: 'to_b',
      partner: null,
      old_state: 'up',
      new_state: 'down',
      at: '2026-03-01T12:00:00.000Z',
      message: 'trunk to_b is down: no answer to IAX2 qualify probes',
      details: { polls: 3 },
    });
    expect(receiver.refused).toEqual([]);
    expect(await count('sent')).toBe(1);
    expect(await count('failed')).toBe(0);
    expect(await count('dropped')).toBe(0);
    const lines = logs
      .text()
      .split('\n')
      .filter((l) => l.includes('trunk to_b is down'));
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0])).toMatchObject({
      level: 'warn',
      kind: 'trunk',
      oldState: 'up',
      newState: 'down',
    });
    expect(logs.text()).not.toContain(SECRET);
    expect(logs.text()).not.toContain('in-the-url');
  });

  it('retries while the receiver is down and delivers once it listens, exactly once', async () => {
    receiver = await createWebhookReceiver({ secret: SECRET, listen: false });
    const { service: s, count, logs } = start();
    s.notify(event());
    // Several attempts fail against the closed port before the receiver comes up.
    await waitUntil(() => logs.text().includes('will retry'), { what: 'a failed attempt' });
    expect(s.depth).toBe(1);
    await receiver.listen();
    await waitUntil(() => receiver.received.length === 1, { what: 'the retried notification' });
    await assertNever(() => receiver.received.length > 1, { what: 'a second delivery', windowMs: 500 });
    expect(await count('sent')).toBe(1);
    expect(s.depth).toBe(0);
    // One warning when the receiver starts failing, not one per retry.
    expect(
      logs
        .text()
        .split('\n')
        .filter((l) => l.includes('"level":"warn"') && l.includes('will retry')),
    ).toHaveLength(1);
  });

  it('never blocks: a full queue drops its oldest waiting notification and counts it', async () => {
    receiver = await createWebhookReceiver({ secret: SECRET, listen: false });
    const { service: s, count } = start({ queueSize: 2 });
    const t0 = Date.now();
    for (const peer of ['p1', 'p2', 'p3', 'p4']) s.notify(event({ peer }));
    expect(Date.now() - t0).toBeLessThan(100);
    // p1 is being sent (retrying), p2 and p3 wait; p4 pushes p2 out.
    expect(await count('dropped')).toBe(1);
    await receiver.listen();
    await waitUntil(() => receiver.received.length === 3, { what: 'the kept notifications' });
    expect(receiver.received.map((n) => n.peer)).toEqual(['p1', 'p3', 'p4']);
    expect(await count('sent')).toBe(3);
  });

  it('gives up after the last attempt, counts it failed, and goes on with the next', async () => {
    receiver = await createWebhookReceiver({ secret: SECRET });
    receiver.failWith = 503;
    const { service: s, count } = start({ maxAttempts: 3 });
    s.notify(event({ peer: 'lost' }));
    await waitUntil(async () => (await count('failed')) === 1, { what: 'the notification given up' });
    receiver.failWith = null;
    s.notify(event({ peer: 'next' }));
    await waitUntil(() => receiver.received.length === 1, { what: 'the next notification' });
    expect(receiver.received[0].peer).toBe('next');
  });
});

describe('partner key nearing expiry', () => {
  it('is told once when it comes within the window, again only when it changes (expired, renewed)', async () => {
    const clock = new ManualClock(Date.parse('2026-01-01T00:00:00Z'));
    const stores = memoryFederationStores(clock);
    const expiresAt = Date.parse('2026-03-01T00:00:00Z');
    await stores.partners.insert({
      serverName: 'fed-b.example.org',
      baseUrl: 'https://fed-b.example.org',
      signingKeys: [
        { kid: 'old', alg: 'ed25519', publicKey: 'x', expiresAt: '2026-02-01T00:00:00Z' },
        { kid: 'cur', alg: 'ed25519', publicKey: 'y', expiresAt: new Date(expiresAt).toISOString() },
      ],
      heldKeys: null,
      agreementKeys: [],
      descriptor: null,
      fetchedAt: null,
      fetchFailures: 0,
      nextFetchAt: null,
      createdAt: clock.now(),
      updatedAt: clock.now(),
    });
    await stores.peerings.insertPeer(
      newPeerRow(
        {
          name: 'to_b',
          prefix: '77',
          partnerUrl: 'https://fed-b.example.org',
          partnerServerName: 'fed-b.example.org',
          partnerIaxHost: '192.0.2.7',
          partnerIaxPort: 4569,
          codec: 'ulaw',
          secret: 's',
          dialect: 'v2',
          role: 'requester',
        },
        clock.now(),
      ),
    );
    const receiver = await createWebhookReceiver({
      secret: SECRET,
      nowSeconds: () => Math.floor(clock.now() / 1000),
    });
    const logs = captureLogger();
    const service = new NotificationService({
      clock,
      logger: logs.logger,
      metrics: new Metrics(),
      fetch,
      instance: 'fed-a.example.org',
      webhook: {
        url: receiver.url,
        secret: SECRET,
        timeoutMs: 2000,
        retry: { initialMs: 50, maxMs: 200 },
        maxAttempts: 5,
        queueSize: 10,
      },
    });
    const notices = new HealthNotices({
      peerings: stores.peerings,
      partners: stores.partners,
      outbox: stores.outbox,
      partnerHealth: stores.partnerHealth,
      clock,
      notifier: service,
      keyExpiryWarnMs: 14 * DAY,
      outboxStuckMs: 60 * 60 * 1000,
      checkIntervalMs: 60_000,
    });
    try {
      const keyNotices = () => receiver.received.filter((n) => n.kind === 'partner_key_expiry');
      // 59 days ahead (the older key, expiring sooner, does not count: the last key does).
      await notices.run();
      clock.advance(44 * DAY); // 15 days left
      await notices.run();
      await assertNever(() => keyNotices().length > 0, {
        what: 'a notice outside the window',
        windowMs: 300,
      });

      clock.advance(2 * DAY); // 13 days left
      await notices.run();
      await waitUntil(() => keyNotices().length === 1, { what: 'the expiring notice' });
      for (let i = 0; i < 5; i++) {
        clock.advance(DAY);
        await notices.run();
      }
      await assertNever(() => keyNotices().length > 1, { what: 'a repeated notice', windowMs: 300 });
      expect(keyNotices()[0]).toMatchObject({
        kind: 'partner_key_expiry',
        severity: 'warning',
        peer: 'to_b',
        partner: 'fed-b.example.org',
        old_state: 'ok',
        new_state: 'expiring',
        at: '2026-02-16T00:00:00.000Z',
        details: { expires_at: '2026-03-01T00:00:00.000Z', warn_days: 14 },
      });
      expect(keyNotices()[0].message).toContain('expires in 13 days');

      clock.advance(10 * DAY); // past the expiry
      await notices.run();
      await notices.run();
      await waitUntil(() => keyNotices().length === 2, { what: 'the expired notice' });
      expect(keyNotices()[1]).toMatchObject({ old_state: 'expiring', new_state: 'expired' });

      // A new key is trusted: told once as fine again.
      await stores.partners.update('fed-b.example.org', {
        signingKeys: [{ kid: 'new', alg: 'ed25519', publicKey: 'z', expiresAt: '2027-03-01T00:00:00Z' }],
      });
      await notices.run();
      await notices.run();
      await waitUntil(() => keyNotices().length === 3, { what: 'the recovery notice' });
      await assertNever(() => receiver.received.length > 3, { what: 'anything more', windowMs: 300 });
      expect(keyNotices()[2]).toMatchObject({ severity: 'info', old_state: 'expired', new_state: 'ok' });
      expect(receiver.refused).toEqual([]);
    } finally {
      await service.stop();
      await receiver.close();
    }
  });
});
