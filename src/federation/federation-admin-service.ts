import type { AsteriskPort } from '../core/asterisk-port';
import type { Clock } from '../core/clock';
import { AppError } from '../core/errors';
import type {
  CreateOutgoingInput,
  DeliveryView,
  FederationAdmin,
  IncomingRequestView,
  KeyView,
  OutgoingRequestView,
  PartnerHealthView,
  PartnerPhonebookView,
  PeerView,
  Policy,
  PolicyChangeReport,
  PurgeQueueReport,
  RetryDeliveriesReport,
} from '../core/federation-admin';
import type { PartnerPeerMap } from '../core/federation-map';
import type { OutboxItem } from '../core/records';
import type { PeerApplyStates } from '../core/replicas';
import { readPeerMap } from './peer-map';
import { partnerOf } from './delivery-worker';
import { authorityOf } from './partner-call';
import type { PartnerHealthService } from './partner-health';
import type { Logger } from '../logging/logger';
import type { Handshake } from './handshake';
import type { LocalKeys } from './local-keys';
import type { Outbox } from './outbox';
import type { PartnerKeyStore } from './partner-keys';
import type { PartnerPhonebooks } from './partner-phonebooks';
import { syncInBackground } from './handshake-deps';
import type { PeeringStore, PeerSummary } from './ports/peering-store';
import { admits, type PolicyStore } from './policy';
import {
  deliveryView,
  type EpochClock,
  incomingView,
  keyView,
  outgoingView,
  partnerHealthView,
  peerSummary,
  peerView,
} from './views';

/** Given-up deliveries listed at most (they stay in the database; the newest matter). */
const FAILED_DELIVERIES_SHOWN = 100;

/** The FederationAdmin the admin API, panel and CLI call; a thin layer over the handshake and stores. */
export class FederationAdminService implements FederationAdmin {
  constructor(
    private readonly deps: {
      handshake: Handshake;
      peerings: PeeringStore;
      outbox: Outbox;
      policy: PolicyStore;
      localKeys: LocalKeys;
      partnerKeys: PartnerKeyStore;
      partnerPhonebooks: PartnerPhonebooks;
      /** One outbox pass with every pending delivery made due. */
      retryDeliveriesNow: () => Promise<RetryDeliveriesReport>;
      /** Partner health (partner-health.ts) and the outbox queue per partner (the delivery worker). */
      health: PartnerHealthService;
      queue: {
        pendingOf(server: string): Promise<OutboxItem[]>;
        wakePartner(server: string): Promise<number>;
        purgePartner(server: string): Promise<number>;
      };
      logger: Logger;
      /** Told when the unfederated numbers change, so the dial plan's hang-up patterns follow. */
      asterisk: AsteriskPort;
      /** The injected clock and the epoch overlap: where each peer's trunk secret epochs stand. */
      clock: Clock;
      secretOverlapMs: number;
      /**
       * Replicas (config.ha): each peer's apply state per Asterisk node; a peer's view then shows
       * the state over the live replicas' nodes (applied only when applied on every one) and each node's.
       */
      applyStates?: PeerApplyStates;
    },
  ) {}

  /** The peers' views, with their apply state over the replicas' Asterisk nodes when there are replicas. */
  private async peerViews(rows: PeerSummary[]): Promise<PeerView[]> {
    const d = await this.deps.outbox.pendingByRequest(rows.map((p) => p.requestId));
    const at = this.epochClock;
    const nodes = this.deps.applyStates ? await this.deps.applyStates.summarize(rows.map((p) => p.id)) : null;
    return rows.map((p) => {
      const s = nodes?.get(p.id);
      const view = peerView(
        s ? { ...p, applyState: s.applyState, applyError: s.applyError, appliedAt: s.appliedAt } : p,
        d.get(p.requestId),
        at,
      );
      return s
        ? {
            ...view,
            apply_nodes: s.nodes.map((n) => ({
              node: n.node,
              apply_state: n.applyState,
              apply_error: n.applyError,
              applied_at: n.appliedAt === null ? null : new Date(n.appliedAt).toISOString(),
            })),
          }
        : view;
    });
  }

  private get epochClock(): EpochClock {
    return { now: this.deps.clock.now(), overlapMs: this.deps.secretOverlapMs };
  }

  async createOutgoingRequest(input: CreateOutgoingInput): Promise<OutgoingRequestView> {
    const req = await this.deps.handshake.createOutgoing(input);
    const d = await this.deps.outbox.pendingByRequest([req.id]);
    return outgoingView(req, d.get(req.id));
  }

