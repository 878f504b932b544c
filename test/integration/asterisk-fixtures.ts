/**
 * Shared set-up of the Asterisk layer's integration tests: a sidecar's
 * Asterisk feature built the way the app builds it (Config from loadConfig,
 * DataSource from openDatabase) against a real Asterisk from the harness.
 */
import { PeerRunRows } from '../../src/store/peer-rows';
import { TypeormTrunkQualityStore } from '../../src/store/trunk-quality-samples';
import { TypeormSettingStore } from '../../src/store/typeorm';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { DataSource } from 'typeorm';
import type { ServiceContext } from '../../src/core/feature';
import { AmiClient, type AmiMessage } from '../../src/asterisk/ami-client';
import type { AriLink } from '../../src/asterisk/asterisk-links';
import { createAsteriskFeature, type AsteriskFeature } from '../../src/asterisk';
import { loadConfig } from '../../src/config/load-config';
import type { Config } from '../../src/config/schema';
import { systemClock } from '../../src/core/clock';
import { Metrics } from '../../src/core/metrics';
import { PolicyStore } from '../../src/federation/policy';
import { createLogger } from '../../src/logging/logger';
import { type Peer, PeerEntity } from '../../src/store/entities';
import { openDatabase } from '../../src/store/data-source';
import type { AsteriskInstance } from '../harness/asterisk';
import { newPeerRow } from '../harness/peer-row';
import { deepMerge } from '../../src/config/deep-merge';

export const TEST_EXTENSION = '9999';
export const LOCAL_CONTEXT = 'uuru-local';

/** extensions.conf text every instance gets: the phones' context includes the federation context. */
export const LOCAL_DIALPLAN = [`[${LOCAL_CONTEXT}]`, `include => ${LOCAL_CONTEXT}-federation`, ''].join('\n');

export interface Sidecar {
  config: Config;
  db: DataSource;
  feature: AsteriskFeature;
  /** The feature's own AMI client (real), so tests can watch the events it sees. */
  ami: AmiClient;
  metrics: Metrics;
  /** The federation's policy store on this sidecar's database (what the app hands the Asterisk layer). */
  policy: PolicyStore;
  dataDir: string;
  stop(): Promise<void>;
}

