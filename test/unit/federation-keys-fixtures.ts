import fs from 'node:fs';
import { typeormFederationStores } from '../../src/store/typeorm';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import express from 'express';
import type { DataSource } from 'typeorm';
import { type Config, type ConfigInput, configSchema } from '../../src/config/schema';
import { ManualClock } from '../harness/manual-clock';
import { Metrics } from '../../src/core/metrics';
import { buildDescriptor, DESCRIPTOR_PATH, type Descriptor } from '../../src/federation/descriptor';
import { LocalKeys } from '../../src/federation/local-keys';
import type { NonceStore } from '../../src/federation/nonce-store';
import { PartnerKeyStore } from '../../src/federation/partner-keys';
import { RequestVerifier } from '../../src/federation/request-verifier';
import { createLogger, type Logger } from '../../src/logging/logger';
import { openDatabase } from '../../src/store/data-source';

/**
 * Shared set-up for the key and signature tests: a "test instance" is a real
 * SQLite database in a temp dir, real LocalKeys/PartnerKeyStore/verifier,
 * and a real HTTP server on 127.0.0.1:0 that serves its descriptor (and, when
 * asked, verifies signed calls). Time is a ManualClock shared by instances.
 */

export class LogCapture {
  readonly lines: string[] = [];
  readonly logger: Logger;
  constructor() {
    const lines = this.lines;
    const stream = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(chunk.toString('utf8'));
        cb();
      },
    });
    this.logger = createLogger({ level: 'debug', format: 'json', stream });
  }
  text(): string {
    return this.lines.join('\n');
  }
}

export interface TempDb {
  db: DataSource;
  dir: string;
  config: Config;
  close(): Promise<void>;
}

/** A database other than the default temp SQLite file (e.g. a MariaDB database of the test harness). */
export type DatabaseInput = ConfigInput['database'];

export function makeConfig(
  dir: string,
  publicUrl: string,
  keyEncryptionSecret?: string,
  database?: DatabaseInput,
): Config {
  return configSchema.parse({
    dataDir: dir,
    instance: { publicUrl },
    database: database ?? { type: 'sqlite', sqlitePath: path.join(dir, 'test.sqlite') },
    federation: keyEncryptionSecret === undefined ? {} : { keyEncryptionSecret },
    asterisk: { enabled: false },
  });
}

export async function tempDb(
  publicUrl = 'http://127.0.0.1:9',
  secret?: string,
  database?: DatabaseInput,
): Promise<TempDb> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uuru-fed-keys-'));
  const config = makeConfig(dir, publicUrl, secret, database);
  const db = await openDatabase(config);
  return {
    db,
    dir,
    config,
    close: async () => {
      if (db.isInitialized) await db.destroy();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export type DescriptorMode = 'ok' | 'fail' | 'not_found' | 'slow';

/** A counting, switchable descriptor endpoint: every request is counted, whatever the mode. */
export interface TestInstance {
  url: string;
  serverName: string;
  clock: ManualClock;
  config: Config;
  db: DataSource;
  logs: LogCapture;
  metrics: Metrics;
  localKeys: LocalKeys;
  partnerKeys: PartnerKeyStore;
  nonces: NonceStore;
  verifier: RequestVerifier;
  descriptorHits: number;
  descriptorMode: DescriptorMode;
  /** Delay before answering, in every mode ('slow' never answers). */
  descriptorDelayMs: number;
  /** Replace what the descriptor endpoint serves (e.g. a tampered descriptor). */
  descriptorOverride: ((d: Descriptor) => Descriptor) | null;
  /** server_name the signed test endpoint expects requests from. */
  acceptFrom: string;
  descriptor(): Promise<Descriptor>;
  close(): Promise<void>;
}

export async function startInstance(opts: {
  clock: ManualClock;
  secret?: string;
  lifetimeDays?: number;
  partnerTimeoutMs?: number;
  database?: DatabaseInput;
}): Promise<TestInstance> {
  const app = express();
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  let tmp: TempDb;
  try {
    tmp = await tempDb(url, opts.secret, opts.database);
  } catch (e) {
    server.close();
    throw e;
  }
  const logs = new LogCapture();
  const metrics = new Metrics();
  const stores = typeormFederationStores(tmp.db, opts.clock);
  const localKeys = new LocalKeys({
    store: stores.localKeys,
    transactions: stores.transactions,
    keyEncryptionSecret: stores.keyEncryptionSecret,
    clock: opts.clock,
    config: tmp.config,
    logger: logs.logger,
    lifetimeDays: opts.lifetimeDays,
  });
  await localKeys.ensureKeys();
  const partnerKeys = new PartnerKeyStore({
    store: stores.partners,
    clock: opts.clock,
    fetch,
    logger: logs.logger,
    timeoutMs: opts.partnerTimeoutMs ?? 2000,
  });
  const nonces = stores.nonces;
  const verifier = new RequestVerifier({
    clock: opts.clock,
    partnerKeys,
    nonces,
    ourPublicUrl: url,
    logger: logs.logger,
    metrics,
  });
  const inst: TestInstance = {
    url,
    serverName: `127.0.0.1:${port}`,
    clock: opts.clock,
    config: tmp.config,
    db: tmp.db,
    logs,
    metrics,
    localKeys,
    partnerKeys,
    nonces,
    verifier,
    descriptorHits: 0,
    descriptorMode: 'ok',
    descriptorDelayMs: 0,
    descriptorOverride: null,
    acceptFrom: '',
    descriptor: () =>
      buildDescriptor({ config: tmp.config, localKeys, policyMode: 'open', now: opts.clock.now() }).then(
        (d) => (inst.descriptorOverride ? inst.descriptorOverride(d) : d),
      ),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await tmp.close();
    },
  };
  app.get(DESCRIPTOR_PATH, (_req, res, next) => {
    inst.descriptorHits++;
    const answer = async () => {
      if (inst.descriptorDelayMs > 0) await new Promise((r) => setTimeout(r, inst.descriptorDelayMs));
      if (inst.descriptorMode === 'fail')
        return res.status(500).json({ error: 'INTERNAL', message: 'injected' });
      if (inst.descriptorMode === 'not_found')
        return res.status(404).json({ error: 'NOT_FOUND', message: 'none' });
      // 'slow' never answers; close() drops the connection.
      if (inst.descriptorMode === 'slow') return undefined;
      return res.json(await inst.descriptor());
    };
    answer().catch(next);
  });
  // A signed endpoint that answers with the verifier's result, for real HTTP round trips.
  app.all('/federation/v2/*rest', express.raw({ type: '*/*', limit: '64kb' }), (req, res, next) => {
    const rawBody = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const expected = inst.acceptFrom;
    inst.verifier
      .verify(
        { method: req.method, targetUri: `${url}${req.originalUrl}`, headers: req.headers, rawBody },
        expected,
      )
      .then((r) => {
        if (r.ok) res.json({ ok: true, serverName: r.serverName, kid: r.kid });
        else res.status(r.status).json({ error: r.code, message: r.message, server_time: r.serverTime });
      })
      .catch(next);
  });
  return inst;
}

/** A port nothing listens on (bound, then released). */
export async function deadUrl(): Promise<string> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}
