import { Router } from 'express';
import type { Feature, ServiceContext } from '../app';
import type { AsteriskPort } from '../core/asterisk-port';
import type { FederationAdmin, RetryDeliveriesReport } from '../core/federation-admin';
import { AntiEntropy } from './anti-entropy';
import { DeliveryWorker, type DeliveryReport } from './delivery-worker';
import { fetchDescriptor } from './descriptor';
import { FederationAdminService } from './federation-admin-service';
import { Handshake } from './handshake';
import { InboundHandshake } from './handshake-inbound';
import { KeyRotation } from './key-rotation';
import { legacyRoutes } from './legacy-routes';
import { LocalKeys } from './local-keys';
import { NonceStore } from './nonce-store';
import { Outbox } from './outbox';
import { PartnerKeyStore } from './partner-keys';
import { PartnerTransport } from './partner-transport';
import type { HandshakeDeps } from './peering-records';
import { Phonebook, type PhonebookSource } from './phonebook';
import { PhonebookFile } from './phonebook-file';
import { PartnerPhonebooks } from './partner-phonebooks';
import { PolicyStore } from './policy';
import { refusalTearsDownAccept } from './retry-policy';
import { BurstLimiter, RateLimiter, perIpBurst } from './rate-limiter';
import { perIpGate } from './client-rate-limit';
import { RequestVerifier } from './request-verifier';
import { JobScheduler } from './scheduled-jobs';
import { deriveIax2Secret } from './secret-derivation';
import { SerialTransactions } from './serial-transactions';
import { SignedClient } from './signed-client';
import { UuruExtensionTable } from './uuru-extension-table';
import { v2Routes } from './v2-routes';

/** Operations beyond FederationAdmin that tests, the CLI and the admin layer may use. */
export interface FederationOps {
  /** One outbox pass with every pending notification due now ("retry now"). */
  retryDeliveriesNow(): Promise<RetryDeliveriesReport>;
  runAntiEntropy(): Promise<unknown>;
  runKeyRotation(): Promise<{ changed: boolean }>;
}

export type FederationFeature = Feature & { admin: FederationAdmin; ops: FederationOps };

const MINUTE = 60 * 1000;
const ACCEPT_NOT_DELIVERED = 'the partner was not told of the accept';

/**
 * The federation protocol layer: descriptor, uuru-fed/2 and legacy v1
 * routes, the handshake, policy, outbox delivery and the scheduled jobs
 * (anti-entropy, key rotation, nonce purge).
 */
export function createFederationFeature(
  ctx: ServiceContext & {
    asterisk: AsteriskPort;
    /** The policy store, when the composition shares it (with the Asterisk layer, for the unfederated numbers). */
    policy?: PolicyStore;
  },
): FederationFeature {
  const { config, db, clock, logger, metrics } = ctx;
  const fed = config.federation;
  const localKeys = new LocalKeys({ db, clock, config, logger });
  const partnerKeys = new PartnerKeyStore({
    db,
    clock,
    fetch: ctx.fetch,
    logger,
    timeoutMs: Math.min(5000, fed.httpTimeoutMs),
  });
  const nonces = new NonceStore(db, clock);
  const verifier = new RequestVerifier({
    clock,
    partnerKeys,
    nonces,
    ourPublicUrl: config.instance.publicUrl,
    logger,
    metrics,
  });
  const signed = new SignedClient({
    localKeys,
    clock,
    fetch: ctx.fetch,
    timeoutMs: fed.httpTimeoutMs,
    logger,
  });
  const transport = new PartnerTransport({ signed, fetch: ctx.fetch, timeoutMs: fed.httpTimeoutMs });
  const tx = new SerialTransactions(db);
  const policy = ctx.policy ?? new PolicyStore({ db, clock, config });
  let worker: DeliveryWorker | null = null;
  const outbox = new Outbox({
    db,
    clock,
    maxAgeMs: fed.outboxMaxAgeHours * 60 * MINUTE,
    onEnqueued: () => worker?.kick(),
  });

  const deps: HandshakeDeps = {
    config,
    db,
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
    if (partnerError === null) {
      // Only this failure is cleared here: anti-entropy's finding stands until anti-entropy sees it fixed.
      const peer = await records.peers().findOneBy({ requestId: r.item.requestId });
      if (!peer?.partnerError?.startsWith(ACCEPT_NOT_DELIVERED)) return;
    }
    await records
      .peers()
      .update(
        { requestId: r.item.requestId },
        { partnerError, partnerErrorAt: partnerError === null ? null : now, updatedAt: now },
      );
  };
  worker = new DeliveryWorker({
    db,
    clock,
    logger,
    metrics,
    send: (call) => transport.send(call),
    retry: { baseMs: fed.outboxRetryBaseMs, maxMs: fed.outboxRetryMaxMs },
    pollMs: config.jobs.outboxPollMs,
    onReport,
  });
  const antiEntropy = new AntiEntropy({ records, transport, outbox, tx, clock, logger });
  const rotation = new KeyRotation({ localKeys, clock, logger });
  const sources: PhonebookSource[] = [];
  if (config.phonebook.uuruDatabase)
    sources.push(new UuruExtensionTable(config.phonebook.uuruDatabase, clock));
  if (config.phonebook.file) sources.push(new PhonebookFile(config.phonebook.file));
  const phonebook = new Phonebook({
    sources,
    logger,
    unfederated: () => policy.unfederatedSet(),
  });
  const partnerPhonebooks = new PartnerPhonebooks({
    records,
    transport,
    fetch: ctx.fetch,
    clock,
    logger,
    ttlMs: config.phonebook.partnerCacheSeconds * 1000,
    timeoutMs: fed.httpTimeoutMs,
  });
  const perIp = new BurstLimiter(
    clock,
    fed.rateLimitPerIpPerMinute,
    MINUTE,
    perIpBurst(fed.rateLimitPerIpPerMinute),
  );
  const perOrigin = new RateLimiter(clock, fed.rateLimitPerOriginPerMinute, MINUTE);

  const router = Router();
  router.use(
    v2Routes({
      config,
      clock,
      metrics,
      inbound,
      records,
      verifier,
      partnerKeys,
      localKeys,
      policy,
      phonebook,
      perIp,
      perOrigin,
    }),
  );
  router.use(legacyRoutes({ config, metrics, logger, inbound, phonebook, perIp }));

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
    records,
    outbox,
    policy,
    localKeys,
    partnerKeys,
    partnerPhonebooks,
    retryDeliveriesNow,
    logger,
    asterisk: ctx.asterisk,
  });
  const scheduler = new JobScheduler(logger);
  const ops: FederationOps = {
    retryDeliveriesNow,
    runAntiEntropy: () => antiEntropy.run(),
    runKeyRotation: () => rotation.run(),
  };

  return {
    name: 'federation',
    federationRouter: router,
    federationGate: perIpGate(perIp, metrics, { trustProxy: config.http.trustProxy }),
    admin,
    ops,
    async start() {
      await localKeys.ensureKeys();
      await policy.get();
      worker.start();
      scheduler.start([
        { name: 'anti-entropy', schedule: config.jobs.antiEntropyCron, run: () => antiEntropy.run() },
        { name: 'key-rotation', schedule: config.jobs.keyRotationCron, run: () => rotation.run() },
        { name: 'nonce-purge', schedule: '*/5 * * * *', run: () => nonces.purgeExpired() },
      ]);
    },
    async stop() {
      await scheduler.stop();
      await worker.stop();
      await phonebook.close();
    },
  };
}
