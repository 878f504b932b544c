/**
 * AmiClient against real Asterisk instances: list collection, error
 * responses, timeouts, events, heartbeat, and surviving Asterisk dying under
 * a connected client.
 */
import { AmiClient, type AmiClientOptions, AmiError, type AmiMessage } from '../../src/asterisk/ami-client';
import { ECHO_EXTEN, TEST_CONTEXT } from '../harness/asterisk';
import { type PeeredPair, startPeeredPair } from '../harness/asterisk-pair';
import { captureLogger } from '../harness/test-logger';
import { nextEvent } from '../harness/wait';
import { waitUntil } from '../harness/wait';

const logs = captureLogger();
const FAST_RECONNECT = { initialMs: 100, maxMs: 1000 };

describe('AmiClient', () => {
  let pair: PeeredPair;
  let ami: AmiClient;
  const events: AmiMessage[] = [];
  let connects = 0;

  /** A client of Asterisk A with the test's logger, logged in as the harness's user unless told otherwise. */
  const clientOfA = (extra: Partial<AmiClientOptions> = {}): AmiClient =>
    new AmiClient({
      host: '127.0.0.1',
      port: pair.a.amiPort,
      username: pair.a.amiUser,
      secret: pair.a.amiSecret,
      logger: logs.logger,
      ...extra,
    });

  beforeAll(async () => {
    pair = await startPeeredPair();
    ami = clientOfA({ reconnect: FAST_RECONNECT });
    ami.on('event', (e) => events.push(e));
    ami.on('connected', () => connects++);
    const booted = nextEvent<AmiMessage>(ami, 'FullyBooted');
    ami.start();
    await ami.whenConnected(10_000);
    await booted;
  });

  afterAll(async () => {
    await ami?.stop();
    await pair?.stop();
  });

  test('an action before start() rejects with AMI_NOT_CONNECTED', async () => {
    const idle = clientOfA({ username: 'x', secret: 'y' });
    expect(idle.state).toBe('disconnected');
    await expect(idle.action({ Action: 'Ping' })).rejects.toMatchObject({ code: 'AMI_NOT_CONNECTED' });
  });

  test('a simple action resolves with its response', async () => {
    expect(ami.state).toBe('connected');
    const pong = await ami.action({ Action: 'Ping' });
    expect(pong.response).toBe('Success');
    expect(pong.ping).toBe('Pong');
  });

  test('command() returns the CLI output', async () => {
    expect(await ami.command('core show version')).toMatch(/^Asterisk 22\./);
  });

  test('a list action collects every item of its own ActionID until Complete', async () => {
    const { response, events: items } = await ami.listAction({
      Action: 'ShowDialPlan',
      Context: TEST_CONTEXT,
    });
    expect(response.eventlist?.toLowerCase()).toBe('start');
    const priorities = items.filter((e) => e.event === 'ListDialplan' && e.extension === ECHO_EXTEN);
    expect(priorities.map((e) => e.application)).toEqual(['Answer', 'Echo', 'Hangup']);
    expect(new Set(items.map((e) => e.actionid))).toEqual(new Set([response.actionid]));
    // Items of a list answer are not re-emitted as unsolicited events.
    expect(events.some((e) => e.event === 'ListDialplan')).toBe(false);

    const peers = await ami.iaxPeerList();
    expect(peers.map((p) => p.name)).toEqual([pair.aToB]);
  });

  test('a session logged in without events answers actions and gets no event', async () => {
    const quiet = clientOfA({ events: false });
    const heard: AmiMessage[] = [];
    quiet.on('event', (e) => heard.push(e));
    quiet.start();
    try {
      await quiet.whenConnected(10_000);
      const reloaded = nextEvent<AmiMessage>(ami, 'Reload');
      await quiet.reload('chan_iax2.so');
      expect((await reloaded).module).toBe('chan_iax2.so');
      expect(await quiet.command('core show version')).toMatch(/^Asterisk 22\./);
      expect(heard).toEqual([]);
    } finally {
      await quiet.stop();
    }
  });

  test('Response: Error rejects with AMI_ERROR_RESPONSE and the response', async () => {
    const err = await ami.action({ Action: 'Reload', Module: 'no_such_module.so' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AmiError);
    expect((err as AmiError).code).toBe('AMI_ERROR_RESPONSE');
    expect((err as AmiError).response?.message).toMatch(/no such module/i);
    await expect(ami.command('no such command here')).rejects.toMatchObject({
      code: 'AMI_ERROR_RESPONSE',
      message: expect.stringMatching(/No such command/),
    });
    await expect(ami.reload('no_such_module.so')).rejects.toMatchObject({ code: 'AMI_ERROR_RESPONSE' });
  });

  test('an action that takes too long rejects with AMI_TIMEOUT; the late answer is ignored', async () => {
    // A synchronous Originate answers only once its channel is answered: the dial plan waits 1 s before Answer.
    // (WaitEvent is no slow action to rely on: Asterisk ends it at once on any queued event or any input.)
    await ami.command(`dialplan add extension slow-answer,1,Wait,1 into ${TEST_CONTEXT} replace`);
    await ami.command(`dialplan add extension slow-answer,2,Answer into ${TEST_CONTEXT} replace`);
    await ami.command(`dialplan add extension slow-answer,3,Hangup into ${TEST_CONTEXT} replace`);
    const started = Date.now();
    await expect(
      ami.action(
        {
          Action: 'Originate',
          Channel: `Local/slow-answer@${TEST_CONTEXT}`,
          Application: 'Wait',
          Data: '0.1',
          Timeout: '5000',
          Async: 'false',
        },
        { timeoutMs: 150 },
      ),
    ).rejects.toMatchObject({ code: 'AMI_TIMEOUT' });
    expect(Date.now() - started).toBeLessThan(900);
    // Asterisk answers the slow action later; the answer is dropped and the session keeps working.
    await waitUntil(async () => !(await ami.command('core show channels concise')).includes('slow-answer'), {
      what: 'the slow originate to be answered and hung up',
      timeoutMs: 5000,
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect((await ami.action({ Action: 'Ping' })).response).toBe('Success');
  });

  test('a field with a line break is refused before anything is sent', async () => {
    await expect(
      ami.action({ Action: 'Command', Command: 'core show version\r\nAction: Logoff' }),
    ).rejects.toThrow(RangeError);
    expect((await ami.action({ Action: 'Ping' })).response).toBe('Success');
  });

  test('reload() reloads a module and the Reload event arrives, even past a throwing listener', async () => {
    const throwing = () => {
      throw new Error('listener bug');
    };
    ami.on('Reload', throwing);
    const reloaded = nextEvent<AmiMessage>(ami, 'Reload', (e) => (e.module ?? '').includes('chan_iax2'));
    try {
      await ami.reload('chan_iax2.so');
      const event = await reloaded;
      expect(event.event).toBe('Reload');
    } finally {
      ami.off('Reload', throwing);
    }
    expect(logs.text()).toContain('AMI event listener threw');
    expect((await ami.action({ Action: 'Ping' })).response).toBe('Success');
  });

  test('PeerStatus reports the peer unreachable when B dies and reachable when it is back', async () => {
    const peer = `IAX2/${pair.aToB}`;
    await waitUntil(async () => (await ami.iaxPeerList())[0]?.state === 'ok', {
      what: 'peer OK',
      timeoutMs: 15_000,
      intervalMs: 200,
    });
    await pair.b.kill();
    // Listening only from here keeps a probe result from before the kill out of the picture.
    await nextEvent<AmiMessage>(ami, 'PeerStatus', (e) => e.peer === peer && e.peerstatus === 'Unreachable');
    await waitUntil(async () => (await ami.iaxPeerList())[0]?.state === 'unreachable', {
      what: 'peer unreachable',
    });
    expect((await ami.iaxPeerList())[0]).toMatchObject({ state: 'unreachable', latencyMs: null });
    const up = nextEvent<AmiMessage>(
      ami,
      'PeerStatus',
      (e) => e.peer === peer && e.peerstatus === 'Reachable',
    );
    await pair.b.start();
    await up;
    const back = await waitUntil(async () => (await ami.iaxPeerList()).find((p) => p.state === 'ok'), {
      what: 'peer OK again',
    });
    expect(back.latencyMs).toEqual(expect.any(Number));
  });

  test('the heartbeat notices a silent Asterisk and reconnects once it answers again', async () => {
    const hb = clientOfA({ heartbeatMs: 300, actionTimeoutMs: 1000, reconnect: FAST_RECONNECT });
    hb.start();
    try {
      await hb.whenConnected(10_000);
      const lost = nextEvent(hb, 'disconnected', () => true, 10_000);
      // A stopped process keeps its sockets open but answers nothing: only a heartbeat notices.
      process.kill(pair.a.pid, 'SIGSTOP');
      try {
        await lost;
        expect(hb.state).not.toBe('connected');
      } finally {
        process.kill(pair.a.pid, 'SIGCONT');
      }
      await hb.whenConnected(15_000);
      expect((await hb.action({ Action: 'Ping' })).response).toBe('Success');
    } finally {
      await hb.stop();
    }
    await ami.whenConnected(15_000);
  });

  test('Shutdown precedes a graceful stop; the client reconnects when Asterisk is back', async () => {
    const shutdown = nextEvent<AmiMessage>(ami, 'Shutdown');
    const lost = nextEvent(ami, 'disconnected');
    await pair.a.halt();
    await shutdown;
    await lost;
    const before = connects;
    const again = nextEvent(ami, 'connected', () => true, 20_000);
    await pair.a.start();
    await again;
    expect(connects).toBe(before + 1);
    expect(await ami.command('core show version')).toMatch(/^Asterisk 22\./);
  });

  test('Asterisk killed under a connected client: pending actions fail at once, the process lives on, the client comes back', async () => {
    await ami.whenConnected(10_000);
    // Settle into a value at once: the rejection may come while kill() is still waiting for the pid to go.
    const killedAt = Date.now();
    let failedAt = 0;
    const pending = ami.action({ Action: 'WaitEvent', Timeout: '20' }, { timeoutMs: 30_000 }).then(
      () => null,
      (e: unknown) => {
        failedAt = Date.now();
        return e;
      },
    );
    const lost = nextEvent<string>(ami, 'disconnected');
    await pair.a.kill();
    expect(await pending).toMatchObject({ code: 'AMI_DISCONNECTED' });
    expect(failedAt - killedAt).toBeLessThan(2000);
    await lost;
    expect(ami.state).not.toBe('connected');
    await expect(ami.action({ Action: 'Ping' })).rejects.toMatchObject({ code: 'AMI_NOT_CONNECTED' });

    const back = nextEvent(ami, 'connected', () => true, 20_000);
    const booted = nextEvent<AmiMessage>(ami, 'FullyBooted', () => true, 20_000);
    await pair.a.start();
    await back;
    await booted;
    expect(ami.state).toBe('connected');
    expect((await ami.iaxPeerList()).map((p) => p.name)).toEqual([pair.aToB]);
  });

  test('a wrong secret never connects, and no secret reaches the logs', async () => {
    const wrongSecret = 'wrong-secret-value-0123456789';
    const bad = clientOfA({ secret: wrongSecret, reconnect: { initialMs: 50, maxMs: 200 } });
    bad.start();
    try {
      await waitUntil(() => logs.text().includes('AMI: login refused'), {
        what: 'login failure logged',
        timeoutMs: 10_000,
      });
      expect(bad.state).toBe('login_refused');
      await expect(bad.whenConnected(300)).rejects.toMatchObject({ code: 'AMI_TIMEOUT' });
    } finally {
      await bad.stop();
    }
    const text = logs.text();
    expect(text).toContain('AMI connected');
    expect(text).not.toContain(wrongSecret);
    expect(text).not.toContain(pair.a.amiSecret);
  });
});
