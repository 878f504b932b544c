/**
 * The one complete instance of the tests: a real Asterisk from the harness
 * plus a real sidecar process wired to it (AMI, ARI, generated files in the
 * Asterisk's etc dir, IAX2 port advertised to partners). Used by the
 * end-to-end and fault tests and by `npm run demo`; the fault tests end with
 * asteriskAgreement below: does this instance's Asterisk hold exactly the
 * peers its database holds?
 *
 * The Asterisk dial plan is the one an operator would write from
 * asterisk-conf/: the phones' context `uuru-local` includes the generated
 * `uuru-local-federation` (outbound prefixes) and has a local extension, 1234,
 * that answers with Echo(); federated calls arriving from partners are sent to
 * `uuru-local` too, so `<prefix>1234` dialed on a partner reaches that Echo.
 */
import fs from 'node:fs';
import path from 'node:path';
import { AmiClient, type IaxPeerEntry } from '../../src/asterisk/ami-client';
import { createLogger } from '../../src/logging/logger';
import {
  type AsteriskInstance,
  ECHO_EXTEN,
  startAsterisk,
  type StartAsteriskOptions,
  TEST_CONTEXT,
} from './asterisk';
import { type Sidecar, startSidecar } from './sidecar';
import { deepMerge } from '../../src/config/deep-merge';

/** The phones' context; the generated outbound context is `<this>-federation`. */
export const LOCAL_CONTEXT = 'uuru-local';
/** A local extension of every instance that answers with Echo(): what partners dial after the prefix. */
export const LOCAL_ECHO_EXTENSION = ECHO_EXTEN;

const localDialplan = (extra: string[] = []): string =>
  [
    `[${LOCAL_CONTEXT}]`,
    `include => ${LOCAL_CONTEXT}-federation`,
    `include => ${TEST_CONTEXT}`,
    ...extra,
    '',
  ].join('\n');

export interface InstanceOptions {
  /** Readable name: Asterisk id prefix and sidecar name (letters, digits, _). */
  name: string;
  db?: 'sqlite' | 'mariadb';
  /** With db 'mariadb': join this existing database (another replica's of one instance, SidecarOptions.sharedMariaDb). */
  sharedMariaDb?: string;
  /** With db 'mariadb': this server (a Galera node) instead of the integration MariaDB (SidecarOptions.mariaDbAt). */
  mariaDbAt?: { host: string; port: number; user: string; password: string };
  /** Settings merged over the instance defaults below (e.g. federation timings). */
  config?: Record<string, unknown>;
  /** Extra UURU_* variables for the sidecar. */
  env?: Record<string, string>;
  /** Extra lines of the phones' context (e.g. `exten => _XXX,1,Answer()` to answer every local number). */
  localDialplan?: string[];
  /**
   * IAX2 on the standard port 4569 at a loopback address of its own (see
   * StartAsteriskOptions.standardIaxPort), advertised to partners: what a v1
   * peering with real calls needs. Default: a random port on 127.0.0.1.
   */
  standardIaxPort?: boolean;
  /** More extensions.conf text after the phones' context (other contexts, e.g. a µURU's `[pjsip_internal]`). */
  extensionsConf?: string;
  /** More Asterisk options (hand-written iax.conf text, realtime, a boot timeout, ...). */
  asterisk?: Omit<StartAsteriskOptions, 'name' | 'extensionsConf' | 'standardIaxPort'>;
  /**
   * AMI port the sidecar connects to, when not Asterisk's own (a fault proxy
   * in front of it); called with the started Asterisk. The test-side AMI
   * session always goes to Asterisk directly.
   */
  amiPort?: (ast: AsteriskInstance) => Promise<number> | number;
  /** Sidecar log level (default warn: the demo and tests read state, not logs). */
  logLevel?: 'error' | 'warn' | 'info' | 'debug';
}

export interface DialResult {
  answered: boolean;
  /** From Originate to answer (or to failure), ms. */
  setupMs: number;
  /** Asterisk's message when not answered. */
  reason: string | null;
}

export interface ChannelRow {
  channel: string;
  context: string;
  exten: string;
  state: string;
  application: string;
}

export interface Instance {
  name: string;
  asterisk: AsteriskInstance;
  sidecar: Sidecar;
  /** A test-side AMI session on this instance's Asterisk (the sidecar has its own). */
  ami: AmiClient;
  /** Calls `number` from the phones' context, as a local phone would; resolves when answered or failed. */
  dial(number: string, opts?: { holdSec?: number; timeoutMs?: number }): Promise<DialResult>;
  /** IAX2 peers Asterisk has loaded right now. */
  iaxPeers(): Promise<IaxPeerEntry[]>;
  /** Channels up right now (`core show channels concise`). */
  channels(): Promise<ChannelRow[]>;
  /** The sidecar's generated Asterisk files, concatenated ('' when not written yet). */
  generatedConfig(): string;
  /** Stops the sidecar (and deletes its data), then Asterisk. */
  stop(): Promise<void>;
}

