import type { PartnerProbe } from '../core/diagnostics';
import type { PeerApplyStates } from '../core/replicas';
import type { SharedBuckets } from '../core/rate-buckets';
import type { Feature, ServiceContext } from '../core/feature';
import type { AsteriskPort } from '../core/asterisk-port';
import type { FederationAdmin, RetryDeliveriesReport } from '../core/federation-admin';
import { V1Upgrade } from './v1-upgrade';
import { KeyEpochs } from './key-epochs';
import { AntiEntropy } from './anti-entropy';
import { DeliveryWorker, type DeliveryReport } from './delivery-worker';
import { fetchDescriptor } from './descriptor';
import { FederationAdminService } from './federation-admin-service';
import { rehearseAccept } from './accept-rehearsal';
import { Handshake } from './handshake';
import { HealthNotices } from './health-notices';
import { silentNotifier } from '../core/notifications';
import { InboundHandshake } from './handshake-inbound';
import { KeyRotation } from './key-rotation';
import { LocalKeys } from './local-keys';
import { Outbox } from './outbox';
import { PartnerHealthService } from './partner-health';
import { PartnerKeyStore } from './partner-keys';
import { PartnerTransport } from './partner-transport';
import type { HandshakeDeps } from './handshake-deps';
import type { PeeringRecords } from './peering-records';
import type { FederationStores, OpenSideDatabase, OutboxClaims } from './ports';
import { Phonebook, type PhonebookSource } from './phonebook';
import { PhonebookFile } from './phonebook-file';
import { PartnerPhonebooks } from './partner-phonebooks';
import { PartnerProbeService } from './partner-probe';
import { PolicyStore } from './policy';
import { refusalTearsDownAccept } from './retry-policy';
import {
  BurstLimiter,
  type HitLimiter,
  type MaybeSharedHitLimiter,
  RateLimiter,
  SharedBurstLimiter,
  type SharedHitLimiter,
  perIpBurst,
} from './rate-limiter';
import { RequestVerifier } from './request-verifier';
import { deriveIax2Secret } from './secret-derivation';
import { SignedClient } from './signed-client';
import { UuruExtensionTable } from './uuru-extension-table';
import type { Job, JobHandle } from '../jobs/job';
import { runnerFor } from '../jobs/job-runner';
import { publishedPeerMap, type PeerMapField } from './peer-map';

/**
 * What the federation's HTTP routes (src/http/federation) call: the protocol
 * core's services and the rate limiters the routes and the per-IP gate share.
 */
export interface FederationSurface {
  inbound: InboundHandshake;
  /** v1 → v2 upgrade (the acceptor's side is a route). */
  upgrade: V1Upgrade;
  records: PeeringRecords;
  verifier: RequestVerifier;
  partnerKeys: PartnerKeyStore;
  localKeys: LocalKeys;
  policy: PolicyStore;
  phonebook: Phonebook;
  /** Per address: in memory (BurstLimiter, answers at once), or shared by the replicas (may wait on the store). */
  perIp: MaybeSharedHitLimiter;
  /** Per partner (server name): in memory, or shared by the replicas. */
  perOrigin: HitLimiter | SharedHitLimiter;
  /** Our peers as the descriptor's peer_map publishes them (used only when federation.publishPeerMap is on). */
  publishedPeerMap(): Promise<PeerMapField>;
}

export type FederationFeature = Feature & {
  admin: FederationAdmin;
  surface: FederationSurface;
  /** Each partner's descriptor and a round trip it answers (for the doctor). */
  partnerProbe: PartnerProbe;
};

const MINUTE = 60 * 1000;
const ACCEPT_NOT_DELIVERED = 'the partner was not told of the accept';

/**
 * The federation protocol layer (its HTTP routes are src/http/federation,
 * built on `surface`): the handshake, policy, outbox delivery and the scheduled jobs
 * (anti-entropy, key rotation, nonce purge).
 */
