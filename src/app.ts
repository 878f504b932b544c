import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type Express, type RequestHandler, Router } from 'express';
import type { DataSource } from 'typeorm';
import type { Config } from './config/schema';
import { type Clock, systemClock } from './core/clock';
import { compileTrustProxy, TRUE_MEANS } from './config/trust-proxy';
import { clientAddress } from './core/client-address';
import { AppError, errorMessage, isAppError } from './core/errors';
import { errorSpec } from './core/error-catalogue';
import { type AsteriskConnectionStatus, type AsteriskPort, DisabledAsteriskPort } from './core/asterisk-port';
import { createLogger, type Logger } from './logging/logger';
import { Metrics } from './core/metrics';
import { openDatabase } from './store/data-source';
import { SqliteCheckpointer } from './store/sqlite-checkpointer';
import { assertDatabaseExists } from './store/database-presence';
import { renderGeneratedConfig } from './asterisk/generated-config';
import { atRestKeyOf, KEY_DOCS } from './store/secrets-at-rest';
import { PeerRunRows } from './store/peer-rows';
import { TypeormTrunkQualityStore } from './store/trunk-quality-samples';
import { TypeormStateGauges } from './store/state-gauges';
import { typeormFederationStores } from './store/typeorm';
import { openSideDatabase } from './store/side-sql';
import {
  asteriskNodeName,
  DbJobLeases,
  DbNodeLease,
  DbPeerApplyStates,
  DbReplicas,
  DbLoginFailures,
  DbOutboxClaims,
  DbRateLimiter,
  DbSharedBuckets,
  DbSessionStore,
  LIVE_BEATS,
  purgeSharedState,
  NodePeerRunRows,
  peersMark,
  replicaName,
} from './store/ha';
import type { ValkeyConnection } from './store/valkey';
import type { SharedHitLimiter } from './federation/rate-limiter';
import { SESSION_LIMITS, SESSION_MAX_MS } from './http/admin/session-store';
import { PACKAGE_VERSION } from './core/version';
import { DEFAULT_LOGIN_LIMITS } from './http/admin/login-throttle';
import { errorMiddleware, notFoundHandler } from './http/error-middleware';
import { type AppRuntime, healthRoutes } from './http/health-routes';
import { createAsteriskFeature } from './asterisk';
import { createFederationFeature } from './federation';
import { PolicyStore } from './federation/policy';
import type { FederationStores } from './federation/ports';
import type { FastRoute, RequestGate } from './http/federation/client-rate-limit';
import { createFederationHttpFeature } from './http/federation';
import { warmUpFederationSurfaces } from './http/federation/warm-up';
import type { HttpFeature } from './http/http-feature';
import type { ServiceContext } from './core/feature';
import { createAdminFeature } from './http/admin';
import { createDoctor } from './doctor';
import { type Backoff, exponentialBackoff } from './jobs/backoff';
import { JobRunner } from './jobs/job-runner';
import { logStartup } from './startup-log';
import { createNotifier, type NotificationService } from './notify';

/**
 * The composition root: main, the CLI and the tests build the sidecar here.
 * Plain constructor wiring, no DI framework. Start order: HTTP listeners
 * (health answers at once), then the database (retried with backoff), then
 * the services that need it; until they are up, other routes answer 503.
 */

/** The database at start-up: 500 ms doubling up to 30 s, no jitter (one sidecar, one database). */
const DATABASE_RETRY: Backoff = { initialMs: 500, maxMs: 30_000 };

export interface AppDeps {
  clock?: Clock;
  logger?: Logger;
  /** Outgoing HTTP to partners; tests may wrap it to inject faults. */
  fetch?: typeof fetch;
  /** Replace the Asterisk layer (e.g. to run the protocol without Asterisk). */
  asterisk?: AsteriskPort;
}