/** The generated IAX2 file's name (the wiring contract between the layers). */
export const GENERATED_IAX_FILE = 'iax-uuru-federation.conf';
const GENERATED_FILES = [GENERATED_IAX_FILE, 'extensions-uuru-federation.conf'];

/** Sidecar settings that bind it to its Asterisk, with short qualify and job intervals. */
export function sidecarConfig(
  ast: AsteriskInstance,
  amiPort: number,
  extra: Record<string, unknown>,
): Record<string, unknown> {
  const base = {
    instance: { iax2Host: ast.iaxHost, iax2Port: ast.iaxPort, extensionDigits: LOCAL_ECHO_EXTENSION.length },
    asterisk: {
      ami: { host: '127.0.0.1', port: amiPort, user: ast.amiUser, password: ast.amiSecret },
      ari: { url: ast.ariUrl, user: ast.ariUser, password: ast.ariPassword, app: 'uuru-federation' },
      stateBackend: 'files',
      configDir: ast.configDir,
      localContext: LOCAL_CONTEXT,
      inboundTargetContext: LOCAL_CONTEXT,
      qualifyFreqOkMs: 1000,
      qualifyFreqNotOkMs: 1000,
      reloadDebounceMs: 50,
    },
    jobs: { monitorPollMs: 500, outboxPollMs: 100 },
    federation: { outboxRetryBaseMs: 200, outboxRetryMaxMs: 1000, unsolicitedRequestsPerOriginPerHour: 100 },
  };
  return deepMerge(base, extra);
}

export async function startInstance(opts: InstanceOptions): Promise<Instance> {
  const asterisk = await startAsterisk({
    ...opts.asterisk,
    name: opts.name,
    extensionsConf: localDialplan(opts.localDialplan) + (opts.extensionsConf ?? ''),
    standardIaxPort: opts.standardIaxPort,
  });
  let sidecar: Sidecar | null = null;
  const ami = new AmiClient({
    host: '127.0.0.1',
    port: asterisk.amiPort,
    username: asterisk.amiUser,
    secret: asterisk.amiSecret,
    logger: createLogger({ level: 'error', format: 'pretty', silent: true }),
    reconnect: { initialMs: 100, maxMs: 1000 },
  });
  try {
    const amiPort = opts.amiPort ? await opts.amiPort(asterisk) : asterisk.amiPort;
    sidecar = await startSidecar({
      name: opts.name,
      db: opts.db ?? 'sqlite',
      sharedMariaDb: opts.sharedMariaDb,
      mariaDbAt: opts.mariaDbAt,
      config: sidecarConfig(asterisk, amiPort, opts.config ?? {}),
      // The sidecar harness turns Asterisk off by default; variables beat the config file.
      env: {
        UURU_ASTERISK_ENABLED: 'true',
        UURU_LOGLEVEL: opts.logLevel ?? 'warn',
        // The sidecar harness advertises 127.0.0.1 by default; partners must reach this Asterisk's own address.
        UURU_FEDERATION_IAX2_HOST: asterisk.iaxHost,
        ...(opts.env ?? {}),
      },
    });
    ami.start();
    await ami.whenConnected(15_000);
  } catch (e) {
    await ami.stop().catch(() => undefined);
    await sidecar?.destroy().catch(() => undefined);
    await asterisk.stop().catch(() => undefined);
    throw e;
  }
  const sc = sidecar;

  const dial = async (
    number: string,
    o: { holdSec?: number; timeoutMs?: number } = {},
  ): Promise<DialResult> => {
    const timeoutMs = o.timeoutMs ?? 8000;
    const started = Date.now();
    try {
      const r = await ami.action(
        {
          Action: 'Originate',
          Channel: `Local/${number}@${LOCAL_CONTEXT}/n`,
          Application: 'Wait',
          Data: String(o.holdSec ?? 1),
          Timeout: String(timeoutMs),
          Async: 'false',
        },
        { timeoutMs: timeoutMs + 5000 },
      );
      const answered = (r.response ?? '').toLowerCase() === 'success';
      return { answered, setupMs: Date.now() - started, reason: answered ? null : (r.message ?? 'failed') };
    } catch (e) {
      return {
        answered: false,
        setupMs: Date.now() - started,
        reason: e instanceof Error ? e.message : String(e),
      };
    }
  };

  return {
    name: opts.name,
    asterisk,
    sidecar: sc,
    ami,
    dial,
    iaxPeers: () => ami.iaxPeerList(),
    async channels() {
      const out = await ami.command('core show channels concise');
      return out
        .split('\n')
        .filter((l) => l.includes('!'))
        .map((l) => {
          const [channel, context, exten, , state, application] = l.split('!');
          return { channel, context, exten, state, application };
        });
    },
    generatedConfig: () =>
      GENERATED_FILES.map((f) => path.join(asterisk.configDir, f))
        .filter((f) => fs.existsSync(f))
        .map((f) => fs.readFileSync(f, 'utf8'))
        .join('\n'),
    async stop() {
      await ami.stop().catch(() => undefined);
      await sc.destroy().catch(() => undefined);
      await asterisk.stop();
    },
  };
}

