import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { Router, type Request } from 'express';
import type { z } from 'zod';
import type { Config } from '../../config/schema';
import { AppError, isAppError } from '../../core/errors';
import type { Metrics } from '../../core/metrics';
import { isPeeringName, PEERING_NAME_RULE } from '../../core/peering-name';
import type { AddressTurns } from './address-turns';
import { perIpLimit, wasCounted, type FastRoute } from './client-rate-limit';
import {
  buildDescriptor,
  DESCRIPTOR_MAX_AGE_S,
  DESCRIPTOR_PATH,
  type Descriptor,
} from '../../federation/descriptor';
import type { FederationSurface } from '../../federation';
import { parseUuruSignature, SignatureParseError } from '../../federation/http-signature';
import { authorityOf } from '../../federation/partner-call';
import { answered } from './answer';
import { counted } from './request-metrics';
import { writeError, writeJson } from '../error-middleware';
import type { Logger } from '../../logging/logger';
import type { Clock } from '../../core/clock';
import { targetUriBuilder } from '../../federation/request-verifier';
import {
  describeIssues,
  REQUEST_ID,
  v2AcceptBody,
  v2DeclineBody,
  v2PeeringRequestBody,
  v2SecretEpochsBody,
  v2SecretRotationBody,
  v2TeardownBody,
  v2UpgradeBody,
} from '../../federation/wire-schemas';

export interface V2RouteDeps extends FederationSurface {
  config: Config;
  clock: Clock;
  metrics: Metrics;
  logger: Logger;
  /** One address's calls a few at a time (shared with the v1 routes). */
  turns?: AddressTurns;
}

/** What the signed routes read of a request: an Express request, or a plain Node one on the fast route. */
type SignedCall = Pick<Request, 'method' | 'originalUrl' | 'headers' | 'socket'> & { body?: unknown };

/** The body of a call without one (zero bytes: nothing can be written into it). */
const NO_BODY = Buffer.alloc(0);

/** The uuru-fed/2 routes (Express) and the fast route for the peering-state poll (before Express). */
export interface V2Surface {
  router: Router;
  fastRoute: FastRoute | null;
}

/**
 * uuru-fed/2 endpoints (base /federation/v2) and the descriptor. Each signed
 * call: per-IP limit, raw body (size limit), signature verification against
 * the partner the addressed record belongs to, per-origin limit, strict body
 * schema, then the handshake. Nothing is stored on any refusal.
 */
