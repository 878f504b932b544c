/**
 * Sidecars on injected clocks, each with a real Asterisk of its own: the set-up
 * shared by the tests that move time across trunk secret epochs
 * (trunk-secret-rotation, trunk-secret-key-rotation, v1-upgrade). The sidecar runs in-process (buildApp
 * with a ManualClock, so a test can set each side's time on its own), with
 * its real HTTP listeners, its real AMI/ARI sessions and the files or
 * realtime backend; the test keeps an AMI session of its own on the same
 * Asterisk to place and inspect calls.
 *
 * Also here: the call checks both tests make at every step (a new call each
 * way answered and encrypted on both ends, a long call still up and
 * encrypted). A new call is held only as long as its checks take and then
 * hung up (AMI Hangup on the caller's IAX2 channel), so a step costs about a
 * second instead of the seconds a fixed hold would wait out. Before each new
 * call only the long call may be up on either side, and after it exactly one
 * more IAX2 channel on each side: an earlier version took "any IAX2 channel
 * but the long call's" for the new call, and right after an answered
 * old-secret probe (then held by Wait(1), still up when the next step dialled
 * a fraction of a second later) it hung up the probe's channel and left the
 * new call up on both sides. The probe (writeProbePeer, probeCall) now ends
 * its own call before it returns. (Pairing a call's two ends by IAX2 call
 * numbers, a channel name's suffix against `iax2 show channels`, found no
 * other end for a new call on the realtime backend, so it is not done.)
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildApp, type App } from '../../src/app';
import { AmiClient } from '../../src/asterisk/ami-client';
import { deepMerge } from '../../src/config/deep-merge';
import { loadConfig } from '../../src/config/load-config';
import { createLogger } from '../../src/logging/logger';
import {
  type AsteriskInstance,
  ECHO_EXTEN,
  type RealtimeDb,
  startAsterisk,
  type StartAsteriskOptions,
  TEST_CONTEXT,
} from './asterisk';
import type { ManualClock } from './manual-clock';
import { freePort } from './ports';
import { waitUntil } from './wait';

/** The phones' context; the generated outbound context is `<this>-federation`. */
export const LOCAL = 'uuru-local';
/** The sidecar's test extension (answered by its generated dial plan). */
export const TEST_EXTENSION = '9999999';
/** The phones' context as an operator writes it: federated prefixes, then the test context's Echo(). */
export const LOCAL_DIALPLAN = [
  `[${LOCAL}]`,
  `include => ${LOCAL}-federation`,
  `include => ${TEST_CONTEXT}`,
  '',
].join('\n');

export interface ClockedNodeOptions {
  /** Asterisk id prefix, data dir name part. */
  name: string;
  clock: ManualClock;
  /** Asterisk options; extensionsConf defaults to LOCAL_DIALPLAN. */
  asterisk?: Omit<StartAsteriskOptions, 'name' | 'realtime'>;
  /** The realtime backend on this database (Asterisk reads it through res_config_mysql); default: files. */
  realtime?: RealtimeDb | null;
  /**
   * The federation address partners are given, from the listener's own (e.g. a
   * recording proxy in front of it; it may point the proxy at the listener here).
   * Default: the listener itself.
   */
  publicUrl?: (listenerUrl: string) => string;
  /** Settings merged over the defaults below (jobs, federation, ...). */
  config?: Record<string, unknown>;
}

export interface ClockedNode {
  name: string;
  ast: AsteriskInstance;
  app: App;
  clock: ManualClock;
  /** The test's own AMI session on this Asterisk (the sidecar has its own). */
  ami: AmiClient;
  /** Bearer token of the admin API. */
  token: string;
  adminUrl: string;
  /** The federation listener itself. */
  listenerUrl: string;
  /** The address partners are given (the listener, or what publicUrl made of it). */
  federationUrl: string;
  dataDir: string;
  /** Stops the sidecar and starts it again on the same ports and data, with these settings merged over the first ones. */
  restart(config?: Record<string, unknown>): Promise<void>;
  stop(): Promise<void>;
}

