import type { Codec } from '../config/schema';
import type { PartnerPeerMap } from './federation-map';
import type { ApplyState, Dialect, OutboxKind, Reachability, TestCallRecord } from './records';

/**
 * What the admin surfaces (API, panel, CLI) ask of the federation layer.
 * Implemented in src/federation/; the admin layer depends only on this.
 * Every method throws AppError with a stable code on refusal.
 */

export interface OutgoingRequestView {
  id: string;
  name: string;
  /** The ASCII-safe name of the peering in Asterisk's dial plan (see asteriskName): the name itself unless it is Unicode. */
  asterisk_name: string;
  partner_url: string;
  prefix: string;
  codec: string;
  dialect: Dialect;
  state: 'pending' | 'declined' | 'failed';
  decline_reason: string | null;
  last_error: string | null;
  pending_deliveries: number;
  created_at: string;
}

export interface IncomingRequestView {
  id: string;
  request_id: string;
  name: string;
  /** The ASCII-safe name of the peering in Asterisk's dial plan (see asteriskName): the name itself unless it is Unicode. */
  asterisk_name: string;
  partner_url: string;
  partner_iax_host: string;
  partner_extension_length: number;
  codec: string;
  dialect: Dialect;
  state: 'pending' | 'declined';
  /** v2: fingerprint of the partner's pinned signing key, for out-of-band comparison. */
  partner_key_fingerprint: string | null;
  created_at: string;
}

export interface PeerView {
  id: string;
  name: string;
  /** The ASCII-safe name of the peering in Asterisk's dial plan (see asteriskName): the name itself unless it is Unicode. */
  asterisk_name: string;
  prefix: string;
  partner_url: string;
  dialect: Dialect;
  role: 'requester' | 'acceptor';
  state: 'active' | 'partner_missing';
  apply_state: ApplyState;
  apply_error: string | null;
  /**
   * Replicas only (config.ha): the peer's apply state on each Asterisk node of the live replicas;
   * apply_state above is then applied only when applied on every one.
   */
  apply_nodes?: Array<{
    node: string;
    apply_state: ApplyState;
    apply_error: string | null;
    applied_at: string | null;
  }>;
  reachability: Reachability;
  latency_ms: number | null;
  last_seen: string | null;
  /** The last problem the Asterisk layer saw on the trunk; kept after it recovers. */
  link_error: string | null;
  link_error_at: string | null;
  /** What is wrong on the partner's side of the peering (protocol); cleared when fixed. */
  partner_error: string | null;
  partner_error_at: string | null;
  /** Derived, for older clients: partner_error, else link_error. */
  last_error: string | null;
  partner_key_fingerprint: string | null;
  partner_iax_host: string;
  partner_extension_length: number;
  codec: string;
  last_test_call: TestCallRecord | null;
  pending_deliveries: number;
  created_at: string;
  /**
   * The trunk secret's epochs (v2, agreed in the handshake): the epoch length,
   * the current epoch number, when the next rotation of the sent secret is due,
   * and which neighbouring epoch's secret is accepted too right now
   * ('previous' after a boundary, 'next' before one). null: a fixed secret.
   */
  trunk_rotation: {
    length_seconds: number;
    epoch: number;
    next_rotation_at: string;
    also_accepted: 'previous' | 'next' | null;
    /** A forced rotation agreed with the partner: when it takes effect (shown until its overlap is over). */
    forced_rotation_at: string | null;
    /**
     * Which secret the trunk sends now: the epoch's, or the v1 secret before
     * a v1 → v2 upgrade's switch (the epoch secret is then accepted only).
     */
    sends: 'epoch' | 'v1';
    /** A v1 → v2 upgrade's switch moment, shown while the v1 secret is still kept (sent before it, accepted for the overlap after). */
    switch_at: string | null;
    /**
     * Present only while an agreement key rotation is scheduled into the epochs: the boundary from
     * which the secret derives from the rotated keys, until that boundary's overlap is over.
     */
    agreement_key_switch_at?: string;
  } | null;
}

export interface Policy {
  mode: 'open' | 'invite_only' | 'closed';
  /** server names (host[:port]) or base URLs allowed in invite_only mode */
  allowed_peers: string[];
  /** always refused, whatever the mode */
  blocked_peers: string[];
  allow_legacy: boolean;
  /** local numbers never reachable from a peer nor listed in the phonebook; a trailing * marks a range */
  unfederated_numbers: string[];
}

export interface PolicyChangeReport {
  policy: Policy;
  /** existing peers the new policy would no longer admit (they are kept; the admin decides) */
  affected_peers: { name: string; reason: string }[];
}

export interface KeyView {
  kid: string;
  alg: 'ed25519' | 'x25519';
  status: string;
  fingerprint: string;
  public_key: string;
  not_before: string;
  expires_at: string;
}

export interface PartnerPhonebookEntry {
  /** what a local phone dials: our prefix for the peer, then the partner's extension */
  dial: string;
  extension: string;
  name: string;
}

export interface PartnerPhonebookView {
  peer: { id: string; name: string; prefix: string; dialect: Dialect };
  /** the last good fetch (kept when a later fetch fails) */
  entries: PartnerPhonebookEntry[];
  /** when the entries were fetched, null if never */
  fetched_at: string | null;
  /** why the last fetch failed or was not attempted; null when it succeeded */
  error: string | null;
  /** entries the partner sent that failed validation and are not shown */
  skipped: number;
}

