/**
 * Honest link states on real parts: the AMI and ARI clients against a real
 * Asterisk with a wrong password (login refused), against a port nothing
 * listens on (unreachable) and against a plain TCP server that answers
 * garbage (wrong port). Each failure is logged once over a window of several
 * retries, and its end once, after the password is fixed in Asterisk.
 */
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { AmiClient } from '../../src/asterisk/ami-client';
import { AriClient } from '../../src/asterisk/ari-client';
import type { LinkStatus } from '../../src/asterisk/reconnecting-link';
import { type AsteriskInstance, startAsterisk } from '../harness/asterisk';
import { freePort } from '../harness/ports';
import { type Sidecar, startSidecar } from '../harness/sidecar';
import { sleep } from '../harness/processes';
import { captureLogger } from '../harness/test-logger';
import { assertNever, nextEvent, waitUntil } from '../harness/wait';

interface Line {
  level: string;
  message: string;
  component?: string;
  state?: string;
  detail?: string;
  recoveredFrom?: string;
}

const linesOf = (text: string, component: string): Line[] =>
  text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Line)
    .filter((l) => l.component === component);

/** Retries quickly, so that a window of two seconds holds several. */
const FAST = { initialMs: 50, maxMs: 200 };
/** The explicit window over which a failure must be logged once and only once. */
const WINDOW_MS = 2500;

/** Replaces `key = value` in the [section] of an Asterisk config file. */
function setInSection(file: string, section: string, key: string, value: string): void {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  let inSection = false;
  let done = false;
  const out = lines.map((l) => {
    const header = /^\[([^\]]+)\]/.exec(l);
    if (header) inSection = header[1] === section;
    if (inSection && new RegExp(`^${key}\\s*=`).test(l)) {
      done = true;
      return `${key} = ${value}`;
    }
    return l;
  });
  if (!done) throw new Error(`${key} not found in [${section}] of ${file}`);
  fs.writeFileSync(file, out.join('\n'));
}

/** Whether the AMI or the ARI client logged more than one line above debug. */
function moreThanOneLoudLine(text: string): boolean {
  return (['ami', 'ari'] as const).some(
    (c) => linesOf(text, c).filter((l) => l.level !== 'debug').length > 1,
  );
}

/** Failure and recovery lines of one client over a window, and how many retries it made in it. */
async function watchWindow(
  text: () => string,
  component: string,
  retryMessage: string,
): Promise<{ failures: Line[]; retries: number }> {
  await sleep(WINDOW_MS);
  const lines = linesOf(text(), component);
  return {
    failures: lines.filter((l) => l.level === 'warn' || l.level === 'error'),
    retries: lines.filter((l) => l.level === 'debug' && l.message === retryMessage).length,
  };
}

/**
 * An AMI client at amiPort and an ARI client at ariUrl, both started, with
 * throw-away credentials: for addresses where no Asterisk answers.
 */
function startBoth(
  amiPort: number,
  ariUrl: string,
  logger: ReturnType<typeof captureLogger>['logger'],
  actionTimeoutMs?: number,
): { ami: AmiClient; ari: AriClient; both: (state: string) => Promise<unknown> } {
  const ami = new AmiClient({
    host: '127.0.0.1',
    port: amiPort,
    username: 'u',
    secret: 's',
    logger,
    actionTimeoutMs,
    reconnect: FAST,
  });
  const ari = new AriClient({ url: ariUrl, username: 'u', password: 'p', app: 'x', logger, reconnect: FAST });
  ami.start();
  ari.start();
  const both = (state: string) =>
    Promise.all([ami, ari].map((c) => nextEvent<LinkStatus>(c, 'state', (st) => st.state === state, 5000)));
  return { ami, ari, both };
}

