import { z } from 'zod';
import type { DataSource } from 'typeorm';
import type { AsteriskConnectionStatus, AsteriskPort, ReconcileNowReport } from '../../core/asterisk-port';
import type { Clock } from '../../core/clock';
import { leaseState, type PeerApplyStates, type ReplicaDirectory } from '../../core/replicas';
import type { Config } from '../../config/schema';
import { PACKAGE_VERSION } from '../../core/version';
import type { FederationAdmin, PeerView } from '../../core/federation-admin';
import {
  acceptIncomingBody,
  createOutgoingBody,
  declineIncomingBody,
  deliveriesQuery,
  deliveryView,
  emptyBody,
  idParams,
  incomingRequestView,
  keyView,
  localOnlyQuery,
  noQuery,
  outgoingRequestView,
  partnerHealthView,
  partnerPhonebookView,
  peerView,
  policyChangeReport,
  policySchema,
  purgeQueueResponse,
  reconcileRequest,
  reconcileResponse,
  refreshQuery,
  refreshResponse,
  retryDeliveriesResponse,
  statusResponse,
  testCallResponse,
  trunkQualityResponse,
  federationMapResponse,
} from './api-schemas';
import { TRUNK_QUALITY_RETENTION_MS, type TrunkQualitySample } from '../../core/trunk-quality';
import { buildFederationMap, type FederationMap } from '../../core/federation-map';
import { TypeormTrunkQualityStore } from '../../store/trunk-quality-samples';
import { PARTNER_REFUSALS_PASSED_ON } from '../../federation/partner-transport';
import { type ApiRoute, defineRoute } from './route-table';
import { doctorRoute } from './doctor-route';
import type { DoctorService } from '../../core/diagnostics';

export interface AdminServices {
  db: DataSource;
  clock: Clock;
  federation: FederationAdmin;
  asterisk: AsteriskPort;
  doctor: DoctorService;
  config: Config;
  /** host:port each listener is bound to (the App knows). */
  listeners(): { federation: string; admin: string };
  /** Replicas (config.ha): the replicas, their Asterisk nodes and the job leases. */
  replicas?: ReplicaDirectory;
  /** Replicas (config.ha): each peer's apply state per Asterisk node (the metrics' apply state). */
  applyStates?: PeerApplyStates;
}

/** The replicas, their Asterisk nodes and who holds which lease, as the status shows them. */
export async function replicasView(d: ReplicaDirectory, now: number) {
  const iso = (ms: number) => new Date(ms).toISOString();
  const { replicas, leases } = await d.list();
  return {
    self: { replica_id: d.self.replicaId, asterisk_node: d.self.asteriskNode },
    replicas: replicas.map((r) => ({
      replica_id: r.replicaId,
      asterisk_node: r.asteriskNode,
      version: r.version,
      started_at: iso(r.startedAt),
      last_seen_at: iso(r.lastSeenAt),
      live: r.live,
    })),
    leases: leases.map((l) => ({
      job: l.job,
      holder: l.holder,
      token: l.token,
      expires_at: iso(l.expiresAt),
      done: l.done,
      state: leaseState(l, now),
    })),
  };
}

const countBy = <T>(items: T[], key: (t: T) => string): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const i of items) out[key(i)] = (out[key(i)] ?? 0) + 1;
  return out;
};

const qualitySampleView = (q: TrunkQualitySample) => ({
  at: new Date(q.at).toISOString(),
  source: q.source,
  calls: q.calls,
  rtt_ms: q.rttMs,
  inbound: { jitter_ms: q.inbound.jitterMs, loss_ratio: q.inbound.lossRatio },
  outbound: { jitter_ms: q.outbound.jitterMs, loss_ratio: q.outbound.lossRatio },
});

/** How long the map waits for partners' descriptors due for a refetch before drawing what it has. */
const MAP_REFRESH_WAIT_MS = 2000;