  async listOutgoingRequests(): Promise<OutgoingRequestView[]> {
    const rows = await this.deps.peerings.listOutgoing();
    const d = await this.deps.outbox.pendingByRequest(rows.map((r) => r.id));
    return rows.map((r) => outgoingView(r, d.get(r.id)));
  }

  revokeOutgoingRequest(id: string, opts: { localOnly: boolean }): Promise<void> {
    return this.deps.handshake.revokeOutgoing(id, opts);
  }

  async listIncomingRequests(): Promise<IncomingRequestView[]> {
    const rows = await this.deps.peerings.listIncoming();
    const out: IncomingRequestView[] = [];
    for (const r of rows) {
      const fp =
        r.dialect === 'v2' && r.partnerServerName
          ? ((await this.deps.partnerKeys.fingerprints(r.partnerServerName))[0] ?? null)
          : null;
      out.push(incomingView(r, fp));
    }
    return out;
  }

  async acceptIncomingRequest(
    id: string,
    input: { prefix: string; local_only?: boolean },
  ): Promise<PeerView> {
    const peer = await this.deps.handshake.acceptIncoming(id, {
      prefix: input.prefix,
      localOnly: input.local_only === true,
    });
    return this.getPeer(peer.id);
  }

  declineIncomingRequest(id: string, opts: { localOnly: boolean; reason?: string }): Promise<void> {
    return this.deps.handshake.declineIncoming(id, opts);
  }