/**
 * Starts several instances side by side; if any fails, the others are stopped
 * before the error is passed on, so a failed beforeAll leaves nothing running.
 */
export function startInstances(list: InstanceOptions[]): Promise<Instance[]> {
  return allOrNone(
    list.map((o) => startInstance(o)),
    (i) => i.stop(),
  );
}

/** Awaits every start; if one fails, cleans up the ones that succeeded and rethrows. */
export async function allOrNone<T>(starts: Promise<T>[], cleanup: (t: T) => Promise<void>): Promise<T[]> {
  const started = await Promise.allSettled(starts);
  const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await Promise.allSettled(started.map((r) => (r.status === 'fulfilled' ? cleanup(r.value) : undefined)));
    throw failed.reason;
  }
  return started.map((r) => (r as PromiseFulfilledResult<T>).value);
}

export interface AsteriskAgreement {
  /** Peer names in the sidecar's database. */
  dbPeers: string[];
  /** Peers whose apply_state is not 'applied'. */
  notApplied: string[];
  /** Friend sections in the generated iax-uuru-federation.conf (not the per-epoch `type=user` sections). */
  filePeers: string[];
  /** Peers Asterisk itself lists (`iax2 show peers`, the CLI face of IAXpeerlist). */
  livePeers: string[];
  /** In the database but absent from the file or from Asterisk. */
  missing: string[];
  /** In the file or in Asterisk but not in the database. */
  orphans: string[];
}

/** Section names of an iax.conf-style file. */
export function sectionNames(text: string): string[] {
  return text
    .split('\n')
    .map((l) => /^\[([^\]]+)\]\s*$/.exec(l.trim())?.[1])
    .filter((n): n is string => n !== undefined);
}

/**
 * Sections of an iax.conf-style file with their `type=`: the friends, and the
 * per-epoch `type=user` sections (`<peer>-e0`, `<peer>-e1`) that carry a v2
 * trunk's accepted secrets around a rotation (docs/asterisk.md).
 */
export function iaxSections(text: string): { name: string; type: string | undefined }[] {
  const out: { name: string; type: string | undefined }[] = [];
  for (const raw of text.split('\n')) {
    const l = raw.trim();
    const head = /^\[([^\]]+)\]$/.exec(l);
    if (head) out.push({ name: head[1], type: undefined });
    else if (out.length > 0 && /^type\s*=/.test(l)) out[out.length - 1].type = l.split('=')[1].trim();
  }
  return out;
}

/** Peer names from `iax2 show peers` output (rows are "name/username host ..."). */
export function parseIaxShowPeers(out: string): string[] {
  return out
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('Name/Username') && !/^\d+ iax2 peers/.test(l))
    .map((l) => l.split(/\s+/)[0].split('/')[0]);
}

/**
 * Compares one instance's Peer rows with its generated file and with what
 * Asterisk has loaded. `extraLivePeers` are hand-written peers Asterisk has
 * that are not the sidecar's business.
 */
export async function asteriskAgreement(
  instance: Instance,
  extraLivePeers: string[] = [],
): Promise<AsteriskAgreement> {
  const rows = await instance.sidecar.query<{ name: string; applyState: string }>(
    'SELECT name, applyState FROM {db}.peers',
  );
  const dbPeers = rows.map((r) => r.name).sort();
  const file = path.join(instance.asterisk.configDir, GENERATED_IAX_FILE);
  const sections = fs.existsSync(file) ? iaxSections(fs.readFileSync(file, 'utf8')) : [];
  const filePeers = sections
    .filter((x) => x.type !== 'user')
    .map((x) => x.name)
    .sort();
  // An epoch user belongs to its peer; one whose peer is gone is an orphan.
  const strayUsers = sections
    .filter((x) => x.type === 'user' && !dbPeers.includes(x.name.replace(/-e[01]$/, '')))
    .map((x) => x.name);
  const livePeers = parseIaxShowPeers(await instance.asterisk.cli('iax2 show peers'))
    .filter((n) => !extraLivePeers.includes(n))
    .sort();
  const missing = dbPeers.filter((n) => !filePeers.includes(n) || !livePeers.includes(n));
  const orphans = [...new Set([...filePeers, ...livePeers, ...strayUsers])]
    .filter((n) => !dbPeers.includes(n))
    .sort();
  return {
    dbPeers,
    notApplied: rows.filter((r) => r.applyState !== 'applied').map((r) => r.name),
    filePeers,
    livePeers,
    missing,
    orphans,
  };
}

/** True when nothing is missing, nothing is orphaned and every peer is applied. */
export function agrees(a: AsteriskAgreement): boolean {
  return a.missing.length === 0 && a.orphans.length === 0 && a.notApplied.length === 0;
}