export async function startSidecar(
  ast: AsteriskInstance,
  overrides: Record<string, unknown> = {},
  links: { ari?: AriLink } = {},
): Promise<Sidecar> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'uuru-ast-test-'));
  const base = {
    dataDir,
    database: { type: 'sqlite', sqlitePath: path.join(dataDir, 'db.sqlite') },
    instance: { extensionDigits: 4 },
    asterisk: {
      ami: {
        host: '127.0.0.1',
        port: ast.amiPort,
        user: ast.amiUser,
        password: ast.amiSecret,
        actionTimeoutMs: 10000,
      },
      ari: { url: ast.ariUrl, user: ast.ariUser, password: ast.ariPassword, app: `uuru-fed-${ast.id}` },
      configDir: ast.configDir,
      localContext: LOCAL_CONTEXT,
      inboundTargetContext: LOCAL_CONTEXT,
      testExtension: TEST_EXTENSION,
      qualifyFreqOkMs: 1000,
      qualifyFreqNotOkMs: 1000,
      reloadDebounceMs: 200,
    },
    // Far away: tests trigger runs themselves.
    jobs: { monitorPollMs: 300, reconcileCron: '0 0 1 1 *' },
    log: { level: 'warn' },
  };
  const config = loadConfig({ env: {}, overrides: deepMerge(base, overrides) });
  const db = await openDatabase(config);
  const logger = createLogger({
    level: process.env.UURU_TEST_LOG ?? 'warn',
    format: 'pretty',
    silent: process.env.UURU_TEST_LOG === undefined,
  });
  const metrics = new Metrics();
  const ami = new AmiClient({
    host: '127.0.0.1',
    port: ast.amiPort,
    username: ast.amiUser,
    secret: ast.amiSecret,
    logger,
    reconnect: { initialMs: 100, maxMs: 500 },
  });
  const ctx: ServiceContext = { config, db, clock: systemClock, logger, fetch, metrics };
  // The federation policy is the owner of the unfederated numbers, as in the app.
  const policy = new PolicyStore({ settings: new TypeormSettingStore(db), clock: systemClock, config });
  const feature = createAsteriskFeature(
    { ...ctx, unfederated: policy, peers: new PeerRunRows(db), quality: new TypeormTrunkQualityStore(db) },
    { ami, ari: links.ari },
  );
  await feature.start();
  await ami.whenConnected(15000);
  return {
    config,
    db,
    feature,
    ami,
    metrics,
    policy,
    dataDir,
    async stop() {
      await feature.stop();
      if (db.isInitialized) await db.destroy();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export const sharedSecret = (): string => crypto.randomBytes(24).toString('base64url');

export async function insertPeer(
  db: DataSource,
  p: { name: string; prefix: string; port: number; secret: string; host?: string },
): Promise<Peer> {
  const row = newPeerRow({
    name: p.name,
    prefix: p.prefix,
    partnerUrl: 'http://127.0.0.1:1',
    partnerIaxHost: p.host ?? '127.0.0.1',
    partnerIaxPort: p.port,
    codec: 'ulaw',
    secret: p.secret,
    dialect: 'v2',
    role: 'requester',
  });
  await db.getRepository(PeerEntity).insert(row);
  return row;
}

export async function peerRow(db: DataSource, name: string): Promise<Peer> {
  const row = await db.getRepository(PeerEntity).findOne({ where: { name } });
  if (!row) throw new Error(`no peer ${name}`);
  return row;
}

/** Dials a number from the phones' context on this instance; resolves true when the far end answered. */
export async function dial(ami: AmiClient, number: string, waitSec = 1): Promise<boolean> {
  try {
    const r = await ami.action(
      {
        Action: 'Originate',
        Channel: `Local/${number}@${LOCAL_CONTEXT}/n`,
        Application: 'Wait',
        Data: String(waitSec),
        Timeout: '8000',
        Async: 'false',
      },
      { timeoutMs: 15000 },
    );
    return (r.response ?? '').toLowerCase() === 'success';
  } catch {
    return false;
  }
}

/** Starts a call that stays up for holdSec, without waiting for it. */
export async function startLongCall(ami: AmiClient, number: string, holdSec: number): Promise<void> {
  await ami.action({
    Action: 'Originate',
    Channel: `Local/${number}@${LOCAL_CONTEXT}/n`,
    Application: 'Wait',
    Data: String(holdSec),
    Timeout: '8000',
    Async: 'true',
  });
}

/** Names of the IAX2 channels an instance has up right now. */
export async function iaxChannels(ast: AsteriskInstance): Promise<string[]> {
  const out = await ast.cli('core show channels concise');
  return out
    .split('\n')
    .map((l) => l.split('!')[0])
    .filter((c) => c.startsWith('IAX2/'));
}

/** Counts AMI Reload events per module from now on. */
export function countReloads(ami: AmiClient): { counts: Map<string, number>; stop(): void } {
  const counts = new Map<string, number>();
  const onReload = (m: AmiMessage) => {
    const mod = m.module ?? 'all';
    counts.set(mod, (counts.get(mod) ?? 0) + 1);
  };
  ami.on('Reload', onReload);
  return { counts, stop: () => ami.off('Reload', onReload) };
}

/** The states whose uuru_fed_peer_state series is 1 for a peer (the monitor's view in the sidecar's metrics). */
export async function peerStatesOn(metrics: Metrics, peer: string): Promise<string[]> {
  return (await metrics.peerState.get()).values
    .filter((v) => v.labels.peer === peer && v.value === 1)
    .map((v) => String(v.labels.state));
}

/** uuru_fed_peer_latency_seconds of a peer, or undefined without a series. */
export async function peerLatencySeconds(metrics: Metrics, peer: string): Promise<number | undefined> {
  return (await metrics.peerLatency.get()).values.find((v) => v.labels.peer === peer)?.value;
}