/** The federation map model (src/core/federation-map.ts) from the ports: peers, latest quality, partners' peer maps. */
export async function federationMapOf(s: AdminServices): Promise<FederationMap> {
  const [peers, latestQuality, partnerMaps] = await Promise.all([
    s.federation.listPeers(),
    new TypeormTrunkQualityStore(s.db).latest(),
    s.federation.partnerPeerMaps({ waitMs: MAP_REFRESH_WAIT_MS }),
  ]);
  return buildFederationMap({
    selfServerName: new URL(s.config.instance.publicUrl).host.toLowerCase(),
    peers,
    latestQuality,
    partnerMaps,
  });
}

const iso = (ms: number) => new Date(ms).toISOString();

/** The map model as the admin API shows it (snake case, ISO times). */
export function federationMapView(m: FederationMap) {
  return {
    self: { server_name: m.self.serverName },
    peers: m.peers.map((p) => ({
      id: p.id,
      name: p.name,
      prefix: p.prefix,
      dialect: p.dialect,
      server_name: p.serverName,
      state: p.state,
      latency_ms: p.latencyMs,
      quality: p.quality
        ? {
            at: iso(p.quality.at),
            rtt_ms: p.quality.rttMs,
            inbound: { jitter_ms: p.quality.inbound.jitterMs, loss_ratio: p.quality.inbound.lossRatio },
            outbound: { jitter_ms: p.quality.outbound.jitterMs, loss_ratio: p.quality.outbound.lossRatio },
          }
        : null,
      ring:
        p.ring.kind === 'published'
          ? {
              kind: 'published' as const,
              fetched_at: p.ring.fetchedAt === null ? null : iso(p.ring.fetchedAt),
              peers: p.ring.peers,
            }
          : p.ring,
    })),
  };
}

/** GET /status: who asks, where this instance listens and what it advertises, the Asterisk link, a peers summary. */
export async function statusView(s: AdminServices, principal: string) {
  const [peers, incoming, outgoing] = await Promise.all([
    s.federation.listPeers(),
    s.federation.listIncomingRequests(),
    s.federation.listOutgoingRequests(),
  ]);
  const { instance } = s.config;
  return {
    principal,
    instance: {
      public_url: instance.publicUrl,
      iax2: `${instance.iax2Host}:${instance.iax2Port}`,
      version: PACKAGE_VERSION,
    },
    listeners: s.listeners(),
    asterisk: s.asterisk.status(),
    peers: {
      total: peers.length,
      by_state: countBy(peers, (p) => p.state),
      by_apply_state: countBy(peers, (p) => p.apply_state),
      by_reachability: countBy(peers, (p) => p.reachability),
    },
    requests: {
      incoming_pending: incoming.filter((r) => r.state === 'pending').length,
      outgoing_pending: outgoing.filter((r) => r.state === 'pending').length,
    },
    ...(s.replicas ? { replicas: await replicasView(s.replicas, s.clock.now()) } : {}),
  };
}

export interface TestCallOutcome {
  answered: boolean;
  setup_ms: number | null;
  error: string | null;
}

/**
 * Runs a test call through a peer. The Asterisk layer keeps the result on the
 * peer (last_test_call has that one writer); with Asterisk switched off no
 * call is placed and nothing is kept.
 */
export async function runTestCall(services: AdminServices, peer: PeerView): Promise<TestCallOutcome> {
  const result = await services.asterisk.testCall(peer.name);
  return { answered: result.answered, setup_ms: result.setupMs, error: result.error };
}

/** The reconcile report as the API shows it, with the link status after the run. */
export function reconcileView(r: ReconcileNowReport, asterisk: AsteriskConnectionStatus) {
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return {
    ok: r.result === 'done' && r.failed.length === 0 && r.problems.length === 0,
    result: r.result,
    changes: r.changes,
    reloaded: r.reloaded,
    verified: r.verified,
    failed: r.failed,
    problems: r.problems,
    error: r.error,
    started_at: iso(r.startedAt),
    finished_at: iso(r.finishedAt),
    phases_ms: r.phasesMs,
    asterisk,
  };
}