export class App implements AppRuntime {
  readonly logger: Logger;
  readonly clock: Clock;
  readonly fetchImpl: typeof fetch;
  db: DataSource | null = null;
  asterisk: AsteriskPort;
  readonly metrics = new Metrics({ defaultMetrics: true });
  /** Every scheduled or background job of the features (src/jobs). */
  readonly jobs: JobRunner;
  private features: HttpFeature[] = [];
  private notifier: NotificationService | null = null;
  private federationServer: http.Server | null = null;
  private adminServer: http.Server | null = null;
  private federationApp: Express;
  private adminApp: Express | null;
  private ready = false;
  private stopping = false;
  private dbConnecting: Promise<void> | null = null;
  private readonly federationRoutes = Router();
  /** SQLite: WAL checkpoints on a worker thread instead of inside a commit on the event loop. */
  private checkpointer: SqliteCheckpointer | null = null;
  private federationGates: RequestGate[] = [];
  private federationFastRoutes: FastRoute[] = [];
  private readonly adminRoutes = Router();
  readonly hasInjectedAsterisk: boolean;
  /** This replica's name in job leases and outbox claims (config.ha). */
  readonly replica: string;
  /** With replicas (config.ha): this replica's row in `replicas`, and the list the status views show. */
  replicaDirectory: DbReplicas | null = null;
  /** With replicas bound to an Asterisk node: the node's lease (only its holder applies to the node). */
  nodeLease: DbNodeLease | null = null;
  /** With replicas and config.ha.valkeyUrl: the Valkey server that holds sessions, login throttles and rate limits. */
  valkey: ValkeyConnection | null = null;
  /** src/store/valkey, loaded only with config.ha.valkeyUrl: its client library is ~19 MB of RSS otherwise unused. */
  valkeyStores: typeof import('./store/valkey') | null = null;

  constructor(
    readonly config: Config,
    private readonly deps: AppDeps = {},
  ) {
    this.logger = deps.logger ?? createLogger({ level: config.log.level, format: config.log.format });
    this.clock = deps.clock ?? systemClock;
    this.fetchImpl = deps.fetch ?? fetch;
    this.asterisk = deps.asterisk ?? new DisabledAsteriskPort();
    this.hasInjectedAsterisk = deps.asterisk !== undefined;
    this.replica = replicaName(config.ha.replicaId);
    this.jobs = new JobRunner({ logger: this.logger, metrics: this.metrics, now: () => this.clock.now() });
    if (config.http.trustProxy === true) {
      this.logger.warn(
        `UURU_HTTP_TRUST_PROXY=true is read as "${TRUE_MEANS}": only a proxy on this machine is believed. Name your proxies (addresses, CIDRs or a hop count) instead; trusting every hop would let any client pick the address its rate limits count on`,
        { component: 'app' },
      );
    }
    const sameListener = config.http.admin === 'same';
    this.federationApp = this.baseApp();
    this.adminApp = sameListener ? null : this.baseApp();
    this.federationApp.use(this.whenReady(this.federationRoutes));
    (this.adminApp ?? this.federationApp).use(this.whenReady(this.adminRoutes));
    for (const a of [this.federationApp, this.adminApp]) {
      if (!a) continue;
      a.use(notFoundHandler);
      a.use(errorMiddleware(this.logger));
    }
  }

  private baseApp(): Express {
    const a = express();
    a.disable('x-powered-by');
    // No ETag: Express would hash every answer for it, and no client here revalidates (the API answers
    // change with every call, the descriptor carries Cache-Control, the panel's pages are per session).
    a.disable('etag');
    // X-Forwarded-Proto/-Host believed from the same proxies; req.ip is the one client address function.
    const trust = compileTrustProxy(this.config.http.trustProxy);
    a.set('trust proxy', trust);
    Object.defineProperty(a.request, 'ip', {
      configurable: true,
      enumerable: true,
      get(this: http.IncomingMessage) {
        return clientAddress(this, trust);
      },
    });
    a.use(healthRoutes(this));
    return a;
  }

  private whenReady(router: Router): RequestHandler {
    return (req, res, next) => {
      if (!this.ready) {
        next(
          new AppError(
            'FED_UNAVAILABLE',
            'the sidecar is starting or its database is unreachable; retry shortly',
            { headers: { 'Retry-After': '5' } },
          ),
        );
        return;
      }
      router(req, res, next);
    };
  }

  get federationUrl(): string {
    return urlOf(this.federationServer);
  }

  get adminUrl(): string {
    return urlOf(this.adminServer ?? this.federationServer);
  }