/** Sidecar settings bound to its Asterisk, with short job intervals (a moved clock is followed within a fraction of a second). */
function baseConfig(
  o: ClockedNodeOptions,
  ast: AsteriskInstance,
  ports: { federation: number; admin: number },
  publicUrl: string,
  dataDir: string,
  token: string,
): Record<string, unknown> {
  return {
    dataDir,
    instance: {
      publicUrl,
      iax2Host: ast.iaxHost,
      iax2Port: ast.iaxPort,
      extensionDigits: ECHO_EXTEN.length,
    },
    http: {
      federation: { host: '127.0.0.1', port: ports.federation },
      admin: { host: '127.0.0.1', port: ports.admin },
    },
    admin: { bootstrapToken: token },
    asterisk: {
      enabled: true,
      ami: { host: '127.0.0.1', port: ast.amiPort, user: ast.amiUser, password: ast.amiSecret },
      ari: { url: ast.ariUrl, user: ast.ariUser, password: ast.ariPassword, app: 'uuru-federation' },
      ...(o.realtime ? { stateBackend: 'realtime', realtimeDb: o.realtime } : { stateBackend: 'files' }),
      configDir: ast.configDir,
      localContext: LOCAL,
      inboundTargetContext: LOCAL,
      testExtension: TEST_EXTENSION,
      qualifyFreqOkMs: 1000,
      qualifyFreqNotOkMs: 1000,
      reloadDebounceMs: 50,
    },
    jobs: { monitorPollMs: 500, outboxPollMs: 100, secretEpochPollMs: 200 },
    federation: { outboxRetryBaseMs: 200, outboxRetryMaxMs: 1000 },
    log: { level: 'warn', format: 'json' },
  };
}

export async function startClockedNode(o: ClockedNodeOptions): Promise<ClockedNode> {
  const ast = await startAsterisk({
    ...o.asterisk,
    name: o.name,
    extensionsConf: o.asterisk?.extensionsConf ?? LOCAL_DIALPLAN,
    ...(o.realtime ? { realtime: o.realtime } : {}),
  });
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `uuru-clk-${o.name}-`));
  const ami = new AmiClient({
    host: '127.0.0.1',
    port: ast.amiPort,
    username: ast.amiUser,
    secret: ast.amiSecret,
    logger: createLogger({ level: 'error', format: 'pretty', silent: true }),
    reconnect: { initialMs: 100, maxMs: 1000 },
  });
  let app: App | null = null;
  try {
    const ports = { federation: await freePort(), admin: await freePort() };
    const token = crypto.randomBytes(24).toString('base64url');
    const listenerUrl = `http://127.0.0.1:${ports.federation}`;
    const federationUrl = o.publicUrl ? o.publicUrl(listenerUrl) : listenerUrl;
    const base = deepMerge(baseConfig(o, ast, ports, federationUrl, dataDir, token), o.config ?? {});
    const build = (extra: Record<string, unknown>): App =>
      buildApp(loadConfig({ env: {}, overrides: deepMerge(base, extra) }), { clock: o.clock });
    app = build({});
    await app.start({ waitForDb: true });
    ami.start();
    await ami.whenConnected(15_000);
    let current: App = app;
    const node: ClockedNode = {
      name: o.name,
      ast,
      app: current,
      clock: o.clock,
      ami,
      token,
      adminUrl: current.adminUrl,
      listenerUrl,
      federationUrl,
      dataDir,
      async restart(extra = {}) {
        await current.stop();
        current = build(extra);
        await current.start({ waitForDb: true });
        node.app = current;
        node.adminUrl = current.adminUrl;
      },
      async stop() {
        await ami.stop().catch(() => undefined);
        await current.stop().catch(() => undefined);
        await ast.stop();
        fs.rmSync(dataDir, { recursive: true, force: true });
      },
    };
    return node;
  } catch (e) {
    await ami.stop().catch(() => undefined);
    await app?.stop().catch(() => undefined);
    await ast.stop().catch(() => undefined);
    fs.rmSync(dataDir, { recursive: true, force: true });
    throw e;
  }
}