export function v2Routes(deps: V2RouteDeps): V2Surface {
  const r = Router();
  const { metrics } = deps;
  // uuru-fed/2 switched off (federation.v2Enabled): no descriptor, no signed calls, as stock µURU (404).
  if (!deps.config.federation.v2Enabled) return { router: r, fastRoute: null };

  r.get(
    DESCRIPTOR_PATH,
    perIpLimit(deps.perIp, metrics, 'descriptor', 'v2', deps.turns),
    counted(metrics, 'descriptor', async (_req, res) => {
      const policy = await deps.policy.get();
      const d = await buildDescriptor({
        config: deps.config,
        localKeys: deps.localKeys,
        policyMode: policy.mode,
        allowLegacy: policy.allow_legacy,
        now: deps.clock.now(),
        peerMap: deps.config.federation.publishPeerMap ? await deps.publishedPeerMap() : undefined,
      });
      res.setHeader('Cache-Control', `public, max-age=${DESCRIPTOR_MAX_AGE_S}`);
      res.json(d);
    }),
  );

  const v2 = Router();
  v2.use(perIpLimit(deps.perIp, metrics, 'v2', 'v2', deps.turns));
  v2.use(express.raw({ type: () => true, limit: deps.config.http.bodyLimitBytes }));

  const raw = (req: SignedCall): Buffer => (Buffer.isBuffer(req.body) ? req.body : NO_BODY);

  /** The server name in the keyid, unverified: used only to pick the key when no record names the partner. */
  const claimedSender = (req: SignedCall): string => {
    try {
      return parseUuruSignature(req.headers, raw(req).length > 0).serverName;
    } catch (e) {
      if (e instanceof SignatureParseError) return '';
      throw e;
    }
  };

  const targetUriOf = targetUriBuilder(deps.config.instance.publicUrl);

  /** Verifies the signature (expected signer given) and applies the per-origin limit; returns the signer. */
  const authenticate = async (
    req: SignedCall,
    expected: string,
    firstContactBaseUrl?: string,
  ): Promise<{ serverName: string; descriptor: Descriptor | null }> => {
    const result = await deps.verifier.verify(
      {
        method: req.method,
        targetUri: targetUriOf(req.originalUrl),
        headers: req.headers,
        rawBody: raw(req),
      },
      expected,
      firstContactBaseUrl ? { firstContactBaseUrl } : {},
    );
    if (!result.ok) {
      const foreign = result.code === 'FED_SIGNATURE_INVALID' ? foreignHost(req) : null;
      if (foreign) {
        // The signature covers @target-uri; a request that names another host was signed for that host.
        throw new AppError(
          'FED_DESTINATION_MISMATCH',
          `this request was addressed to ${foreign}, not to this instance`,
        );
      }
      throw new AppError(result.code, result.message, {
        details: result.serverTime ? { server_time: result.serverTime } : undefined,
        headers: result.status === 503 ? { 'Retry-After': '30' } : undefined,
      });
    }
    const limit = await deps.perOrigin.take(result.serverName);
    if (!limit.ok) {
      throw new AppError(
        'FED_RATE_LIMITED',
        `too many calls from ${result.serverName}; retry in ${limit.retryAfterS} s`,
        {
          headers: { 'Retry-After': String(limit.retryAfterS) },
        },
      );
    }
    return { serverName: result.serverName, descriptor: result.descriptor ?? null };
  };

  const ourHost = new URL(deps.config.instance.publicUrl).host.toLowerCase();
  /**
   * The Host header when it names neither our public authority nor the
   * listener's own address (a proxy may rewrite Host to that), else null.
   * Only used to explain a failed signature, never to accept one.
   */
  const foreignHost = (req: SignedCall): string | null => {
    const host = req.headers.host?.toLowerCase();
    if (!host || host === ourHost) return null;
    const local = `${req.socket.localAddress ?? ''}:${req.socket.localPort ?? ''}`;
    if (host === local || host === `localhost:${req.socket.localPort ?? ''}`) return null;
    return host;
  };

  const json = (req: Request): unknown => {
    const body = raw(req);
    if (body.length === 0) return {};
    try {
      return JSON.parse(body.toString('utf8')) as unknown;
    } catch {
      throw new AppError('FED_MALFORMED', 'the body is not valid JSON');
    }
  };

  const parse = <T extends z.ZodType>(schema: T, value: unknown): z.infer<T> => {
    const p = schema.safeParse(value);
    if (!p.success) throw new AppError('FED_MALFORMED', `invalid body: ${describeIssues(p.error)}`);
    return p.data;
  };

  const checkedRequestId = (id: string): string => {
    if (!REQUEST_ID.test(id)) throw new AppError('FED_MALFORMED', 'invalid request_id in the path');
    return id;
  };
  const requestIdParam = (req: Request): string => checkedRequestId(String(req.params.requestId));

  // Checked before any lookup: a name no peer can have never reaches the database.
  const peerNameParam = (req: Request): string => {
    const name = String(req.params.name);
    if (!isPeeringName(name))
      throw new AppError('FED_MALFORMED', `invalid peer name in the path: ${PEERING_NAME_RULE}`);
    return name;
  };

  /** The request id of the path, and its signer checked against the partner of that request. */
  const requestCaller = async (req: SignedCall, id: string) => {
    const owner = await deps.records.ownerOfRequest(id);
    return { id, owner, who: await authenticate(req, owner.partner ?? claimedSender(req)) };
  };

  /** The peer name of the path, and its signer checked against that peer's partner (the claimed sender when no peer has the name). */
  const peerCaller = async (req: Request) => {
    const name = peerNameParam(req);
    return {
      name,
      who: await authenticate(req, (await deps.records.partnerOfPeer(name)) ?? claimedSender(req)),
    };
  };

  /** The state of a peering as the partner it belongs to asks for it (GET /peerings/{id}). */
  const peeringState = async (req: SignedCall, rawId: string) => {
    const { id, owner, who } = await requestCaller(req, checkedRequestId(rawId));
    const state = await deps.inbound.v2PeeringState(id, who.serverName, owner);
    // Anti-entropy compares the trunk secret epochs too (docs/protocol.md, "Anti-entropy").
    const epochs = state === 'active' ? await deps.inbound.v2PeeringEpochs(id, who.serverName) : null;
    return { request_id: id, state, ...(epochs === null ? {} : { trunk_epochs: epochs }) };
  };

  v2.post(
    '/peering-requests',
    answered(metrics, 'peering-requests', async (req) => {
      // The signer is the instance named by base_url, so the body is read (not trusted) first.
      const body = parse(v2PeeringRequestBody, json(req));
      const who = await authenticate(req, authorityOf(body.base_url), body.base_url);
      const descriptor = who.descriptor ?? deps.partnerKeys.firstContactDescriptor(who.serverName);
      return deps.inbound.v2Request(body, who.serverName, descriptor);
    }),
  );

  v2.delete(
    '/peering-requests/:requestId',
    answered(metrics, 'revoke', async (req) => {
      const { id, who } = await requestCaller(req, requestIdParam(req));
      return deps.inbound.v2Revoke(id, who.serverName);
    }),
  );

  v2.post(
    '/peering-requests/:requestId/accept',
    answered(metrics, 'accept', async (req) => {
      const { id, who } = await requestCaller(req, requestIdParam(req));
      return deps.inbound.v2Accept(id, parse(v2AcceptBody, json(req)), who.serverName);
    }),
  );

  v2.post(
    '/peering-requests/:requestId/decline',
    answered(metrics, 'decline', async (req) => {
      const { id, who } = await requestCaller(req, requestIdParam(req));
      const body = parse(v2DeclineBody, json(req));
      return deps.inbound.v2Decline(id, body.reason, who.serverName);
    }),
  );

  v2.post(
    '/peers/:name/teardown',
    answered(metrics, 'teardown', async (req) => {
      const { name, who } = await peerCaller(req);
      const body = parse(v2TeardownBody, json(req));
      return deps.inbound.v2Teardown(name, body.request_id, who.serverName);
    }),
  );

  v2.post(
    '/peers/:name/upgrade',
    answered(metrics, 'upgrade', async (req) => {
      const name = peerNameParam(req);
      // The signer must be the v1 peer's partner; its keys come from the address the peer was made with.
      const expected = await deps.upgrade.expectedSigner(name);
      const who = expected
        ? await authenticate(req, expected.serverName, expected.baseUrl)
        : await authenticate(req, claimedSender(req));
      const body = parse(v2UpgradeBody, json(req));
      const descriptor = who.descriptor ?? deps.partnerKeys.firstContactDescriptor(who.serverName);
      return deps.upgrade.inbound(name, body, who.serverName, descriptor);
    }),
  );

  v2.post(
    '/peers/:name/secret-epochs',
    answered(metrics, 'secret-epochs', async (req) => {
      const { name, who } = await peerCaller(req);
      return deps.upgrade.inboundEpochs(name, parse(v2SecretEpochsBody, json(req)), who.serverName);
    }),
  );

  v2.post(
    '/peers/:name/secret-rotation',
    answered(metrics, 'secret-rotation', async (req) => {
      const { name, who } = await peerCaller(req);
      const body = parse(v2SecretRotationBody, json(req));
      return deps.inbound.v2SecretRotation(name, body, who.serverName);
    }),
  );

  v2.get(
    '/peerings/:requestId',
    counted(metrics, 'peerings', async (req, res) => {
      res.json(await peeringState(req, String(req.params.requestId)));
    }),
  );

  v2.get(
    '/phonebook',
    counted(metrics, 'phonebook', async (req, res) => {
      const who = await authenticate(req, claimedSender(req));
      if (!(await deps.records.isActiveV2Partner(who.serverName)))
        throw new AppError('FED_NOT_PEERED', `${who.serverName} is not an active peer of this instance`);
      const entries = await deps.phonebook.publicEntries();
      res.json(entries.map((e) => ({ extension: e.extension, name: e.name })));
    }),
  );

  r.use('/federation/v2', v2);
  return { router: r, fastRoute: peeringStateFastRoute(metrics, deps.logger, peeringState) };
}