describe('link states against a real Asterisk with wrong passwords', () => {
  let ast: AsteriskInstance;
  const logs = captureLogger('debug');
  const wrongAmi = 'wrong-ami-secret-5f3a9c';
  const wrongAri = 'wrong-ari-password-8e1d2b';

  beforeAll(async () => {
    ast = await startAsterisk({ name: 'linkstates' });
  });
  afterAll(async () => {
    await ast?.stop();
  });

  test('AMI: login refused, logged once over several retries; one recovery line once the password is fixed', async () => {
    const ami = new AmiClient({
      host: '127.0.0.1',
      port: ast.amiPort,
      username: ast.amiUser,
      secret: wrongAmi,
      logger: logs.logger,
      reconnect: FAST,
    });
    const refused = nextEvent<LinkStatus>(ami, 'state', (s) => s.state === 'login_refused', 10_000);
    ami.start();
    try {
      await refused;
      expect(ami.status.detail).toContain(`user '${ast.amiUser}'`);
      const { failures, retries } = await watchWindow(logs.text, 'ami', 'AMI reconnect scheduled');
      expect(retries).toBeGreaterThanOrEqual(3);
      expect(failures).toEqual([
        expect.objectContaining({ level: 'error', message: 'AMI: login refused', state: 'login_refused' }),
      ]);
      expect(ami.state).toBe('login_refused');

      // The admin fixes the password in Asterisk (to what the sidecar has) and reloads the manager.
      setInSection(path.join(ast.configDir, 'manager.conf'), ast.amiUser, 'secret', wrongAmi);
      const back = nextEvent(ami, 'connected', () => true, 15_000);
      await ast.cli('manager reload');
      await back;
      expect(ami.state).toBe('connected');
      expect(ami.status.detail).toBeNull();
      const lines = linesOf(logs.text(), 'ami');
      expect(lines.filter((l) => l.level === 'warn' || l.level === 'error')).toHaveLength(1);
      expect(lines.filter((l) => l.level === 'info')).toEqual([
        expect.objectContaining({ message: 'AMI connected', recoveredFrom: 'login_refused' }),
      ]);
    } finally {
      await ami.stop();
    }
    expect(ami.state).toBe('disconnected');
    expect(logs.text()).not.toContain(ast.amiSecret);
  });

  test('ARI: login refused (401), logged once over several retries; one recovery line once the password is fixed', async () => {
    const ari = new AriClient({
      url: ast.ariUrl,
      username: ast.ariUser,
      password: wrongAri,
      app: 'link-states',
      logger: logs.logger,
      reconnect: FAST,
    });
    const refused = nextEvent<LinkStatus>(ari, 'state', (s) => s.state === 'login_refused', 10_000);
    ari.start();
    try {
      await refused;
      expect(ari.status.detail).toMatch(new RegExp(`user '${ast.ariUser}' \\(HTTP 401\\)`));
      const { failures, retries } = await watchWindow(logs.text, 'ari', 'ARI reconnect scheduled');
      expect(retries).toBeGreaterThanOrEqual(3);
      expect(failures).toEqual([
        expect.objectContaining({ level: 'error', message: 'ARI: login refused', state: 'login_refused' }),
      ]);

      setInSection(path.join(ast.configDir, 'ari.conf'), ast.ariUser, 'password', wrongAri);
      const back = nextEvent(ari, 'connected', () => true, 15_000);
      await ast.cli('module reload res_ari.so');
      await back;
      expect(ari.state).toBe('connected');
      const lines = linesOf(logs.text(), 'ari');
      expect(lines.filter((l) => l.level === 'warn' || l.level === 'error')).toHaveLength(1);
      expect(lines.filter((l) => l.level === 'info')).toEqual([
        expect.objectContaining({ message: 'ARI connected', recoveredFrom: 'login_refused' }),
      ]);
    } finally {
      await ari.stop();
    }
    const text = logs.text();
    expect(text).not.toContain(wrongAri);
    expect(text).not.toContain(wrongAmi);
    expect(text).not.toContain(ast.ariPassword);
  });
});

