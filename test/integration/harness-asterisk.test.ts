/**
 * Proves the test harness: real Asterisk 22 instances from the chroot answer
 * AMI and ARI, two of them peered by a hand-written IAX2 friend pair qualify
 * each other and carry a call to the other side's Echo, and realtime config
 * from the harness MariaDB is read by Asterisk.
 */
import crypto from 'node:crypto';
import dgram from 'node:dgram';
import fs from 'node:fs';
import path from 'node:path';
import { AmiClient } from '../../src/asterisk/ami-client';
import { AriClient, type AriEvent } from '../../src/asterisk/ari-client';
import {
  type AsteriskInstance,
  createRealtimeTables,
  ECHO_EXTEN,
  startAsterisk,
  TEST_CONTEXT,
} from '../harness/asterisk';
import { asteriskInfo } from '../harness/ari-rest';
import { type PeeredPair, startPeeredPair } from '../harness/asterisk-pair';
import { type MariaDbServer, startMariaDb, testDatabaseName } from '../harness/mariadb';
import { captureLogger } from '../harness/test-logger';
import { nextEvent } from '../harness/wait';
import { waitUntil } from '../harness/wait';

const { logger } = captureLogger();

function amiFor(i: AsteriskInstance): AmiClient {
  return new AmiClient({
    host: '127.0.0.1',
    port: i.amiPort,
    username: i.amiUser,
    secret: i.amiSecret,
    logger,
  });
}

function ariFor(i: AsteriskInstance, app: string): AriClient {
  return new AriClient({ url: i.ariUrl, username: i.ariUser, password: i.ariPassword, app, logger });
}

describe('Asterisk harness: a peered pair', () => {
  let pair: PeeredPair;
  let amiA: AmiClient;
  let ariA: AriClient;

  beforeAll(async () => {
    pair = await startPeeredPair();
    amiA = amiFor(pair.a);
    ariA = ariFor(pair.a, 'harness-test');
    amiA.start();
    ariA.start();
    await Promise.all([amiA.whenConnected(10_000), ariA.whenConnected(10_000)]);
  });

  afterAll(async () => {
    await amiA?.stop();
    await ariA?.stop();
    await pair?.stop();
  });

  test('instances boot quickly on their own ports and write their logs', () => {
    const { a, b } = pair;
    expect(new Set([a.amiPort, a.httpPort, b.amiPort, b.httpPort]).size).toBe(4);
    expect(a.iaxPort).not.toBe(b.iaxPort);
    expect(a.bootMs).toBeLessThan(8000);
    expect(fs.existsSync(a.logFile)).toBe(true);
    expect(fs.existsSync(path.join(a.configDir, 'iax.conf'))).toBe(true);
    expect(fs.readFileSync(path.join(a.configDir, 'iax.conf'), 'utf8')).toContain(
      '#tryinclude iax-uuru-federation.conf',
    );
  });

  test('cli() runs commands on the right instance', async () => {
    const out = await pair.a.cli('iax2 show peers');
    expect(out).toMatch(new RegExp(`^${pair.aToB}\\S*\\s+127\\.0\\.0\\.1.*\\s${pair.b.iaxPort}\\s`, 'm'));
    expect(fs.readFileSync(pair.a.logFile, 'utf8')).toContain(
      `Binding IAX2 to address 127.0.0.1:${pair.a.iaxPort}`,
    );
    expect(await pair.a.cli('core show version')).toMatch(/^Asterisk 22\./);
  });

  test('AMI login and IAXpeerlist list the hand-written friend', async () => {
    const peers = await amiA.iaxPeerList();
    expect(peers).toHaveLength(1);
    expect(peers[0]).toMatchObject({ name: pair.aToB, host: '127.0.0.1', port: pair.b.iaxPort });
  });

  test('ARI answers asterisk/info', async () => {
    const info = await asteriskInfo(ariA);
    expect(info.startupTime).not.toBeNull();
    const started = Date.parse(info.startupTime ?? '');
    expect(Math.abs(Date.now() - started)).toBeLessThan(5 * 60_000);
  });

  test('the friend pair qualifies to OK with a latency on both sides', async () => {
    const amiB = amiFor(pair.b);
    amiB.start();
    try {
      await amiB.whenConnected(10_000);
      for (const ami of [amiA, amiB]) {
        const peer = await waitUntil(async () => (await ami.iaxPeerList()).find((p) => p.state === 'ok'), {
          what: 'peer OK',
          timeoutMs: 15_000,
          intervalMs: 200,
        });
        expect(peer.status).toMatch(/^OK \(\d+ ms\)$/);
        expect(peer.latencyMs).toEqual(expect.any(Number));
        expect(peer.latencyMs).toBeGreaterThanOrEqual(0);
      }
    } finally {
      await amiB.stop();
    }
  });

  test("a call from A through the trunk is answered by B's Echo", async () => {
    const channelId = `harness-${crypto.randomBytes(4).toString('hex')}`;
    // An originate into our Stasis app enters the app only once the far end answered.
    const started = nextEvent<AriEvent>(
      ariA,
      'StasisStart',
      (e) => (e.channel as { id?: string })?.id === channelId,
    );
    await ariA.originate({
      endpoint: `IAX2/${pair.aToB}/${ECHO_EXTEN}`,
      app: 'harness-test',
      channelId,
      timeoutSec: 10,
    });
    const event = await started;
    expect((event.channel as { state?: string }).state).toBe('Up');
    // B's side of the call is in Echo() in the test context.
    const onB = await waitUntil(
      async () => {
        const out = await pair.b.cli('core show channels concise');
        return out
          .split('\n')
          .find((l) => l.includes(`!${TEST_CONTEXT}!${ECHO_EXTEN}!`) && l.includes('!Echo!'));
      },
      { what: 'Echo on B' },
    );
    expect(onB).toContain('IAX2/');
    const ended = nextEvent<AriEvent>(
      ariA,
      'StasisEnd',
      (e) => (e.channel as { id?: string })?.id === channelId,
    );
    await ariA.hangup(channelId);
    await ended;
  });
});