  async partnerPeerMaps(opts: { waitMs: number }): Promise<Map<string, PartnerPeerMap>> {
    const names = new Set<string>();
    for (const p of await this.deps.peerings.listPeers({ dialect: 'v2' })) {
      try {
        names.add((p.partnerServerName ?? authorityOf(p.partnerUrl)).toLowerCase());
      } catch {
        // a peer without a valid address has no partner to ask
      }
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...names].map((n) => this.deps.partnerKeys.refreshDescriptor(n))),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, opts.waitMs);
      }),
    ]);
    clearTimeout(timer);
    const maps = new Map<string, PartnerPeerMap>();
    for (const name of names) {
      const partner = await this.deps.partnerKeys.get(name);
      maps.set(name, readPeerMap(partner?.descriptor?.peer_map, partner?.fetchedAt ?? null));
    }
    return maps;
  }

  async listPeers(): Promise<PeerView[]> {
    return this.peerViews(await this.deps.peerings.listPeerSummaries());
  }

  async getPeer(id: string): Promise<PeerView> {
    const p = await this.deps.peerings.findPeer({ id });
    if (!p) throw new AppError('FED_UNKNOWN_PEER', `no peer ${id}`);
    const [view] = await this.peerViews([peerSummary(p)]);
    return view;
  }

  async forceSecretRotation(id: string): Promise<PeerView> {
    await this.deps.handshake.forceSecretRotation(id);
    return this.getPeer(id);
  }

  teardownPeer(id: string, opts: { localOnly: boolean }): Promise<void> {
    return this.deps.handshake.teardownPeer(id, opts);
  }

  async refreshPartner(
    id: string,
  ): Promise<{ server_name: string; fingerprints: string[]; confirmed: number }> {
    const peer = await this.deps.peerings.findPeer({ id });
    const serverName = (peer?.partnerServerName ?? id).toLowerCase();
    if (peer && peer.dialect !== 'v2')
      throw new AppError('FED_STATE_CONFLICT', `peer ${peer.name} is a legacy (v1) peer without keys`);
    const r = await this.deps.partnerKeys.confirmHeld(serverName);
    if (peer && r.fingerprints[0]) {
      await this.deps.peerings.updatePeer(peer.id, { partnerKeyFingerprint: r.fingerprints[0] });
    }
    return { server_name: serverName, fingerprints: r.fingerprints, confirmed: r.confirmed };
  }

  getPolicy(): Promise<Policy> {
    return this.deps.policy.get();
  }

  async setPolicy(policy: Policy): Promise<PolicyChangeReport> {
    const before = (await this.deps.policy.get()).unfederated_numbers;
    const stored = await this.deps.policy.set(policy);
    if (before.join('\n') !== stored.unfederated_numbers.join('\n')) {
      syncInBackground(this.deps, 'policy-unfederated-numbers');
    }
    const affected: PolicyChangeReport['affected_peers'] = [];
    const byName = (await this.deps.peerings.listPeers()).sort((x, y) =>
      x.name < y.name ? -1 : x.name > y.name ? 1 : 0,
    );
    for (const p of byName) {
      const v = admits(stored, { serverName: p.partnerServerName ?? '', dialect: p.dialect });
      if (!v.ok) affected.push({ name: p.name, reason: v.reason });
    }
    this.deps.logger.info('federation policy changed', {
      component: 'federation',
      mode: stored.mode,
      affectedPeers: affected.length,
    });
    return { policy: stored, affected_peers: affected };
  }

  async listKeys(): Promise<KeyView[]> {
    return (await this.deps.localKeys.list()).filter((k) => k.status !== 'retired').map(keyView);
  }

  async rotateKeys(): Promise<KeyView[]> {
    await this.deps.localKeys.rotate();
    return this.listKeys();
  }

  partnerPhonebook(peerId: string, opts: { refresh?: boolean } = {}): Promise<PartnerPhonebookView> {
    return this.deps.partnerPhonebooks.forPeer(peerId, opts);
  }

  partnerPhonebooks(opts: { refresh?: boolean } = {}): Promise<PartnerPhonebookView[]> {
    return this.deps.partnerPhonebooks.all(opts);
  }

  async listDeliveries(filter: { state?: 'pending' | 'failed' } = {}): Promise<DeliveryView[]> {
    const items = await this.deps.outbox.list({ ...filter, failedLimit: FAILED_DELIVERIES_SHOWN });
    return items.map(deliveryView);
  }

  retryDeliveriesNow(): Promise<RetryDeliveriesReport> {
    return this.deps.retryDeliveriesNow();
  }

  async listPartnerHealth(): Promise<PartnerHealthView[]> {
    const [rows, peers, pending] = await Promise.all([
      this.deps.health.list(),
      this.deps.peerings.listPeers(),
      this.deps.outbox.list({ state: 'pending', failedLimit: 0 }),
    ]);
    const names = new Set<string>(rows.map((r) => r.serverName));
    for (const p of peers) names.add(serverOfUrl(p.partnerUrl));
    for (const i of pending) names.add(partnerOf(i) ?? '');
    names.delete('');
    const byName = new Map(rows.map((r) => [r.serverName, r]));
    return [...names].sort().map((n) =>
      partnerHealthView(n, byName.get(n) ?? null, {
        peers: peers.filter((p) => serverOfUrl(p.partnerUrl) === n).map((p) => p.name),
        pending: pending.filter((i) => partnerOf(i) === n).length,
      }),
    );
  }

  async getPartnerHealth(id: string): Promise<PartnerHealthView> {
    const server = await this.resolvePartner(id);
    const [row, peers, pending] = await Promise.all([
      this.deps.health.get(server),
      this.deps.peerings.listPeers(),
      this.deps.queue.pendingOf(server),
    ]);
    return partnerHealthView(server, row, {
      peers: peers.filter((p) => serverOfUrl(p.partnerUrl) === server).map((p) => p.name),
      pending: pending.length,
    });
  }

  async pausePartnerQueue(id: string): Promise<PartnerHealthView> {
    const server = await this.resolvePartner(id);
    await this.deps.health.setPaused(server, true);
    this.deps.logger.info('partner queue paused', { component: 'partner-health', partner: server });
    return this.getPartnerHealth(server);
  }

  async resumePartnerQueue(id: string): Promise<PartnerHealthView> {
    const server = await this.resolvePartner(id);
    await this.deps.health.setPaused(server, false);
    await this.deps.queue.wakePartner(server);
    this.deps.logger.info('partner queue resumed', { component: 'partner-health', partner: server });
    return this.getPartnerHealth(server);
  }

  async purgePartnerQueue(id: string): Promise<PurgeQueueReport> {
    const server = await this.resolvePartner(id);
    const purged = await this.deps.queue.purgePartner(server);
    return { purged, partner: await this.getPartnerHealth(server) };
  }

  /** A server name (host[:port], any case) or a peer id to the partner's server name; FED_UNKNOWN_PARTNER otherwise. */
  private async resolvePartner(id: string): Promise<string> {
    const peer = await this.deps.peerings.findPeer({ id });
    if (peer) return serverOfUrl(peer.partnerUrl);
    const server = id.toLowerCase();
    if (await this.deps.health.get(server)) return server;
    const peers = await this.deps.peerings.listPeers();
    if (peers.some((p) => serverOfUrl(p.partnerUrl) === server)) return server;
    if ((await this.deps.queue.pendingOf(server)).length > 0) return server;
    throw new AppError('FED_UNKNOWN_PARTNER', `no partner ${id}`);
  }
}

function serverOfUrl(url: string): string {
  try {
    return authorityOf(url);
  } catch {
    return '';
  }
}
