import express, { Router, type Request } from 'express';
import type { z } from 'zod';
import type { Config } from '../../config/schema';
import { AppError } from '../../core/errors';
import type { Metrics } from '../../core/metrics';
import { isPeeringName, PEERING_NAME_RULE } from '../../core/peering-name';
import { perIpLimit } from './client-rate-limit';
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
import type { Clock } from '../../core/clock';
import { targetUriOf } from '../../federation/request-verifier';
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
}

/**
 * uuru-fed/2 endpoints (base /federation/v2) and the descriptor. Each signed
 * call: per-IP limit, raw body (size limit), signature verification against
 * the partner the addressed record belongs to, per-origin limit, strict body
 * schema, then the handshake. Nothing is stored on any refusal.
 */
export function v2Routes(deps: V2RouteDeps): Router {
  const r = Router();
  const { metrics } = deps;
  // uuru-fed/2 switched off (federation.v2Enabled): no descriptor, no signed calls, as stock µURU (404).
  if (!deps.config.federation.v2Enabled) return r;

  r.get(
    DESCRIPTOR_PATH,
    perIpLimit(deps.perIp, metrics, 'descriptor'),
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
  v2.use(perIpLimit(deps.perIp, metrics, 'v2'));
  v2.use(express.raw({ type: () => true, limit: deps.config.http.bodyLimitBytes }));

  const raw = (req: Request): Buffer => (Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0));

  /** The server name in the keyid, unverified: used only to pick the key when no record names the partner. */
  const claimedSender = (req: Request): string => {
    try {
      return parseUuruSignature(req.headers, raw(req).length > 0).serverName;
    } catch (e) {
      if (e instanceof SignatureParseError) return '';
      throw e;
    }
  };

  /** Verifies the signature (expected signer given) and applies the per-origin limit; returns the signer. */
  const authenticate = async (
    req: Request,
    expected: string,
    firstContactBaseUrl?: string,
  ): Promise<{ serverName: string; descriptor: Descriptor | null }> => {
    const result = await deps.verifier.verify(
      {
        method: req.method,
        targetUri: targetUriOf(deps.config.instance.publicUrl, req.originalUrl),
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
  const foreignHost = (req: Request): string | null => {
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

  const requestIdParam = (req: Request): string => {
    const id = String(req.params.requestId);
    if (!REQUEST_ID.test(id)) throw new AppError('FED_MALFORMED', 'invalid request_id in the path');
    return id;
  };

  // Checked before any lookup: a name no peer can have never reaches the database.
  const peerNameParam = (req: Request): string => {
    const name = String(req.params.name);
    if (!isPeeringName(name))
      throw new AppError('FED_MALFORMED', `invalid peer name in the path: ${PEERING_NAME_RULE}`);
    return name;
  };

  /** The request id of the path, and its signer checked against the partner of that request. */
  const requestCaller = async (req: Request) => {
    const id = requestIdParam(req);
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
      const { id, who } = await requestCaller(req);
      return deps.inbound.v2Revoke(id, who.serverName);
    }),
  );

  v2.post(
    '/peering-requests/:requestId/accept',
    answered(metrics, 'accept', async (req) => {
      const { id, who } = await requestCaller(req);
      return deps.inbound.v2Accept(id, parse(v2AcceptBody, json(req)), who.serverName);
    }),
  );

  v2.post(
    '/peering-requests/:requestId/decline',
    answered(metrics, 'decline', async (req) => {
      const { id, who } = await requestCaller(req);
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
      const { id, owner, who } = await requestCaller(req);
      const state = await deps.inbound.v2PeeringState(id, who.serverName, owner);
      // Anti-entropy compares the trunk secret epochs too (docs/protocol.md, "Anti-entropy").
      const epochs = state === 'active' ? await deps.inbound.v2PeeringEpochs(id, who.serverName) : null;
      res.json({ request_id: id, state, ...(epochs === null ? {} : { trunk_epochs: epochs }) });
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
  return r;
}