  /** host:port each listener is bound to, as the socket says (0.0.0.0 stays 0.0.0.0). */
  listeners(): { federation: string; admin: string } {
    return {
      federation: boundOf(this.federationServer),
      admin: boundOf(this.adminServer ?? this.federationServer),
    };
  }

  async databaseStatus(): Promise<'up' | 'down' | 'connecting'> {
    if (!this.db) return this.dbConnecting ? 'connecting' : 'down';
    try {
      await this.db.query('SELECT 1');
      return 'up';
    } catch {
      return 'down';
    }
  }

  asteriskStatus(): AsteriskConnectionStatus {
    return this.asterisk.status();
  }

  async valkeyStatus(): Promise<'up' | 'down' | null> {
    return this.valkey ? this.valkey.status() : null;
  }

  /** Listens, then connects the database (in the background unless waitForDb) and starts the features. */
  async start(opts: { waitForDb?: boolean } = {}): Promise<void> {
    const { federation, admin } = this.config.http;
    const app = this.federationApp;
    // Gates answer floods before routing; they are added once the features are up.
    const handler = (req: http.IncomingMessage, res: http.ServerResponse, from = 0): void => {
      const gates = this.federationGates;
      for (let i = from; i < gates.length; i++)
        if (gates[i](req, res, () => handler(req, res, i + 1))) return;
      if (this.ready) for (const route of this.federationFastRoutes) if (route(req, res)) return;
      app(req, res);
    };
    this.federationServer = await listen(handler, federation.host, federation.port);
    if (this.adminApp && admin !== 'same')
      this.adminServer = await listen(this.adminApp, admin.host, admin.port);
    logStartup(this.logger, this.config, { federation: this.federationServer, admin: this.adminServer });
    this.dbConnecting = this.connectAndStart();
    if (opts.waitForDb) await this.dbConnecting;
  }