export function createFederationFeature(
  ctx: ServiceContext & {
    asterisk: AsteriskPort;
    /** The policy store, when the composition shares it (with the Asterisk layer, for the unfederated numbers). */
    policy?: PolicyStore;
    /** The protocol's stores (src/federation/ports), built by the composition on its database. */
    stores: FederationStores;
    /** Opens the µURU database of phonebook.uuruDatabase (src/store/mysql-pool.ts). */
    openSideDatabase: OpenSideDatabase;
    /**
     * Replicas sharing the database (config.ha): outbox items claimed per delivery, the per-origin
     * limit counted in the database, the per-IP limit's buckets shared. Unset: one process, limits in memory.
     */
    replicas?: {
      outboxClaims: OutboxClaims;
      perOrigin: (limitPerMinute: number) => SharedHitLimiter;
      /** The per-IP limit's buckets (the database; SharedBurstLimiter reserves a few hits at a time). */
      perIpBuckets: SharedBuckets;
      /** Each peer's apply state per Asterisk node, for the admin views. */
      applyStates: PeerApplyStates;
    };
  },
): FederationFeature {
  const { config, clock, logger, metrics, stores } = ctx;
  const fed = config.federation;
  const tx = stores.transactions;
  const localKeys = new LocalKeys({
    store: stores.localKeys,
    transactions: tx,
    keyEncryptionSecret: stores.keyEncryptionSecret,
    clock,
    config,
    logger,
  });
  const partnerKeys = new PartnerKeyStore({
    store: stores.partners,
    clock,
    fetch: ctx.fetch,
    logger,
    timeoutMs: Math.min(5000, fed.httpTimeoutMs),
  });
  const nonces = stores.nonces;
  const retry = { baseMs: fed.outboxRetryBaseMs, maxMs: fed.outboxRetryMaxMs };
  let worker: DeliveryWorker | null = null;
  const health = new PartnerHealthService({
    store: stores.partnerHealth,
    clock,
    logger,
    retry,
    suspendAfterDays: fed.partnerSuspendAfterDays,
    // A partner heard from again (a verified request, an answer after failures): its queue is due now.
    onWake: (serverName) => {
      void worker?.wakePartner(serverName).catch((e: unknown) =>
        logger.error('could not wake a partner queue', {
          component: 'partner-health',
          partner: serverName,
          error: e instanceof Error ? e.message : String(e),
        }),
      );
    },
  });
  /** A verified request from a partner: its inbound health (and a wake-up when it was waiting). */
  const onVerified = (serverName: string): void => {
    void health.recordInbound(serverName).catch((e: unknown) =>
      logger.error('could not record a partner contact', {
        component: 'partner-health',
        partner: serverName,
        error: e instanceof Error ? e.message : String(e),
      }),
    );
  };
  const verifier = new RequestVerifier({
    clock,
    partnerKeys,
    nonces,
    ourPublicUrl: config.instance.publicUrl,
    logger,
    metrics,
    onVerified,
  });
  const signed = new SignedClient({
    localKeys,
    clock,
    fetch: ctx.fetch,
    timeoutMs: fed.httpTimeoutMs,
    logger,
  });
  // Every call to a partner goes through the transport, which records its outcome in the partner's health.
  const transport = new PartnerTransport({
    signed,
    fetch: ctx.fetch,
    timeoutMs: fed.httpTimeoutMs,
    observe: (send) => health.observe(send),
  });
  const policy = ctx.policy ?? new PolicyStore({ settings: stores.settings, clock, config });
  const outbox = new Outbox({
    store: stores.outbox,
    clock,
    onEnqueued: () => worker?.kick(),
    onSendNow: (item) => (worker ? worker.sendNow(item) : undefined),
  });

  const deps: HandshakeDeps = {
    config,
    peerings: stores.peerings,
    clock,
    logger,
    tx,
    policy,
    ownKeys: localKeys,
    partnerKeys,
    transport,
    outbox,
    asterisk: ctx.asterisk,
    fetchDescriptor: (baseUrl) =>
      fetchDescriptor(baseUrl, { fetch: ctx.fetch, timeoutMs: fed.httpTimeoutMs }),
    deriveSecret: (p) =>
      deriveIax2Secret({
        ownAgreementPrivateKey: p.ownPrivateKey,
        partnerAgreementPublicKey: p.partnerPublicKey,
        requestId: p.requestId,
        name: p.name,
      }),
  };
  const handshake = new Handshake(deps);
  const upgrade = new V1Upgrade(deps);
  const inbound = new InboundHandshake(deps);
  const records = handshake.records;

  const onReport = async (r: DeliveryReport): Promise<void> => {
    if (r.item.kind !== 'accept' || !r.item.requestId || r.outcome === 'retry') return;
    // Refused for good (not merely given up after retries): the partner will never hold the peering.
    if (r.outcome === 'final' && r.status !== null && refusalTearsDownAccept(r.status)) {
      await handshake.acceptRefusedByPartner(r.item, r.message ?? `HTTP ${r.status}`);
      return;
    }
    // A final failure is shown on the peer (anti-entropy and the admin take it from here); a later success clears it.
    const now = clock.now();
    const partnerError = r.outcome === 'final' ? `${ACCEPT_NOT_DELIVERED}: ${r.message ?? ''}` : null;
    const peer = await stores.peerings.findPeer({ requestId: r.item.requestId });
    if (!peer) return;
    // Only this failure is cleared here: anti-entropy's finding stands until anti-entropy sees it fixed.
    if (partnerError === null && !peer.partnerError?.startsWith(ACCEPT_NOT_DELIVERED)) return;
    await stores.peerings.updatePeer(peer.id, {
      partnerError,
      partnerErrorAt: partnerError === null ? null : now,
      updatedAt: now,
    });
  };
  worker = new DeliveryWorker({
    store: stores.outbox,
    clock,
    logger,
    metrics,
    send: (call) => transport.send(call),
    health,
    retry,
    pollMs: config.jobs.outboxPollMs,
    onReport,
    claims: ctx.replicas?.outboxClaims,
  });
  const antiEntropy = new AntiEntropy({
    peerings: stores.peerings,
    transport,
    outbox,
    tx,
    clock,
    logger,
    metrics,
    catchUpRotation: (peerId) => handshake.forceSecretRotation(peerId),
  });
  const rotation = new KeyRotation({ localKeys, clock, logger });
  const keyEpochs = new KeyEpochs({
    peerings: stores.peerings,
    tx,
    clock,
    logger,
    asterisk: ctx.asterisk,
    ownKeys: localKeys,
    partnerKeys,
    deriveSecret: deps.deriveSecret,
    overlapMs: fed.secretOverlapSeconds * 1000,
  });
  const sources: PhonebookSource[] = [];
  if (config.phonebook.uuruDatabase)
    sources.push(new UuruExtensionTable(config.phonebook.uuruDatabase, clock, ctx.openSideDatabase));
  if (config.phonebook.file) sources.push(new PhonebookFile(config.phonebook.file));
  const phonebook = new Phonebook({
    sources,
    logger,
    unfederated: () => policy.unfederatedSet(),
  });
  const partnerPhonebooks = new PartnerPhonebooks({
    peerings: stores.peerings,
    transport,
    fetch: ctx.fetch,
    clock,
    logger,
    ttlMs: config.phonebook.partnerCacheSeconds * 1000,
    timeoutMs: fed.httpTimeoutMs,
  });
  const ownPerIp = new BurstLimiter(
    clock,
    fed.rateLimitPerIpPerMinute,
    MINUTE,
    perIpBurst(fed.rateLimitPerIpPerMinute),
  );
  // With replicas one address gets one limit across them; the replica's own bucket stands in while the store fails.
  let storeFailureLogged = -Infinity;
  const perIp: MaybeSharedHitLimiter = ctx.replicas
    ? new SharedBurstLimiter(
        clock,
        fed.rateLimitPerIpPerMinute,
        MINUTE,
        perIpBurst(fed.rateLimitPerIpPerMinute),
        ctx.replicas.perIpBuckets,
        ownPerIp,
        {
          onError: (e) => {
            if (clock.now() - storeFailureLogged < MINUTE) return;
            storeFailureLogged = clock.now();
            logger.warn('the shared per-IP limit is unreachable; this replica counts on its own meanwhile', {
              component: 'federation',
              error: e instanceof Error ? e.message : String(e),
            });
          },
        },
      )
    : ownPerIp;
  const perOrigin = ctx.replicas
    ? ctx.replicas.perOrigin(fed.rateLimitPerOriginPerMinute)
    : new RateLimiter(clock, fed.rateLimitPerOriginPerMinute, MINUTE);

  const retryDeliveriesNow = async (): Promise<RetryDeliveriesReport> => {
    await worker.makeAllDue();
    const reports = await worker.runExclusive();
    return {
      attempted: reports.length,
      delivered: reports.filter((r) => r.outcome === 'delivered').length,
      pending: await outbox.pendingCount(),
    };
  };
  const admin = new FederationAdminService({
    handshake,
    peerings: stores.peerings,
    outbox,
    policy,
    localKeys,
    partnerKeys,
    partnerPhonebooks,
    retryDeliveriesNow,
    health,
    queue: worker,
    logger,
    asterisk: ctx.asterisk,
    clock,
    secretOverlapMs: fed.secretOverlapSeconds * 1000,
    applyStates: ctx.replicas?.applyStates,
  });
  const notices = new HealthNotices({
    peerings: stores.peerings,
    partners: stores.partners,
    outbox: stores.outbox,
    partnerHealth: stores.partnerHealth,
    clock,
    notifier: ctx.notifier ?? silentNotifier,
    keyExpiryWarnMs: config.notify.partnerKeyExpiryWarnDays * 24 * 60 * MINUTE,
    outboxStuckMs: config.notify.outboxStuckMinutes * MINUTE,
    checkIntervalMs: config.notify.checkIntervalMs,
  });
  const jobs: Job[] = [
    worker.job,
    // With replicas, these run on one replica per period (a lease, src/jobs); the rest on each.
    { ...notices.job, scope: 'cluster' },
    {
      name: 'anti-entropy',
      schedule: { cron: config.jobs.antiEntropyCron },
      scope: 'cluster',
      run: () => antiEntropy.run(),
    },
    {
      name: 'v1-upgrade',
      schedule: { gapMs: config.jobs.v1UpgradePollMs },
      runAtStart: true,
      scope: 'cluster',
      run: () => upgrade.run(),
    },
    {
      // Agreement key rotation into trunk secret epochs: as often as the Asterisk layer's epoch job looks.
      name: 'key-epochs',
      schedule: { gapMs: config.jobs.secretEpochPollMs },
      runAtStart: true,
      scope: 'cluster',
      run: () => keyEpochs.run(),
    },
    {
      name: 'key-rotation',
      schedule: { cron: config.jobs.keyRotationCron },
      scope: 'cluster',
      run: () => rotation.run(),
    },
    {
      name: 'nonce-purge',
      schedule: { cron: '*/5 * * * *' },
      scope: 'cluster',
      run: () => nonces.purgeExpired(),
    },
  ];
  let handles: JobHandle[] = [];

  return {
    name: 'federation',
    admin,
    surface: {
      inbound,
      upgrade,
      records,
      verifier,
      partnerKeys,
      localKeys,
      policy,
      phonebook,
      perIp,
      perOrigin,
      // Only the columns the map shows: no peer's sealed secret is opened for a descriptor request.
      publishedPeerMap: async () => publishedPeerMap(await stores.peerings.listPeerMapRows()),
    },
    partnerProbe: new PartnerProbeService({
      peerings: stores.peerings,
      transport,
      fetch: ctx.fetch,
      timeoutMs: Math.min(5000, fed.httpTimeoutMs),
    }),
    async start() {
      await localKeys.ensureKeys();
      await policy.get();
      // The first accept after start should not pay the first run of its store and crypto work; before the
      // jobs' first runs, so that it takes no turn from them.
      const rehearsal = await rehearseAccept(deps, records);
      logger.debug('accept rehearsed', { component: 'federation', ...rehearsal });
      const runner = runnerFor(ctx);
      handles = jobs.map((j) => runner.add(j));
    },
    async stop() {
      await Promise.all(handles.map((h) => h.remove()));
      handles = [];
      await worker.stop();
      await phonebook.close();
    },
  };
}