/** GET /federation/v2/peerings/{id} in its plain spelling: no query, no escapes, lower case, no trailing slash. */
const FAST_PEERINGS = /^\/federation\/v2\/peerings\/([A-Za-z0-9_-]{1,64})$/;

/**
 * The peering-state poll (a partner's anti-entropy and probes, the most
 * frequent signed call) answered before Express: the same checks in the same
 * order as its Express route (per-IP limit, which the gate in front already
 * counted; signature, digest, time window, nonce; per-origin limit), without
 * the router's and the response helpers' work per call. Anything it does not
 * claim (another spelling of the path, a body, a request the gate did not
 * count) goes on to Express, where the route answers as it always did.
 */
function peeringStateFastRoute(
  metrics: Metrics,
  logger: Logger,
  peeringState: (req: SignedCall, id: string) => Promise<{ request_id: string; state: string }>,
): FastRoute {
  const ok = metrics.federationRequests.labels({ endpoint: 'peerings', code: 'OK' });
  return (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '';
    if (req.method !== 'GET' || !wasCounted(req)) return false;
    const m = FAST_PEERINGS.exec(url);
    if (!m) return false;
    const length = req.headers['content-length'];
    if (req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0'))
      return false;
    const call: SignedCall = {
      method: 'GET',
      originalUrl: url,
      headers: req.headers,
      socket: req.socket,
    };
    peeringState(call, m[1] ?? '').then(
      (answer) => {
        ok.inc();
        writeJson(res, 200, answer);
      },
      (e: unknown) => {
        metrics.federationRequests.inc({ endpoint: 'peerings', code: isAppError(e) ? e.code : 'INTERNAL' });
        writeError(res, e, logger, { path: url, method: 'GET' });
      },
    );
    return true;
  };
}