/** JSON call to a node's admin API (path below /api/admin); throws unless the status is the expected one. */
export async function adminApi<T>(
  n: ClockedNode,
  method: string,
  apiPath: string,
  body?: unknown,
  status = 200,
): Promise<T> {
  const res = await fetch(`${n.adminUrl}/api/admin${apiPath}`, {
    method,
    headers: {
      authorization: `Bearer ${n.token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status !== status) throw new Error(`${n.name} ${method} ${apiPath}: ${res.status} ${text}`);
  return (text ? JSON.parse(text) : null) as T;
}

/** A node's peer of this name, as the admin API shows it. */
export async function peerNamed<P extends { name: string }>(
  n: ClockedNode,
  name: string,
): Promise<P | undefined> {
  return (await adminApi<{ peers: P[] }>(n, 'GET', '/federation/peers')).peers.find((p) => p.name === name);
}

export interface CallResult {
  answered: boolean;
  reason: string | null;
}

/** Originates `channel` into Wait(holdSec); resolves on answer (or failure). */
export async function originate(n: ClockedNode, channel: string, holdSec: number): Promise<CallResult> {
  try {
    const r = await n.ami.action(
      {
        Action: 'Originate',
        Channel: channel,
        Application: 'Wait',
        Data: String(holdSec),
        Timeout: '8000',
        Async: 'false',
      },
      { timeoutMs: 15_000 },
    );
    const answered = (r.response ?? '').toLowerCase() === 'success';
    return { answered, reason: answered ? null : (r.message ?? 'failed') };
  } catch (e) {
    return { answered: false, reason: e instanceof Error ? e.message : String(e) };
  }
}

/** Calls `number` from the phones' context, as a phone would; resolves on answer (or failure). */
export function dial(n: ClockedNode, number: string, holdSec: number): Promise<CallResult> {
  return originate(n, `Local/${number}@${LOCAL}/n`, holdSec);
}

/** IAX2 channels up on a node's Asterisk. */
export async function iaxChannels(n: ClockedNode): Promise<string[]> {
  const out = await n.ami.command('core show channels concise');
  return out
    .split('\n')
    .map((l) => l.split('!')[0])
    .filter((c) => c.startsWith('IAX2/'));
}

/** CHANNEL(secure_media) of a channel: '1' when its media is encrypted. */
export async function secureMedia(n: ClockedNode, channel: string): Promise<string> {
  const r = await n.ami.action({ Action: 'Getvar', Channel: channel, Variable: 'CHANNEL(secure_media)' });
  return String(r.value ?? '');
}

/**
 * Hangs up a call at `from` (AMI Hangup on its IAX2 channel there) and waits
 * until both of its ends are gone.
 */
export async function hangUpCall(
  from: ClockedNode,
  to: ClockedNode,
  call: { onFrom: string; onTo: string },
  what: string,
): Promise<void> {
  await from.ami.action({ Action: 'Hangup', Channel: call.onFrom });
  await waitUntil(
    async () => ({
      [from.name]: (await iaxChannels(from)).filter((c) => c === call.onFrom),
      [to.name]: (await iaxChannels(to)).filter((c) => c === call.onTo),
    }),
    {
      what: `${what} ended on both sides`,
      until: (left) => Object.values(left).every((l) => l.length === 0),
      timeoutMs: 10_000,
    },
  );
}

/** Two nodes with a trunk between them, and the channels of a long call held across the steps. */
export interface CallEnds {
  a: ClockedNode;
  b: ClockedNode;
  /** What A dials to reach B's Echo (A's prefix for B, then the echo extension), and the other way. */
  numberFromA: string;
  numberFromB: string;
  longOnA: string;
  longOnB: string;
}

/** How long a new call may be held at most; it is hung up as soon as its checks are done. */
const NEW_CALL_HOLD_SEC = 60;

/**
 * A new call each way is answered, and encrypted on both ends (whileUp runs
 * further checks while it is up); then it is hung up and gone on both sides.
 * Finally the long call is still up, and encrypted, on both sides.
 *
 * Before each new call nothing but the long call may be up on either side (a
 * call the test placed before, e.g. a probe, must have ended), so the new
 * call's ends are the one new IAX2 channel on each side.
 */
export async function callsWork(
  ends: CallEnds,
  moment: string,
  whileUp?: (c: { from: ClockedNode; to: ClockedNode; onFrom: string; onTo: string }) => Promise<void>,
): Promise<void> {
  const { a, b } = ends;
  const longOn = (n: ClockedNode) => (n === a ? ends.longOnA : ends.longOnB);
  const others = async (n: ClockedNode) => (await iaxChannels(n)).filter((c) => c !== longOn(n));
  for (const [from, to, number] of [
    [a, b, ends.numberFromA],
    [b, a, ends.numberFromB],
  ] as const) {
    await waitUntil(async () => ({ [a.name]: await others(a), [b.name]: await others(b) }), {
      what: `only the long call up on both sides before a new call from ${from.name} (${moment})`,
      until: (left) => Object.values(left).every((l) => l.length === 0),
      timeoutMs: 5000,
    });
    const r = await dial(from, number, NEW_CALL_HOLD_SEC);
    expect({ moment, from: from.name, ...r }).toEqual({
      moment,
      from: from.name,
      answered: true,
      reason: null,
    });
    const [[onFrom], [onTo]] = await waitUntil(async () => [await others(from), await others(to)], {
      what: `the new call's one IAX2 channel on ${from.name} and on ${to.name} (${moment})`,
      until: ([f, t]) => f.length === 1 && t.length === 1,
      timeoutMs: 3000,
    });
    expect({ moment, secureMedia: [await secureMedia(from, onFrom), await secureMedia(to, onTo)] }).toEqual({
      moment,
      secureMedia: ['1', '1'],
    });
    if (whileUp) await whileUp({ from, to, onFrom, onTo });
    await hangUpCall(from, to, { onFrom, onTo }, `the new call from ${from.name} (${moment})`);
  }
  expect({ moment, onA: await iaxChannels(a), onB: await iaxChannels(b) }).toEqual({
    moment,
    onA: expect.arrayContaining([ends.longOnA]) as unknown,
    onB: expect.arrayContaining([ends.longOnB]) as unknown,
  });
  expect({
    moment,
    long: [await secureMedia(a, ends.longOnA), await secureMedia(b, ends.longOnB)],
  }).toEqual({ moment, long: ['1', '1'] });
}