describe('Asterisk harness: realtime from the harness MariaDB', () => {
  let db: MariaDbServer;
  let dbName: string;
  let ast: AsteriskInstance;

  beforeAll(async () => {
    db = await startMariaDb();
    dbName = testDatabaseName('harness_rt');
    await db.createDatabase(dbName);
    const realtime = { host: db.host, port: db.port, user: db.user, password: db.password, database: dbName };
    await createRealtimeTables(realtime);
    ast = await startAsterisk({
      name: 'rt',
      realtime,
      extensionsConf: '[uuru-rt]\nswitch => Realtime/\n',
    });
  });

  afterAll(async () => {
    await ast?.stop();
    if (dbName) await db?.dropDatabase(dbName);
    await db?.stop();
  });

  test('a call through a realtime peer reaches a realtime dial plan row', async () => {
    expect(await ast.cli('realtime mysql status')).toMatch(/connected to/i);
    // The realtime peer points at this same instance, so the call comes back in
    // as user rt_peer into its realtime context, where only DB rows route it.
    await db.query(
      `INSERT INTO \`${dbName}\`.iaxfriends (name, type, username, host, port, secret, context, qualify) VALUES ('rt_peer', 'friend', 'rt_peer', '127.0.0.1', ?, 'rtsecretvalue1', 'uuru-rt', 'no')`,
      [ast.iaxPort],
    );
    await db.query(
      `INSERT INTO \`${dbName}\`.extensions (context, exten, priority, app, appdata) VALUES ('uuru-rt', '5555', 1, 'Answer', ''), ('uuru-rt', '5555', 2, 'Echo', '')`,
    );
    const ari = ariFor(ast, 'harness-rt');
    ari.start();
    try {
      await ari.whenConnected(10_000);
      const channelId = `rt-${crypto.randomBytes(4).toString('hex')}`;
      const started = nextEvent<AriEvent>(
        ari,
        'StasisStart',
        (e) => (e.channel as { id?: string })?.id === channelId,
      );
      await ari.originate({ endpoint: 'IAX2/rt_peer/5555', app: 'harness-rt', channelId, timeoutSec: 10 });
      expect(((await started).channel as { state?: string }).state).toBe('Up');
      await waitUntil(
        async () => /!uuru-rt!5555!2!Up!Echo!/.test(await ast.cli('core show channels concise')),
        { what: 'Echo from the realtime row' },
      );
      await ari.hangup(channelId);
    } finally {
      await ari.stop();
    }
  });
});

describe('Asterisk harness: IAX2 on the standard port at loopback addresses of their own', () => {
  let a: AsteriskInstance;
  let b: AsteriskInstance;

  beforeAll(async () => {
    // Started at once, as startInstances does: the two must still get different addresses.
    [a, b] = await Promise.all([
      startAsterisk({ name: 'std_a', standardIaxPort: true }),
      startAsterisk({ name: 'std_b', standardIaxPort: true }),
    ]);
  });

  afterAll(async () => {
    await Promise.allSettled([a?.stop(), b?.stop()]);
  });

  test('each binds 4569 at its own 127.x.y.z (never 127.0.x.x), so a v1 partner needs no port', () => {
    for (const i of [a, b]) {
      expect(i.iaxPort).toBe(4569);
      expect(i.iaxHost).toMatch(/^127\.([1-9]\d*)\.\d+\.\d+$/);
      expect(fs.readFileSync(i.logFile, 'utf8')).toContain(`Binding IAX2 to address ${i.iaxHost}:4569`);
    }
    expect(a.iaxHost).not.toBe(b.iaxHost);
  });

  test('the address is held: a second bind on it fails, so another run skips it', async () => {
    const tryBind = (address: string) =>
      new Promise<boolean>((resolve) => {
        const s = dgram.createSocket('udp4');
        s.once('error', () => {
          s.close();
          resolve(false);
        });
        s.bind(4569, address, () => s.close(() => resolve(true)));
      });
    expect(await tryBind(a.iaxHost)).toBe(false);
  });
});