describe('link states with no Asterisk, and with something else on the port', () => {
  let garbage: net.Server;
  let garbagePort: number;

  beforeAll(async () => {
    // A plain TCP service that is neither AMI nor HTTP: it greets with a line of its own and answers anything with junk.
    garbage = net.createServer((socket) => {
      socket.on('error', () => undefined);
      socket.write('SSH-2.0-NotAsterisk\r\n');
      socket.on('data', () => socket.write('\x00\x01garbage\r\n'));
    });
    await new Promise<void>((resolve) => garbage.listen(0, '127.0.0.1', resolve));
    garbagePort = (garbage.address() as net.AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise((r) => garbage.close(r));
  });

  test('nothing listens: both links say unreachable, each logged once at warn over several retries', async () => {
    const logs = captureLogger('debug');
    const port = await freePort();
    const ami = new AmiClient({
      host: '127.0.0.1',
      port,
      username: 'u',
      secret: 's',
      logger: logs.logger,
      reconnect: FAST,
    });
    const ari = new AriClient({
      url: `http://127.0.0.1:${port}/ari`,
      username: 'u',
      password: 'p',
      app: 'x',
      logger: logs.logger,
      reconnect: FAST,
    });
    ami.start();
    ari.start();
    try {
      await Promise.all([
        nextEvent<LinkStatus>(ami, 'state', (s) => s.state === 'unreachable', 5000),
        nextEvent<LinkStatus>(ari, 'state', (s) => s.state === 'unreachable', 5000),
      ]);
      expect(ami.status.detail).toBe(`127.0.0.1:${port}: connection refused`);
      expect(ari.status.detail).toBe(`http://127.0.0.1:${port}/ari: connection refused`);
      await assertNever(() => moreThanOneLoudLine(logs.text()), {
        what: 'a second line above debug for a link',
        windowMs: WINDOW_MS,
      });
      for (const [component, name] of [
        ['ami', 'AMI'],
        ['ari', 'ARI'],
      ] as const) {
        const lines = linesOf(logs.text(), component);
        expect(
          lines.filter((l) => l.level === 'debug' && l.message === `${name} reconnect scheduled`).length,
        ).toBeGreaterThanOrEqual(3);
        expect(lines.filter((l) => l.level !== 'debug')).toEqual([
          expect.objectContaining({
            level: 'warn',
            message: `${name}: Asterisk unreachable`,
            state: 'unreachable',
          }),
        ]);
      }
      expect(ami.state).toBe('unreachable');
      expect(ari.state).toBe('unreachable');
    } finally {
      await Promise.all([ami.stop(), ari.stop()]);
    }
  });

  test('a plain TCP server answering garbage: both links say wrong port', async () => {
    const logs = captureLogger('debug');
    const { ami, ari, both } = startBoth(garbagePort, `http://127.0.0.1:${garbagePort}`, logs.logger);
    try {
      await both('wrong_port');
      expect(ami.status.detail).toContain('"SSH-2.0-NotAsterisk", not the AMI greeting');
      expect(ari.status.detail).toMatch(/answers, but not in HTTP \(HPE_/);
      await assertNever(() => moreThanOneLoudLine(logs.text()), {
        what: 'a second line above debug for a link',
        windowMs: WINDOW_MS,
      });
      for (const [component, name] of [
        ['ami', 'AMI'],
        ['ari', 'ARI'],
      ] as const) {
        expect(linesOf(logs.text(), component).filter((l) => l.level !== 'debug')).toEqual([
          expect.objectContaining({
            level: 'warn',
            message: expect.stringMatching(new RegExp(`^${name}: wrong port`)),
          }),
        ]);
      }
      expect([ami.state, ari.state]).toEqual(['wrong_port', 'wrong_port']);
    } finally {
      await Promise.all([ami.stop(), ari.stop()]);
    }
  });
});

describe('wrong port: a service that accepts but never greets, an HTTP server that is not ARI', () => {
  test('AMI on a silent TCP port says wrong port once the greeting is overdue; ARI on a plain web server says wrong port (HTTP 404)', async () => {
    const sockets: net.Socket[] = [];
    const silent = net.createServer((socket) => {
      sockets.push(socket);
      socket.on('error', () => undefined);
    });
    const web = http.createServer((_req, res) => res.writeHead(404).end('not found'));
    await Promise.all([
      new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve)),
      new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve)),
    ]);
    const logs = captureLogger('debug');
    const silentPort = (silent.address() as net.AddressInfo).port;
    const webPort = (web.address() as net.AddressInfo).port;
    const { ami, ari, both } = startBoth(silentPort, `http://127.0.0.1:${webPort}/ari`, logs.logger, 300);
    try {
      await both('wrong_port');
      expect(ami.status.detail).toBe(
        `127.0.0.1:${silentPort} accepts connections but sends no AMI greeting within 300 ms (another service's port, or a hung Asterisk)`,
      );
      expect(ari.status.detail).toContain(`http://127.0.0.1:${webPort}/ari answers HTTP 404`);
    } finally {
      await Promise.all([ami.stop(), ari.stop()]);
      for (const s of sockets) s.destroy();
      web.closeAllConnections();
      await Promise.all([new Promise((r) => silent.close(r)), new Promise((r) => web.close(r))]);
    }
  });
});

