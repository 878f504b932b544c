import express, { Router, type ErrorRequestHandler, type Request } from 'express';
import type { z } from 'zod';
import type { Config } from '../../config/schema';
import { AppError, isAppError } from '../../core/errors';
import type { Metrics } from '../../core/metrics';
import { clientRequestError } from '../client-request-error';
import type { Logger } from '../../logging/logger';
import type { AddressTurns } from './address-turns';
import { perIpLimit } from './client-rate-limit';
import type { InboundHandshake } from '../../federation/handshake-inbound';
import type { Phonebook } from '../../federation/phonebook';
import type { MaybeSharedHitLimiter } from '../../federation/rate-limiter';
import { answered } from './answer';
import { counted } from './request-metrics';
import {
  describeIssues,
  V1_REQUEST_ID,
  V1_REQUEST_ID_RULE,
  V1_SECRET,
  v1IncomingRequestBody,
  v1OutgoingStatusBody,
  v1TeardownBody,
} from '../../federation/wire-schemas';

/**
 * The stock µURU federation API (base /api/v1), answered the way µURU
 * answers: 200 {"status":"OK"}, refusals 403, missing accept fields 400,
 * schema errors 422, every error as {"detail": ...}. No auth header: the
 * shared secret in the body or query is the credential (compared in constant
 * time). 200 is sent only after the change is committed.
 */
export function legacyRoutes(deps: {
  config: Config;
  metrics: Metrics;
  logger: Logger;
  inbound: InboundHandshake;
  phonebook: Phonebook;
  perIp: MaybeSharedHitLimiter;
  /** One address's calls a few at a time (shared with the uuru-fed/2 routes). */
  turns?: AddressTurns;
}): Router {
  const r = Router();
  const { metrics } = deps;
  r.use(perIpLimit(deps.perIp, metrics, 'v1', 'v1', deps.turns));
  r.use(express.json({ limit: deps.config.http.bodyLimitBytes, type: () => true, strict: true }));

  const parse = <T extends z.ZodType>(schema: T, value: unknown): z.infer<T> => {
    const p = schema.safeParse(value ?? {});
    if (!p.success) throw new AppError('V1_UNPROCESSABLE', `invalid body: ${describeIssues(p.error)}`);
    return p.data;
  };
  // Path and query parameters are checked before any lookup, as FastAPI validates them: 422.
  const idParam = (req: Request): string => {
    const id = String(req.params.id);
    if (!V1_REQUEST_ID.test(id))
      throw new AppError('V1_UNPROCESSABLE', `invalid id in the path: ${V1_REQUEST_ID_RULE}`);
    return id;
  };
  const secretQuery = (req: Request): string => {
    const secret = req.query.secret;
    if (typeof secret !== 'string')
      throw new AppError('V1_UNPROCESSABLE', 'query parameter secret is required');
    // Every stored v1 secret has µURU's form (checked on receipt), so no other value can match.
    if (!V1_SECRET.test(secret))
      throw new AppError('V1_UNPROCESSABLE', 'query parameter secret must be 32 characters of A-Z, a-z, 0-9');
    return secret;
  };

  r.post(
    '/federation/incoming/request',
    answered(metrics, 'v1-incoming-request', async (req) => {
      return deps.inbound.v1Request(parse(v1IncomingRequestBody, req.body));
    }),
  );

  r.delete(
    '/federation/incoming/request/:id',
    answered(metrics, 'v1-revoke', async (req) => {
      const id = idParam(req);
      return deps.inbound.v1Revoke(id, secretQuery(req));
    }),
  );

  r.put(
    '/federation/outgoing/request/:id',
    answered(metrics, 'v1-outgoing-status', async (req) => {
      const id = idParam(req);
      return deps.inbound.v1Status(id, parse(v1OutgoingStatusBody, req.body));
    }),
  );

  r.post(
    '/federation/peer/teardown',
    answered(metrics, 'v1-teardown', async (req) => {
      const body = parse(v1TeardownBody, req.body);
      return deps.inbound.v1Teardown(body.name, body.secret);
    }),
  );

  r.get(
    '/extension/phonebook',
    counted(metrics, 'v1-phonebook', async (_req, res) => {
      res.json(await deps.phonebook.publicEntries());
    }),
  );

  r.use(v1Errors(deps.logger));
  const outer = Router();
  outer.use('/api/v1', r);
  return outer;
}

/**
 * Renders errors as µURU does ({"detail": ...}). A body that is not JSON or a
 * path parameter that is not valid percent-encoding is a request validation
 * error, 422 as FastAPI answers it; other broken requests keep their 4xx
 * (413 too large, 415 charset or encoding, 400 cut off).
 */
function v1Errors(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, next) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    if (isAppError(err)) {
      for (const [k, v] of Object.entries(err.headers ?? {})) res.setHeader(k, v);
      if (err.status >= 500) logger.warn(err.message, { component: 'v1', code: err.code, path: req.path });
      res.status(err.status).json({ detail: err.message });
      return;
    }
    const fault = clientRequestError(err);
    if (fault) {
      const validation = fault.fault === 'not_json' || fault.fault === 'malformed_path';
      res.status(validation ? 422 : fault.status).json({ detail: fault.message });
      return;
    }
    next(err);
  };
}