  private async connectAndStart(): Promise<void> {
    for (let attempt = 0; !this.stopping; attempt++) {
      const delay = exponentialBackoff(attempt, DATABASE_RETRY);
      try {
        this.db = await openAppDatabase(this.config);
        this.checkpointer = SqliteCheckpointer.start(this.db, {
          error: (error) => this.logger.warn('background WAL checkpoint failed', { component: 'app', error }),
          running: (running) =>
            this.logger.info(
              running
                ? 'steady writes: WAL checkpoints moved to a worker thread'
                : 'writes quiet: WAL checkpoints back on the connection',
              { component: 'app' },
            ),
        });
        break;
      } catch (e) {
        // Some refusals will not heal by retrying (a key that does not open the stored secrets, a database that
        // cannot hold utf8mb4): the catalogue marks them, and start-up stops on them.
        if (isAppError(e) && errorSpec(e.code).stopsStartup) {
          this.logger.error('cannot start', { component: 'app', code: e.code, error: e.message });
          throw e;
        }
        this.logger.warn('database unreachable, retrying', {
          component: 'app',
          error: errorMessage(e),
          retryInMs: delay,
        });
        await sleep(delay);
      }
    }
    if (this.stopping || !this.db) return;
    const atRest = atRestKeyOf(this.db);
    if (atRest.source === 'file') {
      this.logger.warn(
        `no UURU_KEY_ENCRYPTION_SECRET is set: private keys and IAX2 secrets are encrypted with the key file ${atRest.file}, which lies beside the data, so a copy of the data folder opens them; see ${KEY_DOCS} to keep the key elsewhere`,
        { component: 'app' },
      );
    }
    this.notifier = createNotifier({
      config: this.config,
      clock: this.clock,
      logger: this.logger,
      metrics: this.metrics,
      fetch: this.fetchImpl,
    });
    const ctx: ServiceContext = {
      config: this.config,
      db: this.db,
      clock: this.clock,
      logger: this.logger,
      fetch: this.fetchImpl,
      metrics: this.metrics,
      jobs: this.jobs,
      notifier: this.notifier,
    };
    if (this.config.ha.enabled) {
      this.jobs.useLeases(new DbJobLeases(this.db, this.clock, this.replica));
      this.logger.info('replica of a shared database', { component: 'app', replica: this.replica });
      // Not awaited: a Valkey server down at start holds nothing up (sessions refuse, limits count in memory).
      if (this.config.ha.valkeyUrl !== undefined && !this.valkey) {
        this.valkeyStores = await import('./store/valkey');
        this.valkey = new this.valkeyStores.ValkeyConnection(this.config.ha.valkeyUrl, this.logger);
        this.logger.info('sessions, login throttles and the per-partner and per-IP limits in Valkey', {
          component: 'app',
          server: this.valkey.address,
        });
      }
      const ami = this.config.asterisk.ami.host;
      if (
        this.config.asterisk.enabled &&
        this.config.ha.asteriskNode === undefined &&
        /^(localhost|127\.|::1$|\[::1\])/.test(ami)
      ) {
        this.logger.warn(
          `UURU_HA_ASTERISK_NODE is not set: this replica's Asterisk node is named after its AMI address ${asteriskNodeName(this.config)}, a loopback address every machine has; replicas with an Asterisk each on their own machine must each set a name of their own, or only one of them applies (one lease per node name)`,
          { component: 'app' },
        );
      }
    }
    // Started first, so that a job a feature adds while it starts runs from that moment on.
    this.jobs.start();
    this.features = await buildFeatures(ctx, this);
    for (const f of this.features) {
      if (f.federationRouter) this.federationRoutes.use(f.federationRouter);
      if (f.federationGate) this.federationGates.push(f.federationGate);
      if (f.federationFastRoute) this.federationFastRoutes.push(f.federationFastRoute);
      if (f.adminRouter) this.adminRoutes.use(f.adminRouter);
    }
    for (const f of this.features) await f.start?.();
    this.ready = true;
    this.logger.info('ready', {
      component: 'app',
      features: this.features.map((f) => f.name),
      jobs: this.jobs.names,
    });
    // The federation surfaces' refusal paths once, so a flood's first burst does not pay their first run.
    const address = this.federationServer?.address();
    if (address && typeof address === 'object') {
      void warmUpFederationSurfaces(address).then((statuses) =>
        this.logger.debug('federation surfaces warmed up', { component: 'app', statuses }),
      );
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.ready = false;
    await Promise.all([closeServer(this.federationServer), closeServer(this.adminServer)]);
    await this.dbConnecting?.catch(() => undefined);
    for (const f of [...this.features].reverse()) {
      try {
        await f.stop?.();
      } catch (e) {
        this.logger.warn('feature stop failed', {
          component: 'app',
          feature: f.name,
          error: errorMessage(e),
        });
      }
    }
    // The features took their own jobs off; this waits for anything left before the database goes.
    await this.jobs.stop();
    // Its Asterisk node to another replica of the node at once, not after the lease expired.
    await this.nodeLease?.release().catch(() => undefined);
    // A clean stop takes this replica off the list (a killed one stays, shown as not live).
    await this.replicaDirectory?.leave().catch(() => undefined);
    await this.notifier?.stop();
    await this.checkpointer?.stop();
    await this.valkey?.close();
    if (this.db?.isInitialized) await this.db.destroy();
  }
}

/**
 * Builds each feature in order. Features are added here as they land
 * (Asterisk layer, federation protocol, admin surfaces, jobs).
 */
async function buildFeatures(ctx: ServiceContext, app: App): Promise<HttpFeature[]> {
  const features: HttpFeature[] = [];
  // The federation policy owns the unfederated numbers; the dial plan gets them from the same store.
  // The protocol core's stores on this database; the type annotation checks they fit its ports.
  const stores: FederationStores = typeormFederationStores(ctx.db, ctx.clock);
  const policy = new PolicyStore({ settings: stores.settings, clock: ctx.clock, config: ctx.config });
  // Replicas (config.ha): the state they must share lives in the database; one sidecar keeps it in memory.
  const directory = ctx.config.ha.enabled
    ? new DbReplicas(
        ctx.db,
        ctx.clock,
        app.replica,
        asteriskNodeName(ctx.config),
        PACKAGE_VERSION,
        ctx.config.ha.heartbeatMs,
      )
    : null;
  if (directory) app.replicaDirectory = directory;
  if (ctx.config.asterisk.enabled && !app.hasInjectedAsterisk) {
    const node = directory?.self.asteriskNode;
    // Replicas bound to the same node: one applies to it, the holder of the node's lease, renewed every beat.
    const heartbeatMs = ctx.config.ha.heartbeatMs;
    const nodeLease = node
      ? new DbNodeLease(ctx.db, ctx.clock, app.replica, node, LIVE_BEATS * heartbeatMs, heartbeatMs)
      : null;
    if (nodeLease && !ctx.jobs?.names.includes('node-lease')) {
      app.nodeLease = nodeLease;
      ctx.jobs?.add({
        name: 'node-lease',
        schedule: { everyMs: heartbeatMs },
        runAtStart: true,
        run: () => nodeLease.tick(),
      });
    }
    const ast = createAsteriskFeature({
      ...ctx,
      unfederated: policy,
      // With replicas, this replica's Asterisk node has apply states of its own (peer_node_states).
      peers: node ? new NodePeerRunRows(ctx.db, node, ctx.clock) : new PeerRunRows(ctx.db),
      quality: new TypeormTrunkQualityStore(ctx.db),
      nodeLease: nodeLease ?? undefined,
    });
    app.asterisk = ast.port;
    features.push(ast);
  }
  // With a Valkey server (config.ha.valkeyUrl) the sessions, failed logins and shared limits live there instead.
  const valkey = app.valkey;
  const V = app.valkeyStores;
  /** A fixed-window limit all replicas count together: in Valkey when configured, else in the database. */
  const sharedLimiter = (name: string, limit: number, windowMs: number): SharedHitLimiter =>
    valkey && V
      ? new V.ValkeyRateLimiter(valkey, name, limit, windowMs)
      : new DbRateLimiter(ctx.db, ctx.clock, name, limit, windowMs);
  const ha = directory
    ? {
        directory,
        applyStates: new DbPeerApplyStates(ctx.db, directory),
        outboxClaims: new DbOutboxClaims(ctx.db, ctx.clock, app.replica, ctx.config.ha.claimMs),
        perOrigin: (limit: number) => sharedLimiter('origin', limit, 60_000),
        perIpBuckets:
          valkey && V ? new V.ValkeySharedBuckets(valkey, ctx.clock) : new DbSharedBuckets(ctx.db, ctx.clock),
        sessions:
          valkey && V
            ? new V.ValkeySessionStore(valkey, ctx.clock, SESSION_LIMITS)
            : new DbSessionStore(ctx.db, ctx.clock, SESSION_LIMITS),
        loginFailures:
          valkey && V ? new V.ValkeyLoginFailures(valkey, ctx.clock) : new DbLoginFailures(ctx.db, ctx.clock),
      }
    : undefined;
  if (ha) {
    // Claims this replica's name holds are from its previous life: delivery resumes now, not after ha.claimMs.
    const released = await ha.outboxClaims.releaseOwn();
    if (released > 0)
      ctx.logger.info('outbox claims of this replica before its restart given back', {
        component: 'app',
        replica: app.replica,
        claims: released,
      });
  }
  if (directory && !ctx.jobs?.names.includes('replica-heartbeat'))
    ctx.jobs?.add({
      name: 'replica-heartbeat',
      schedule: { everyMs: ctx.config.ha.heartbeatMs },
      runAtStart: true,
      run: () => directory.beat(),
    });
  // A peer another replica changed reaches this replica's Asterisk within a watch period, not at the next cron.
  if (directory?.self.asteriskNode && !ctx.jobs?.names.includes('peer-watch')) {
    let seen: string | null = null;
    ctx.jobs?.add({
      name: 'peer-watch',
      schedule: { gapMs: ctx.config.ha.peerWatchMs },
      run: async () => {
        const mark = await peersMark(ctx.db);
        if (seen !== null && mark !== seen) await app.asterisk.syncPeers('a replica changed the peers');
        seen = mark;
      },
    });
  }
  // Rows of replicas gone for good (and the leases they held) do not stay listed for ever.
  if (directory && !ctx.jobs?.names.includes('replica-purge')) {
    const { heartbeatMs, replicaPurgeMs } = ctx.config.ha;
    // Never sooner than two live windows: a replica that only stalls keeps its row.
    const notSeenForMs = Math.max(replicaPurgeMs, 2 * LIVE_BEATS * heartbeatMs);
    ctx.jobs?.add({
      name: 'replica-purge',
      schedule: { everyMs: Math.min(Math.max(Math.floor(notSeenForMs / 2), heartbeatMs), 3_600_000) },
      scope: 'cluster',
      run: async () => {
        const purged = await directory.purgeGone(notSeenForMs);
        if (purged.length > 0)
          ctx.logger.info('replicas not seen for long purged, their leases given back', {
            component: 'app',
            replicas: purged,
          });
        const nodes = await directory.purgeUnboundNodes(notSeenForMs);
        if (nodes.length > 0)
          ctx.logger.info('apply states of Asterisk nodes no replica is bound to purged', {
            component: 'app',
            nodes,
          });
      },
    });
  }
  if (ha && !ctx.jobs?.names.includes('shared-state-purge')) {
    const db = ctx.db;
    ctx.jobs?.add({
      name: 'shared-state-purge',
      schedule: { everyMs: 5 * 60_000 },
      scope: 'cluster',
      run: () =>
        purgeSharedState(db, ctx.clock, {
          rateWindowMs: 60_000,
          loginWindowMs: DEFAULT_LOGIN_LIMITS.windowMs,
          sessionMaxMs: SESSION_MAX_MS,
        }),
    });
  }
  const fed = createFederationFeature({
    ...ctx,
    asterisk: app.asterisk,
    policy,
    stores,
    openSideDatabase,
    replicas: ha,
  });
  features.push(fed);
  features.push(createFederationHttpFeature(fed.surface, ctx));
  // The admin layer runs reconciles through the port (reconcileNow), which reports what it did.
  const doctor = createDoctor({
    ...ctx,
    federation: fed.admin,
    asterisk: app.asterisk,
    partners: fed.partnerProbe,
  });
  features.push(
    createAdminFeature({
      ...ctx,
      replicas: ha,
      federation: fed.admin,
      asterisk: app.asterisk,
      doctor,
      stateGauges: new TypeormStateGauges(ctx.db),
      listeners: () => app.listeners(),
      // The renderer the reconciler uses, on the same policy: what `uuru-fed asterisk config` shows.
      generatedAsteriskConfig: () =>
        renderGeneratedConfig({
          config: ctx.config,
          peers: new PeerRunRows(ctx.db),
          unfederated: policy,
          now: ctx.clock.now(),
        }),
    }),
  );
  return features;
}

export function buildApp(config: Config, deps: AppDeps = {}): App {
  return new App(config, deps);
}

/**
 * The database as every root opens it: the App at start, and the CLI's
 * database commands (which pass `secrets: false`, as they only touch the
 * admin tables, and `create: false` unless --init: the sidecar creates its
 * database on its first start, the CLI refuses to make a new empty one).
 */
export async function openAppDatabase(
  config: Config,
  opts: { secrets?: boolean; create?: boolean } = {},
): Promise<DataSource> {
  if (opts.create === false) await assertDatabaseExists(config);
  return openDatabase(config, { secrets: opts.secrets });
}

function listen(app: http.RequestListener, host: string, port: number): Promise<http.Server> {
  return new Promise((resolve, reject) => {
    const server = http.createServer(app);
    server.keepAliveTimeout = 5000;
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

function closeServer(server: http.Server | null): Promise<void> {
  if (!server || !server.listening) return Promise.resolve();
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

function boundOf(server: http.Server | null): string {
  const addr = server?.address() as AddressInfo | null;
  if (!addr) return '';
  return addr.family === 'IPv6' ? `[${addr.address}]:${addr.port}` : `${addr.address}:${addr.port}`;
}

function urlOf(server: http.Server | null): string {
  const addr = server?.address() as AddressInfo | null;
  if (!addr) return '';
  const host =
    addr.family === 'IPv6' ? `[${addr.address}]` : addr.address === '0.0.0.0' ? '127.0.0.1' : addr.address;
  return `http://${host}:${addr.port}`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