describe('a running sidecar with wrong AMI and ARI passwords', () => {
  let ast: AsteriskInstance;
  let sidecar: Sidecar;
  const wrongAmi = 'sidecar-wrong-ami-7c2e';
  const wrongAri = 'sidecar-wrong-ari-4b9f';

  interface Status {
    ami: string;
    ari: string;
    amiDetail: string | null;
    ariDetail: string | null;
    monitoring: string;
  }
  const readyz = async (): Promise<{ status: string; asterisk: Status }> =>
    (await fetch(`${sidecar.federationUrl}/readyz`)).json() as Promise<{ status: string; asterisk: Status }>;
  const metrics = async (): Promise<string> => (await fetch(`${sidecar.adminUrl}/metrics`)).text();
  const gauge = (text: string, link: string, state: string): number | null => {
    const line = text
      .split('\n')
      .find((l) => l.startsWith(`uuru_fed_asterisk_link_state{link="${link}",state="${state}"} `));
    return line ? Number(line.split(' ').pop()) : null;
  };

  beforeAll(async () => {
    ast = await startAsterisk({ name: 'linkside' });
    sidecar = await startSidecar({
      name: 'linkside',
      config: {
        asterisk: {
          ami: { host: '127.0.0.1', port: ast.amiPort, user: ast.amiUser, password: wrongAmi },
          ari: { url: ast.ariUrl, user: ast.ariUser, password: wrongAri, app: 'uuru-federation' },
          stateBackend: 'files',
          configDir: ast.configDir,
        },
      },
      env: { UURU_ASTERISK_ENABLED: 'true', UURU_LOGLEVEL: 'info' },
    });
  });
  afterAll(async () => {
    await sidecar?.destroy();
    await ast?.stop();
  });

  test('readyz, the admin API and the metrics say login refused; the log says it once per link over several retries', async () => {
    const ready = await waitUntil(
      async () => {
        const r = await readyz();
        return r.asterisk.ami === 'login_refused' && r.asterisk.ari === 'login_refused' && r;
      },
      { what: 'both links refused in /readyz', timeoutMs: 15_000 },
    );
    expect(ready.asterisk).toMatchObject({
      monitoring: 'unavailable_ami',
      amiDetail: expect.stringContaining(`user '${ast.amiUser}'`),
      ariDetail: expect.stringContaining('HTTP 401'),
    });
    const api = await sidecar.admin('GET', '/status');
    expect(api.status).toBe(200);
    expect((api.json as { asterisk: Status }).asterisk).toMatchObject({
      ami: 'login_refused',
      ari: 'login_refused',
      monitoring: 'unavailable_ami',
    });
    const text = await metrics();
    for (const link of ['ami', 'ari']) {
      expect(gauge(text, link, 'login_refused')).toBe(1);
      for (const other of ['connected', 'connecting', 'unreachable', 'wrong_port', 'disconnected']) {
        expect(gauge(text, link, other)).toBe(0);
      }
    }

    // An explicit window: the sidecar retries a refused login every few seconds (4 s, then 5 s at most);
    // Asterisk's own log counts the attempts.
    const refusedLogins = () =>
      fs
        .readFileSync(ast.logFile, 'utf8')
        .split('\n')
        .filter((l) => l.includes(`failed to authenticate as '${ast.amiUser}'`)).length;
    const before = refusedLogins();
    await assertNever(
      () =>
        (['ami', 'ari'] as const).some(
          (c) => linesOf(sidecar.logs(), c).filter((l) => l.level !== 'info').length > 1,
        ),
      { what: 'a second line above info for a link', windowMs: 11_000, intervalMs: 250 },
    );
    // Two AMI sessions (events and the files backend's probe) retry alike.
    expect(refusedLogins() - before).toBeGreaterThanOrEqual(3);
    for (const [component, name] of [
      ['ami', 'AMI'],
      ['ari', 'ARI'],
    ] as const) {
      expect(linesOf(sidecar.logs(), component).filter((l) => l.level !== 'info')).toEqual([
        expect.objectContaining({ level: 'error', message: `${name}: login refused` }),
      ]);
    }
    // The second AMI session of the files backend fails alike and says nothing above debug.
    expect(linesOf(sidecar.logs(), 'ami-probe')).toEqual([]);
    expect(sidecar.logs()).not.toContain(wrongAmi);
    expect(sidecar.logs()).not.toContain(wrongAri);
  });

  test('fixing the passwords in Asterisk brings both links back: status connected, monitoring available, one recovery line each', async () => {
    setInSection(path.join(ast.configDir, 'manager.conf'), ast.amiUser, 'secret', wrongAmi);
    setInSection(path.join(ast.configDir, 'ari.conf'), ast.ariUser, 'password', wrongAri);
    await ast.cli('manager reload');
    await ast.cli('module reload res_ari.so');
    const ready = await waitUntil(
      async () => {
        const r = await readyz();
        return r.asterisk.ami === 'connected' && r.asterisk.ari === 'connected' && r;
      },
      { what: 'both links connected in /readyz', timeoutMs: 20_000 },
    );
    expect(ready.asterisk).toMatchObject({ monitoring: 'available', amiDetail: null, ariDetail: null });
    const text = await metrics();
    expect(gauge(text, 'ami', 'connected')).toBe(1);
    expect(gauge(text, 'ami', 'login_refused')).toBe(0);
    for (const [component, name] of [
      ['ami', 'AMI'],
      ['ari', 'ARI'],
    ] as const) {
      const own = linesOf(sidecar.logs(), component);
      expect(own.filter((l) => l.level !== 'info')).toHaveLength(1);
      expect(own.filter((l) => l.level === 'info')).toEqual([
        expect.objectContaining({ message: `${name} connected`, recoveredFrom: 'login_refused' }),
      ]);
    }
  });
});
