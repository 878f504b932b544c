/**
 * AriClient against real Asterisk instances: REST calls, originate and hangup
 * of a real IAX2 call, WebSocket events, and reconnecting after Asterisk
 * restarts.
 */
import crypto from 'node:crypto';
import { AriClient, AriError, type AriEvent } from '../../src/asterisk/ari-client';
import { ECHO_EXTEN, startAsterisk } from '../harness/asterisk';
import { type PeeredPair, startPeeredPair } from '../harness/asterisk-pair';
import { asteriskInfo, iaxEndpoints, reloadModule } from '../harness/ari-rest';
import { captureLogger } from '../harness/test-logger';
import { nextEvent } from '../harness/wait';
import { waitUntil } from '../harness/wait';

const logs = captureLogger();
const APP = 'ari-client-test';

const channelOf = (e: AriEvent) => (e.channel as { id?: string; state?: string } | undefined) ?? {};
const newChannelId = () => `ari-test-${crypto.randomBytes(4).toString('hex')}`;

describe('AriClient', () => {
  let pair: PeeredPair;
  let ari: AriClient;
  const events: AriEvent[] = [];

  beforeAll(async () => {
    pair = await startPeeredPair();
    ari = new AriClient({
      url: pair.a.ariUrl,
      username: pair.a.ariUser,
      password: pair.a.ariPassword,
      app: APP,
      logger: logs.logger,
      reconnect: { initialMs: 100, maxMs: 1000 },
    });
    ari.on('event', (e) => events.push(e));
    ari.start();
    await ari.whenConnected(10_000);
  });

  afterAll(async () => {
    await ari?.stop();
    await pair?.stop();
  });

  test('request(): GET asterisk/info reports startup and reload times', async () => {
    const info = await asteriskInfo(ari);
    expect(Number.isNaN(Date.parse(info.startupTime ?? ''))).toBe(false);
    expect(Number.isNaN(Date.parse(info.lastReloadTime ?? ''))).toBe(false);
  });

  test('request(): GET endpoints/IAX2 lists the IAX2 peer and its state', async () => {
    const endpoints = await iaxEndpoints(ari);
    expect(endpoints).toHaveLength(1);
    expect(endpoints[0].resource).toBe(pair.aToB);
    // Qualified at once, so no status change yet: Asterisk still says unknown (see harness/ari-rest.ts).
    expect(['unknown', 'online']).toContain(endpoints[0].state);
    expect(ari.subscribedToIax).toBe(true);
  });

  test('originate() places a call that is answered; hangup() ends it and tolerates a gone channel', async () => {
    const channelId = newChannelId();
    const started = nextEvent<AriEvent>(ari, 'StasisStart', (e) => channelOf(e).id === channelId);
    const channel = await ari.originate({
      endpoint: `IAX2/${pair.aToB}/${ECHO_EXTEN}`,
      app: APP,
      appArgs: 'probe',
      channelId,
      callerId: 'Test <100>',
      timeoutSec: 10,
      variables: { UURU_TEST: 'yes' },
    });
    expect(channel.id).toBe(channelId);
    const start = await started;
    expect(channelOf(start).state).toBe('Up');
    expect(start.args).toEqual(['probe']);

    const ended = nextEvent<AriEvent>(ari, 'StasisEnd', (e) => channelOf(e).id === channelId);
    const destroyed = nextEvent<AriEvent>(ari, 'ChannelDestroyed', (e) => channelOf(e).id === channelId);
    await ari.hangup(channelId);
    await Promise.all([ended, destroyed]);
    await expect(ari.hangup(channelId)).resolves.toBeUndefined();
  });

  test('originate() through the dial plan, and errors carry the HTTP status', async () => {
    const channelId = newChannelId();
    await ari.originate({
      endpoint: `IAX2/${pair.aToB}/${ECHO_EXTEN}`,
      context: 'uuru-test',
      extension: ECHO_EXTEN,
      priority: 1,
      channelId,
      timeoutSec: 10,
    });
    await waitUntil(async () => (await pair.a.cli('core show channels concise')).includes('!Echo!'), {
      what: 'dial plan call up',
    });
    await ari.hangup(channelId);

    const err = await ari.originate({ endpoint: 'Bogus/whatever', app: APP }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AriError);
    expect((err as AriError).code).toBe('ARI_HTTP_ERROR');
    // Asterisk cannot create a channel of an unknown technology: ARI answers 500 ("Allocation failed").
    expect((err as AriError).status).toBe(500);
  });

  test('request(): PUT asterisk/modules reloads, and an unknown module is a 404', async () => {
    const before = await asteriskInfo(ari);
    await new Promise((r) => setTimeout(r, 1100)); // last_reload_time has one-second resolution
    await reloadModule(ari, 'chan_iax2.so');
    const after = await asteriskInfo(ari);
    expect(Date.parse(after.lastReloadTime ?? '')).toBeGreaterThan(Date.parse(before.lastReloadTime ?? ''));
    await expect(reloadModule(ari, 'no_such_module.so')).rejects.toMatchObject({
      code: 'ARI_HTTP_ERROR',
      status: 404,
    });
  });

  test('PeerStatusChange and EndpointStateChange arrive when B goes down and comes back', async () => {
    const isPeer = (e: AriEvent) => (e.endpoint as { resource?: string } | undefined)?.resource === pair.aToB;
    const unreachable = nextEvent<AriEvent>(
      ari,
      'PeerStatusChange',
      (e) => isPeer(e) && (e.peer as { peer_status?: string }).peer_status === 'Unreachable',
    );
    const offline = nextEvent<AriEvent>(
      ari,
      'EndpointStateChange',
      (e) => isPeer(e) && (e.endpoint as { state?: string }).state === 'offline',
    );
    await pair.b.kill();
    await Promise.all([unreachable, offline]);
    expect((await iaxEndpoints(ari))[0]).toEqual({ resource: pair.aToB, state: 'offline' });
    const reachable = nextEvent<AriEvent>(
      ari,
      'PeerStatusChange',
      (e) => isPeer(e) && (e.peer as { peer_status?: string }).peer_status === 'Reachable',
    );
    await pair.b.start();
    const back = await reachable;
    expect(typeof (back.peer as { time?: unknown }).time).not.toBe('undefined');
  });

  test('reconnects after an Asterisk restart and works again', async () => {
    const before = await asteriskInfo(ari);
    const lost = nextEvent(ari, 'disconnected');
    const again = nextEvent(ari, 'connected', () => true, 20_000);
    await pair.a.restart();
    await lost;
    await again;
    expect(ari.state).toBe('connected');
    const after = await asteriskInfo(ari);
    expect(after.startupTime).not.toBe(before.startupTime);
    // The app is registered again: a call into it arrives.
    await waitUntil(() => ari.subscribedToIax, { what: 'subscribed again', timeoutMs: 10_000 });
    const channelId = newChannelId();
    const started = nextEvent<AriEvent>(ari, 'StasisStart', (e) => channelOf(e).id === channelId);
    await waitUntil(async () => /OK \(\d+ ms\)/.test(await pair.a.cli('iax2 show peers')), {
      what: 'trunk up after restart',
      timeoutMs: 15_000,
      intervalMs: 200,
    });
    await ari.originate({ endpoint: `IAX2/${pair.aToB}/${ECHO_EXTEN}`, app: APP, channelId, timeoutSec: 10 });
    await started;
    await ari.hangup(channelId);
  });

  test('wrong credentials give a 401 and never a connection; no password in the logs', async () => {
    const wrong = 'wrong-ari-password-0123456789';
    const bad = new AriClient({
      url: pair.a.ariUrl,
      username: pair.a.ariUser,
      password: wrong,
      app: 'bad-app',
      logger: logs.logger,
      reconnect: { initialMs: 50, maxMs: 200 },
    });
    await expect(asteriskInfo(bad)).rejects.toMatchObject({ code: 'ARI_HTTP_ERROR', status: 401 });
    bad.start();
    try {
      await expect(bad.whenConnected(800)).rejects.toMatchObject({ code: 'ARI_TIMEOUT' });
    } finally {
      await bad.stop();
    }
    expect(logs.text()).not.toContain(wrong);
    expect(logs.text()).not.toContain(pair.a.ariPassword);
    expect(events.length).toBeGreaterThan(0);
  });
});

describe('AriClient on an instance without IAX2 peers', () => {
  test('connects, and subscribes to endpoint:IAX2 once a peer exists', async () => {
    const ast = await startAsterisk({ name: 'nopeers' });
    const ari = new AriClient({
      url: ast.ariUrl,
      username: ast.ariUser,
      password: ast.ariPassword,
      app: APP,
      logger: logs.logger,
    });
    try {
      ari.start();
      await ari.whenConnected(10_000);
      expect(ari.subscribedToIax).toBe(false);
      expect(await iaxEndpoints(ari)).toEqual([]);
      // Files-backend style: the sidecar writes its include and reloads.
      const fs = await import('node:fs');
      const path = await import('node:path');
      fs.writeFileSync(
        path.join(ast.configDir, 'iax-uuru-federation.conf'),
        '[late_peer]\ntype=friend\nhost=127.0.0.1\nport=4599\nsecret=latepeersecret1\nqualify=no\n',
      );
      await reloadModule(ari, 'chan_iax2.so');
      expect(await ari.ensureSubscribed()).toBe(true);
      expect(ari.subscribedToIax).toBe(true);
    } finally {
      await ari.stop();
      await ast.stop();
    }
  });
});
