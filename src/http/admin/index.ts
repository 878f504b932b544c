import { EventEmitter } from 'node:events';
import type { PeerApplyStates, ReplicaDirectory } from '../../core/replicas';
import express, { type NextFunction, type Request, type Response, Router } from 'express';
import type { ServiceContext } from '../../core/feature';
import type { HttpFeature } from '../http-feature';
import type { AsteriskPort } from '../../core/asterisk-port';
import type { DoctorService } from '../../core/diagnostics';
import { AppError } from '../../core/errors';
import type { FederationAdmin } from '../../core/federation-admin';
import type { StateGaugeSource } from '../../core/state-gauges';
import { clientRequestError } from '../client-request-error';
import { PanelEvents } from '../panel/panel-events';
import { panelRouter } from '../panel/panel-routes';
import { type AccountServices, accountApiRoutes } from './account-routes';
import { AdminAuth } from './admin-auth';
import { adminApiRoutes, type AdminServices, API_BASE } from './api-routes';
import { ApiTokenVerifier } from './api-tokens';
import { auditApiHook, auditRoutes } from './audit-routes';
import { AuditTrail } from './audit-trail';
import { warmUpAdminSchemas } from './warm-up';
import { DEFAULT_LOGIN_LIMITS, type FailureLog, LoginThrottle } from './login-throttle';
import { metricsRouter } from './metrics-route';
import { buildOpenApiDocument } from './openapi';
import { mountRoutes } from './route-table';
import { type AdminSessions, MemorySessions, SessionStore } from './session-store';
import type { JobHandle } from '../../jobs/job';
import { runnerFor } from '../../jobs/job-runner';

/**
 * The admin surfaces on the admin listener: the JSON API under /api/admin
 * (bearer token or panel session + CSRF), the server-rendered panel under
 * /panel, and GET /metrics for Prometheus (unauthenticated, like most
 * exporters: keep the admin listener on loopback or a management network).
 */

export type AdminFeatureContext = ServiceContext & {
  federation: FederationAdmin;
  asterisk: AsteriskPort;
  doctor: DoctorService;
  /** The state the metrics' gauges show (peers, keys, outbox), read through the store. */
  stateGauges: StateGaugeSource;
  /** host:port each listener is bound to. */
  listeners(): { federation: string; admin: string };
  /** The Asterisk configuration generated from the peers, secrets replaced (GET /asterisk/config). */
  generatedAsteriskConfig: AccountServices['generatedAsteriskConfig'];
  /** Replicas sharing the database (config.ha): sessions and failed logins there. Unset: in memory. */
  replicas?: {
    sessions: AdminSessions;
    loginFailures: FailureLog;
    directory: ReplicaDirectory;
    applyStates: PeerApplyStates;
  };
};

export const ADMIN_API_VERSION = '1.0.0';

export function createAdminFeature(ctx: AdminFeatureContext): HttpFeature {
  const services: AdminServices = {
    db: ctx.db,
    clock: ctx.clock,
    federation: ctx.federation,
    asterisk: ctx.asterisk,
    doctor: ctx.doctor,
    config: ctx.config,
    listeners: ctx.listeners,
    replicas: ctx.replicas?.directory,
    applyStates: ctx.replicas?.applyStates,
  };
  const sessions = ctx.replicas?.sessions ?? new MemorySessions(new SessionStore(ctx.clock));
  const auth = new AdminAuth(
    ctx.config,
    new ApiTokenVerifier(ctx.db, ctx.clock, ctx.config.admin.bootstrapToken),
    sessions,
  );
  const throttle = new LoginThrottle(ctx.clock, DEFAULT_LOGIN_LIMITS, ctx.replicas?.loginFailures);
  const changes = new EventEmitter();
  changes.setMaxListeners(0);
  const events = new PanelEvents(services, auth, changes, ctx.logger);

  let openApi: Record<string, unknown> | null = null;
  const audit = new AuditTrail(ctx.db, ctx.clock, ctx.logger);
  const routes = [
    ...adminApiRoutes(services, () => openApi),
    ...accountApiRoutes({
      db: ctx.db,
      sessions,
      generatedAsteriskConfig: ctx.generatedAsteriskConfig,
    }),
    ...auditRoutes(audit),
  ];
  openApi = buildOpenApiDocument(routes, API_BASE, ADMIN_API_VERSION);

  const api = Router();
  api.use(express.json({ limit: ctx.config.http.bodyLimitBytes, type: 'application/json' }));
  api.use((req, res, next) => {
    res.setHeader('Cache-Control', 'no-store');
    next();
  });
  mountRoutes(api, routes, auth.api, ctx.logger, auditApiHook(audit));
  api.use((err: unknown, _req: Request, _res: Response, next: NextFunction) => next(asAdminBodyError(err)));

  const router = Router();
  router.use(
    metricsRouter({
      metrics: ctx.metrics,
      state: ctx.stateGauges,
      asterisk: ctx.asterisk,
      clock: ctx.clock,
      applyStates: ctx.replicas?.applyStates,
    }),
  );
  router.use(API_BASE, (req, res, next) => {
    if (req.method !== 'GET') res.on('finish', () => res.statusCode < 400 && changes.emit('change'));
    next();
  });
  router.use(API_BASE, api);
  router.use(
    panelRouter({
      config: ctx.config,
      logger: ctx.logger,
      services,
      auth,
      throttle,
      events,
      changes,
      audit,
    }),
  );

  let handles: JobHandle[] = [];
  return {
    name: 'admin',
    adminRouter: router,
    async start() {
      // The first call of each route should not pay the first run of its schemas; before the jobs' first runs.
      const warmed = await warmUpAdminSchemas(routes);
      ctx.logger.debug('admin schemas warmed up', { component: 'admin', routes: warmed });
      const runner = runnerFor(ctx);
      handles = [...events.jobs, audit.retentionJob(ctx.config.admin.auditRetentionDays)].map((j) =>
        runner.add(j),
      );
    },
    async stop() {
      await Promise.all(handles.map((h) => h.remove()));
      handles = [];
      events.closeAll();
      await sessions.clear();
    },
  };
}

/** Broken requests (body parser failures, a path that is not valid percent-encoding) get admin error codes instead of the federation ones. */
function asAdminBodyError(err: unknown): unknown {
  const fault = clientRequestError(err);
  if (!fault) return err;
  switch (fault.fault) {
    case 'too_large':
      // The same refusal as the federation's: one code for it (issue 12).
      return new AppError('FED_TOO_LARGE', 'the request body is too large');
    case 'not_json':
      return new AppError('INVALID_JSON', 'the request body is not valid JSON');
    case 'unsupported_encoding':
      return new AppError('UNSUPPORTED_ENCODING', 'send the body as UTF-8 JSON');
    case 'malformed_path':
      return new AppError('VALIDATION_FAILED', `invalid request: path: ${fault.message}`, {
        details: {
          issues: [{ field: 'path', message: fault.message }],
        },
      });
    default:
      return new AppError('BAD_REQUEST', fault.message);
  }
}