/** A notification to a partner waiting in (or given up by) the outbox. Its body is never shown: v1 bodies carry the secret. */
export interface DeliveryView {
  id: string;
  kind: OutboxKind;
  dialect: Dialect;
  /** the partner's host[:port] */
  partner: string;
  peer_name: string | null;
  request_id: string | null;
  state: 'pending' | 'failed';
  attempts: number;
  /** when the next attempt is due; null once stopped (a pending delivery is never given up for want of an answer) */
  next_attempt_at: string | null;
  last_error: string | null;
  created_at: string;
  updated_at: string;
}

/** A partner's health: our calls to it (outbound) and its calls to us (inbound), and its queue. */
export interface PartnerHealthView {
  /** the partner's host[:port] */
  server_name: string;
  /** peers we hold with this partner */
  peers: string[];
  outbound: {
    /** ok: it answers; failing: our last calls got no answer (retried); suspended: failing on N distinct days; unknown: never called */
    state: 'ok' | 'failing' | 'suspended' | 'unknown';
    consecutive_failures: number;
    failing_since: string | null;
    /** distinct UTC days with a failure since it last answered */
    failure_days: number;
    /** its queue is not tried before this */
    next_attempt_at: string | null;
    last_success_at: string | null;
    last_failure_at: string | null;
    last_error: string | null;
    suspended_at: string | null;
    suspended_reason: string | null;
  };
  inbound: {
    /** the last request from it whose signature verified (written at most once a minute) */
    last_verified_at: string | null;
  };
  queue: {
    paused: boolean;
    paused_at: string | null;
    /** notifications waiting for it */
    pending: number;
  };
}

export interface PurgeQueueReport {
  /** pending notifications given up */
  purged: number;
  partner: PartnerHealthView;
}

export interface RetryDeliveriesReport {
  /** deliveries tried in this pass (one per request: later ones wait for the first) */
  attempted: number;
  delivered: number;
  /** still pending after the pass */
  pending: number;
}

export interface CreateOutgoingInput {
  name: string;
  partner_url: string;
  prefix: string;
  codec: Codec;
  dialect?: 'auto' | 'v2' | 'v1';
}

export interface FederationAdmin {
  /**
   * Each v2 partner's published peer map (descriptor peer_map), validated, by server name. Descriptors
   * due for a refetch are refetched first, waiting at most waitMs (then the stored ones are read).
   */
  partnerPeerMaps(opts: { waitMs: number }): Promise<Map<string, PartnerPeerMap>>;
  createOutgoingRequest(input: CreateOutgoingInput): Promise<OutgoingRequestView>;
  listOutgoingRequests(): Promise<OutgoingRequestView[]>;
  revokeOutgoingRequest(id: string, opts: { localOnly: boolean }): Promise<void>;
  listIncomingRequests(): Promise<IncomingRequestView[]>;
  /**
   * Accepts with our prefix. v1: the partner is told first and nothing is
   * stored unless it answers 2xx (FED_PARTNER_REFUSED 409 when it refuses,
   * FED_PARTNER_UNREACHABLE 502 when it cannot be told). localOnly: creates
   * the peer without telling the partner, for a partner that is gone.
   */
  acceptIncomingRequest(id: string, input: { prefix: string; local_only?: boolean }): Promise<PeerView>;
  declineIncomingRequest(id: string, opts: { localOnly: boolean; reason?: string }): Promise<void>;
  listPeers(): Promise<PeerView[]>;
  getPeer(id: string): Promise<PeerView>;
  teardownPeer(id: string, opts: { localOnly: boolean }): Promise<void>;
  /** Forces a trunk secret rotation agreed with the partner; the peer as it is then. */
  forceSecretRotation(id: string): Promise<PeerView>;
  /** Refetches a partner's descriptor and confirms held (unendorsed) keys. id: peer id or partner server name. */
  refreshPartner(id: string): Promise<{ server_name: string; fingerprints: string[]; confirmed: number }>;
  getPolicy(): Promise<Policy>;
  setPolicy(policy: Policy): Promise<PolicyChangeReport>;
  listKeys(): Promise<KeyView[]>;
  rotateKeys(): Promise<KeyView[]>;
  /**
   * A partner's phonebook with our prefix in front (cached; refresh forces a
   * fetch). A partner that cannot be read gives `error`, never a throw;
   * throws FED_UNKNOWN_PEER (404) for an unknown peer id.
   */
  partnerPhonebook(peerId: string, opts?: { refresh?: boolean }): Promise<PartnerPhonebookView>;
  /** partnerPhonebook() for every peer, in peer creation order. */
  partnerPhonebooks(opts?: { refresh?: boolean }): Promise<PartnerPhonebookView[]>;
  /** Pending deliveries (oldest first), then the most recent ones given up. */
  listDeliveries(filter?: { state?: 'pending' | 'failed' }): Promise<DeliveryView[]>;
  /** Makes every pending delivery due and runs one outbox pass now. */
  retryDeliveriesNow(): Promise<RetryDeliveriesReport>;
  /** Every partner we know (peered, asked, or called) with its outbound and inbound health. */
  listPartnerHealth(): Promise<PartnerHealthView[]>;
  /** One partner's health; id: server name (host[:port]) or a peer id. FED_UNKNOWN_PARTNER when unknown. */
  getPartnerHealth(id: string): Promise<PartnerHealthView>;
  /** Holds the partner's notifications until resumed (they stay pending). */
  pausePartnerQueue(id: string): Promise<PartnerHealthView>;
  /** Lifts a pause and tries the partner's notifications now. */
  resumePartnerQueue(id: string): Promise<PartnerHealthView>;
  /** Gives up every pending notification to the partner (marked failed, "purged by an admin"). */
  purgePartnerQueue(id: string): Promise<PurgeQueueReport>;
}