/** The file a node's iax.conf includes for the probe peer (see PROBE_IAX_CONF). */
const PROBE_FILE = 'old-secret-probe.conf';
/** The hand-written IAX2 peer writeProbePeer puts on a node. */
const PROBE_PEER = 'old_secret_probe';
/** iax.conf text (startClockedNode's asterisk.iaxConf) that lets writeProbePeer add its peer. */
export const PROBE_IAX_CONF = `#tryinclude ${PROBE_FILE}\n`;

/**
 * A hand-written IAX2 peer on `from` that calls `to` as a given user with a
 * given secret (encryption forced), as an Asterisk still holding an old
 * secret would; `from` must have been started with PROBE_IAX_CONF.
 */
export async function writeProbePeer(
  from: ClockedNode,
  to: ClockedNode,
  username: string,
  secret: string,
): Promise<void> {
  fs.writeFileSync(
    path.join(from.ast.configDir, PROBE_FILE),
    [
      `[${PROBE_PEER}]`,
      'type=peer',
      `host=${to.ast.iaxHost}`,
      `port=${to.ast.iaxPort}`,
      `username=${username}`,
      `secret=${secret}`,
      'encryption=yes',
      'forceencryption=yes',
      'disallow=all',
      'allow=ulaw',
      '',
    ].join('\n'),
  );
  await from.ami.command('module reload chan_iax2.so');
  await waitUntil(
    async () =>
      (await from.ami.command(`iax2 show peer ${PROBE_PEER}`)).includes(String(to.ast.iaxPort))
        ? true
        : undefined,
    { what: 'the probe peer loaded' },
  );
}

/**
 * Calls `to`'s test extension through the probe peer of `from`
 * (writeProbePeer). When `to` answers (the probe's secret authenticated), the
 * call is hung up at once and awaited gone on both sides, so the next step
 * starts with nothing but its own calls up; when refused, its channel is
 * awaited gone on `from`.
 */
export async function probeCall(from: ClockedNode, to: ClockedNode): Promise<CallResult> {
  const before = new Set(await iaxChannels(to));
  const r = await originate(from, `IAX2/${PROBE_PEER}/${TEST_EXTENSION}`, NEW_CALL_HOLD_SEC);
  const probeOnFrom = async () =>
    (await iaxChannels(from)).filter((c) => c.startsWith(`IAX2/${PROBE_PEER}-`));
  if (r.answered) {
    const [[onFrom], [onTo]] = await waitUntil(
      async () => [await probeOnFrom(), (await iaxChannels(to)).filter((c) => !before.has(c))],
      {
        what: `the probe call's one IAX2 channel on ${from.name} and on ${to.name}`,
        until: ([f, t]) => f.length === 1 && t.length === 1,
        timeoutMs: 3000,
      },
    );
    await hangUpCall(from, to, { onFrom, onTo }, 'the probe call');
  } else {
    await waitUntil(probeOnFrom, {
      what: `the refused probe's channel gone on ${from.name}`,
      until: (left) => left.length === 0,
      timeoutMs: 10_000,
    });
  }
  return r;
}

/** Sets up a long call from A to B (after a first call has shown the trunk qualified) and returns its IAX2 channels. */
export async function holdLongCall(
  a: ClockedNode,
  b: ClockedNode,
  numberFromA: string,
  firstCallTimeoutMs: number,
): Promise<{ longOnA: string; longOnB: string }> {
  await waitUntil(async () => ((await dial(a, numberFromA, 1)).answered ? true : undefined), {
    what: `a first call ${a.name}→${b.name}`,
    timeoutMs: firstCallTimeoutMs,
  });
  expect(await dial(a, numberFromA, 3600)).toEqual({ answered: true, reason: null });
  const [longOnA, longOnB] = await waitUntil(
    async () => {
      const [x, y] = [await iaxChannels(a), await iaxChannels(b)];
      return x.length === 1 && y.length === 1 ? [x[0], y[0]] : undefined;
    },
    { what: 'the long call on both sides' },
  );
  return { longOnA, longOnB };
}
