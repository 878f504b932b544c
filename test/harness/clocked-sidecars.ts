/**
 * Sidecars on injected clocks, each with a real Asterisk of its own: the set-up
 * shared by the tests that move time across trunk secret epochs
 * (trunk-secret-rotation, v1-upgrade). The sidecar runs in-process (buildApp
 * with a ManualClock, so a test can set each side's time on its own), with
 * its real HTTP listeners, its real AMI/ARI sessions and the files or
 * realtime backend; the test keeps an AMI session of its own on the same
 * Asterisk to place and inspect calls.
 *
 * Also here: the call checks both tests make at every step (a new call each
 * way answered and encrypted on both ends, a long call still up and
 * encrypted). A new call is held only as long as its checks take and then
 * hung up (AMI Hangup on the caller's IAX2 channel), so a step costs about a
 * second instead of the seconds a fixed hold would wait out.
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
 */
export async function callsWork(
  ends: CallEnds,
  moment: string,
  whileUp?: (c: { from: ClockedNode; to: ClockedNode; onFrom: string; onTo: string }) => Promise<void>,
): Promise<void> {
  const { a, b } = ends;
  const longOn = (n: ClockedNode) => (n === a ? ends.longOnA : ends.longOnB);
  const fresh = async (n: ClockedNode) => (await iaxChannels(n)).filter((c) => c !== longOn(n));
  for (const [from, to, number] of [
    [a, b, ends.numberFromA],
    [b, a, ends.numberFromB],
  ] as const) {
    const r = await dial(from, number, NEW_CALL_HOLD_SEC);
    expect({ moment, from: from.name, ...r }).toEqual({
      moment,
      from: from.name,
      answered: true,
      reason: null,
    });
    const [onFrom, onTo] = await waitUntil(
      async () => {
        const [f, t] = [await fresh(from), await fresh(to)];
        return f.length > 0 && t.length > 0 ? [f[0], t[0]] : undefined;
      },
      { what: `the new call's IAX2 channels (${moment})`, timeoutMs: 3000 },
    );
    expect({ moment, secureMedia: [await secureMedia(from, onFrom), await secureMedia(to, onTo)] }).toEqual({
      moment,
      secureMedia: ['1', '1'],
    });
    if (whileUp) await whileUp({ from, to, onFrom, onTo });
    await from.ami.action({ Action: 'Hangup', Channel: onFrom });
    await waitUntil(
      async () => ((await fresh(from)).length === 0 && (await fresh(to)).length === 0 ? true : undefined),
      { what: `the new call from ${from.name} ended on both sides (${moment})`, timeoutMs: 10_000 },
    );
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