export const API_BASE = '/api/admin';

/** Every admin API route; paths are relative to API_BASE. */
export function adminApiRoutes(s: AdminServices, openApi: () => unknown): ApiRoute[] {
  const fed = s.federation;
  const localOnly = (q: { local_only?: 'true' | 'false' }) => q.local_only === 'true';
  return [
    defineRoute({
      method: 'get',
      path: '/openapi.json',
      summary: 'This document',
      tag: 'meta',
      query: noQuery,
      auth: false,
      success: {
        status: 200,
        schema: z.looseObject({ openapi: z.string() }),
        description: 'OpenAPI 3.1 document',
      },
      handle: async () => ({ body: openApi() }),
    }),
    defineRoute({
      method: 'get',
      path: '/status',
      summary: 'Who is asking, this instance and its listeners, the Asterisk link and a peers summary',
      tag: 'meta',
      query: noQuery,
      success: { status: 200, schema: statusResponse, description: 'status' },
      handle: async ({ req }) => ({ body: await statusView(s, req.principal?.name ?? '') }),
    }),
    doctorRoute(s.doctor),
    defineRoute({
      method: 'post',
      path: '/federation/outgoing-requests',
      summary: 'Ask a partner instance to peer',
      tag: 'requests',
      query: noQuery,
      body: createOutgoingBody,
      success: { status: 201, schema: outgoingRequestView, description: 'the stored request' },
      errors: [
        ...PARTNER_REFUSALS_PASSED_ON,
        'FED_PREFIX_INVALID',
        'PREFIX_CONFLICT',
        'FED_DIALECT_UNAVAILABLE',
        'FED_V1_IAX2_PORT',
        'FED_PARTNER_REFUSED',
        'FED_PARTNER_UNREACHABLE',
        'FED_PARTNER_ANSWER_TOO_LARGE',
        'FED_KEY_FETCH_FAILED',
      ],
      handle: async ({ body }) => ({ status: 201, body: await fed.createOutgoingRequest(body) }),
    }),
    defineRoute({
      method: 'get',
      path: '/federation/outgoing-requests',
      summary: 'Requests we sent that are not accepted yet',
      tag: 'requests',
      query: noQuery,
      success: {
        status: 200,
        schema: z.object({ requests: z.array(outgoingRequestView) }),
        description: 'outgoing requests',
      },
      handle: async () => ({ body: { requests: await fed.listOutgoingRequests() } }),
    }),
    defineRoute({
      method: 'delete',
      path: '/federation/outgoing-requests/{id}',
      summary: 'Revoke an outgoing request (local_only: without telling the partner)',
      tag: 'requests',
      params: idParams,
      query: localOnlyQuery,
      success: { status: 204, description: 'revoked' },
      errors: ['FED_UNKNOWN_REQUEST'],
      handle: async ({ params, query }) => {
        await fed.revokeOutgoingRequest(params.id, { localOnly: localOnly(query) });
        return { status: 204 };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/federation/incoming-requests',
      summary: 'Requests partners sent us',
      tag: 'requests',
      query: noQuery,
      success: {
        status: 200,
        schema: z.object({ requests: z.array(incomingRequestView) }),
        description: 'incoming requests',
      },
      handle: async () => ({ body: { requests: await fed.listIncomingRequests() } }),
    }),
    defineRoute({
      method: 'post',
      path: '/federation/incoming-requests/{id}/accept',
      summary: 'Accept an incoming request with our prefix for the partner',
      tag: 'requests',
      params: idParams,
      query: noQuery,
      body: acceptIncomingBody,
      success: { status: 200, schema: peerView, description: 'the new peer' },
      errors: [
        'FED_UNKNOWN_REQUEST',
        'FED_STATE_CONFLICT',
        'FED_PREFIX_INVALID',
        'PREFIX_CONFLICT',
        'FED_NAME_CONFLICT',
        'FED_ALREADY_PEERED',
        'FED_AGREEMENT_KEY_UNKNOWN',
        'FED_MALFORMED',
        'FED_V1_IAX2_PORT',
        'FED_PARTNER_REFUSED',
        'FED_PARTNER_UNREACHABLE',
        'FED_PARTNER_ANSWER_TOO_LARGE',
      ],
      handle: async ({ params, body }) => ({ body: await fed.acceptIncomingRequest(params.id, body) }),
    }),
    defineRoute({
      method: 'post',
      path: '/federation/incoming-requests/{id}/decline',
      summary: 'Decline an incoming request',
      tag: 'requests',
      params: idParams,
      query: noQuery,
      body: declineIncomingBody,
      success: { status: 204, description: 'declined' },
      errors: ['FED_UNKNOWN_REQUEST', 'FED_STATE_CONFLICT'],
      handle: async ({ params, body }) => {
        await fed.declineIncomingRequest(params.id, {
          localOnly: body.local_only ?? false,
          reason: body.reason,
        });
        return { status: 204 };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/federation/peers',
      summary: 'Peers with their trunk state',
      tag: 'peers',
      query: noQuery,
      success: { status: 200, schema: z.object({ peers: z.array(peerView) }), description: 'peers' },
      handle: async () => ({ body: { peers: await fed.listPeers() } }),
    }),
    defineRoute({
      method: 'get',
      path: '/federation/peers/{id}',
      summary: 'One peer',
      tag: 'peers',
      params: idParams,
      query: noQuery,
      success: { status: 200, schema: peerView, description: 'the peer' },
      errors: ['FED_UNKNOWN_PEER'],
      handle: async ({ params }) => ({ body: await fed.getPeer(params.id) }),
    }),
    defineRoute({
      method: 'get',
      path: '/federation/peers/{id}/phonebook',
      summary: "The partner's phonebook with our prefix in front (cached; refresh=true fetches it now)",
      tag: 'phonebook',
      params: idParams,
      query: refreshQuery,
      success: {
        status: 200,
        schema: partnerPhonebookView,
        description: 'the entries and, when the partner could not be read, why',
      },
      errors: ['FED_UNKNOWN_PEER'],
      handle: async ({ params, query }) => ({
        body: await fed.partnerPhonebook(params.id, { refresh: query.refresh === 'true' }),
      }),
    }),
    defineRoute({
      method: 'get',
      path: '/federation/phonebook',
      summary:
        "Every partner's phonebook with our prefix in front (errors per partner; refresh=true fetches all now)",
      tag: 'phonebook',
      query: refreshQuery,
      success: {
        status: 200,
        schema: z.object({ phonebooks: z.array(partnerPhonebookView) }),
        description: 'one phonebook per peer, in peer creation order',
      },
      handle: async ({ query }) => ({
        body: { phonebooks: await fed.partnerPhonebooks({ refresh: query.refresh === 'true' }) },
      }),
    }),
    defineRoute({
      method: 'get',
      path: '/federation/outbox',
      summary: 'Notifications to partners waiting for delivery, and the latest given up',
      tag: 'outbox',
      query: deliveriesQuery,
      success: {
        status: 200,
        schema: z.object({ deliveries: z.array(deliveryView) }),
        description: 'pending deliveries (oldest first), then given-up ones (newest first)',
      },
      handle: async ({ query }) => ({ body: { deliveries: await fed.listDeliveries(query) } }),
    }),
    defineRoute({
      method: 'post',
      path: '/federation/outbox/retry',
      summary: 'Try every pending delivery now instead of waiting for its backoff',
      tag: 'outbox',
      query: noQuery,
      body: emptyBody,
      success: {
        status: 200,
        schema: retryDeliveriesResponse,
        description: 'how many were tried and delivered, and how many still wait',
      },
      handle: async () => ({ body: await fed.retryDeliveriesNow() }),
    }),
    defineRoute({
      method: 'get',
      path: '/federation/partners',
      summary: 'Every partner with its outbound health (our calls), inbound health (its calls) and queue',
      tag: 'partners',
      query: noQuery,
      success: {
        status: 200,
        schema: z.object({ partners: z.array(partnerHealthView) }),
        description: 'partners by server name',
      },
      handle: async () => ({ body: { partners: await fed.listPartnerHealth() } }),
    }),
    defineRoute({
      method: 'get',
      path: '/federation/partners/{id}',
      summary: "One partner's health (id: server name host[:port] or a peer id)",
      tag: 'partners',
      params: idParams,
      query: noQuery,
      success: { status: 200, schema: partnerHealthView, description: 'the partner' },
      errors: ['FED_UNKNOWN_PARTNER'],
      handle: async ({ params }) => ({ body: await fed.getPartnerHealth(params.id) }),
    }),
    defineRoute({
      method: 'post',
      path: '/federation/partners/{id}/queue/pause',
      summary: "Hold the partner's notifications (they stay pending) until resumed",
      tag: 'partners',
      params: idParams,
      query: noQuery,
      body: emptyBody,
      success: { status: 200, schema: partnerHealthView, description: 'the partner, its queue paused' },
      errors: ['FED_UNKNOWN_PARTNER'],
      handle: async ({ params }) => ({ body: await fed.pausePartnerQueue(params.id) }),
    }),
    defineRoute({
      method: 'post',
      path: '/federation/partners/{id}/queue/resume',
      summary: "Lift a pause and try the partner's notifications now",
      tag: 'partners',
      params: idParams,
      query: noQuery,
      body: emptyBody,
      success: { status: 200, schema: partnerHealthView, description: 'the partner, its queue running' },
      errors: ['FED_UNKNOWN_PARTNER'],
      handle: async ({ params }) => ({ body: await fed.resumePartnerQueue(params.id) }),
    }),
    defineRoute({
      method: 'post',
      path: '/federation/partners/{id}/queue/purge',
      summary: 'Give up every pending notification to the partner (kept as failed, "purged by an admin")',
      tag: 'partners',
      params: idParams,
      query: noQuery,
      body: emptyBody,
      success: {
        status: 200,
        schema: purgeQueueResponse,
        description: 'how many were given up, and the partner',
      },
      errors: ['FED_UNKNOWN_PARTNER'],
      handle: async ({ params }) => ({ body: await fed.purgePartnerQueue(params.id) }),
    }),
    defineRoute({
      method: 'delete',
      path: '/federation/peers/{id}',
      summary: 'Tear a peer down (local_only: without telling the partner)',
      tag: 'peers',
      params: idParams,
      query: localOnlyQuery,
      success: { status: 204, description: 'torn down' },
      errors: ['FED_UNKNOWN_PEER'],
      handle: async ({ params, query }) => {
        await fed.teardownPeer(params.id, { localOnly: localOnly(query) });
        return { status: 204 };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/federation/peers/{id}/secret-rotation',
      summary:
        'Force a trunk secret rotation: agreed with the partner over a signed v2 call, then both sides move to a new secret with the usual overlap',
      tag: 'peers',
      params: idParams,
      query: noQuery,
      body: emptyBody,
      success: { status: 200, schema: peerView, description: 'the peer, with the forced rotation agreed' },
      errors: [
        'FED_UNKNOWN_PEER',
        'FED_ROTATION_UNAVAILABLE',
        'FED_ROTATION_PENDING',
        'FED_PARTNER_UNREACHABLE',
        'FED_PARTNER_REFUSED',
      ],
      handle: async ({ params }) => ({ body: await fed.forceSecretRotation(params.id) }),
    }),
    defineRoute({
      method: 'post',
      path: '/federation/peers/{id}/test-call',
      summary: "Call the partner's test extension through the trunk",
      tag: 'peers',
      params: idParams,
      query: noQuery,
      body: emptyBody,
      success: { status: 200, schema: testCallResponse, description: 'the outcome (answered or why not)' },
      errors: ['FED_UNKNOWN_PEER', 'ASTERISK_INVALID_VALUE'],
      handle: async ({ params }) => ({ body: await runTestCall(s, await fed.getPeer(params.id)) }),
    }),
    defineRoute({
      method: 'get',
      path: '/federation/peers/{id}/quality',
      summary: 'Call quality of the trunk over the last 24 h (samples taken during calls and quality probes)',
      tag: 'peers',
      params: idParams,
      query: noQuery,
      success: { status: 200, schema: trunkQualityResponse, description: 'the samples, oldest first' },
      errors: ['FED_UNKNOWN_PEER'],
      handle: async ({ params }) => {
        const peer = await fed.getPeer(params.id);
        const since = s.clock.now() - TRUNK_QUALITY_RETENTION_MS;
        const samples = await new TypeormTrunkQualityStore(s.db).since(since, peer.name);
        return {
          body: {
            peer: peer.name,
            since: new Date(since).toISOString(),
            samples: samples.map(qualitySampleView),
          },
        };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/federation/map',
      summary:
        "The federation map: our peers with state, latency and call quality, and partners' published peers",
      tag: 'peers',
      query: noQuery,
      success: { status: 200, schema: federationMapResponse, description: 'the map model the panel draws' },
      errors: [],
      handle: async () => ({ body: federationMapView(await federationMapOf(s)) }),
    }),
    defineRoute({
      method: 'post',
      path: '/federation/foreign/{id}/refresh',
      summary: "Refetch a partner's descriptor and confirm its held keys (id: peer id or server name)",
      tag: 'peers',
      params: idParams,
      query: noQuery,
      body: emptyBody,
      success: { status: 200, schema: refreshResponse, description: 'the confirmed fingerprints' },
      errors: ['FED_UNKNOWN_PEER', 'FED_STATE_CONFLICT', 'FED_KEY_FETCH_FAILED', 'FED_MALFORMED'],
      handle: async ({ params }) => ({ body: await fed.refreshPartner(params.id) }),
    }),
    defineRoute({
      method: 'get',
      path: '/federation/policy',
      summary: 'Who may ask us to peer, and what never crosses',
      tag: 'policy',
      query: noQuery,
      success: { status: 200, schema: policySchema, description: 'policy' },
      handle: async () => ({ body: await fed.getPolicy() }),
    }),
    defineRoute({
      method: 'put',
      path: '/federation/policy',
      summary: 'Replace the policy',
      tag: 'policy',
      query: noQuery,
      body: policySchema,
      errors: ['POLICY_INVALID'],
      success: {
        status: 200,
        schema: policyChangeReport,
        description: 'the policy and the peers it would no longer admit',
      },
      handle: async ({ body }) => ({ body: await fed.setPolicy(body) }),
    }),
    defineRoute({
      method: 'get',
      path: '/federation/keys',
      summary: 'Our signing and agreement keys (public parts only)',
      tag: 'keys',
      query: noQuery,
      success: { status: 200, schema: z.object({ keys: z.array(keyView) }), description: 'keys' },
      handle: async () => ({ body: { keys: await fed.listKeys() } }),
    }),
    defineRoute({
      method: 'post',
      path: '/federation/keys/rotate',
      summary: 'Start a key rotation (the new key is endorsed by the current one)',
      tag: 'keys',
      query: noQuery,
      body: emptyBody,
      success: {
        status: 200,
        schema: z.object({ keys: z.array(keyView) }),
        description: 'keys after rotation',
      },
      handle: async () => ({ body: { keys: await fed.rotateKeys() } }),
    }),
    defineRoute({
      method: 'post',
      path: '/reconcile',
      summary: 'Bring Asterisk in line with the database now and report what changed',
      tag: 'asterisk',
      query: noQuery,
      body: reconcileRequest,
      success: {
        status: 200,
        schema: reconcileResponse,
        description:
          'the report (result not_run or disabled with the reason when it could not run) and the Asterisk link status after it',
      },
      handle: async ({ body }) => ({
        body: reconcileView(
          await s.asterisk.reconcileNow('admin', { verify: body.verify ?? 'full' }),
          s.asterisk.status(),
        ),
      }),
    }),
  ];
}
