/**
 * The records the layers exchange about peerings, partners, our keys and the
 * outbox: plain types, no database in sight. The protocol core's ports
 * (src/federation/ports) and the Asterisk layer's port
 * (src/core/asterisk-peers.ts) speak them; src/store maps them onto its
 * tables (src/store/entities.ts) and is the only layer that knows those.
 * Times are epoch ms.
 */

export type Dialect = 'v2' | 'v1';
export type ApplyState = 'pending' | 'applied' | 'failed';
export type Reachability = 'unknown' | 'reachable' | 'lagged' | 'unreachable' | 'unmonitored';

export interface TestCallRecord {
  answered: boolean;
  setupMs: number | null;
  error: string | null;
  at: number;
}

/** The partner's end of a trunk: the same on a peer and on the incoming request it came from. */
export interface PartnerTrunk {
  partnerUrl: string;
  partnerServerName: string | null;
  partnerIaxHost: string;
  partnerIaxPort: number;
  partnerExtensionLength: number;
  codec: string;
}

export interface Peer extends PartnerTrunk {
  id: string;
  /** Peering name: IAX2 friend name and username on both sides. */
  name: string;
  /** Our dial prefix for this partner. */
  prefix: string;
  /** IAX2 secret (v2: derived, v1: exchanged). Never rendered or returned; sealed at rest. */
  secret: string;
  /**
   * v2: the trunk secret's epoch length agreed in the handshake (seconds); the
   * secret sent is then derived from `secret` per epoch (src/core/trunk-secret-epochs.ts).
   * null: `secret` itself, for ever (v1, and v2 peerings made before epochs).
   */
  secretEpochSeconds: number | null;
  /**
   * A v1 → v2 upgrade (docs/protocol.md, "Upgrading a v1 peering"): the v1
   * secret the trunk used before, still sent until `secretSwitchAt` and
   * accepted until `secretSwitchAt` + the overlap, then dropped (set to null
   * by the protocol core). Never rendered after that; sealed at rest.
   */
  previousSecret: string | null;
  /** The upgrade's agreed switch moment (epoch ms): from then on the v2 secret is sent. null: no switch going on. */
  secretSwitchAt: number | null;
  /** Epochs added by forced rotations whose moment is settled (see src/core/trunk-secret-epochs.ts). */
  secretEpochOffset: number;
  /** The moment of the last forced rotation agreed with the partner (ms), or null. */
  secretShiftAt: number | null;
  /**
   * v2: our agreement key and the partner's that `secret` (the root) derives
   * from; null when not known (peerings made before they were kept): the
   * agreement key rotation then does not reach the trunk
   * (src/core/agreement-key-epochs.ts).
   */
  agreementKid: string | null;
  partnerAgreementKid: string | null;
  /**
   * An agreement key rotation on either side: the root derived from the new
   * pair of keys, used for the epochs of the periods from `nextSecretFrom`
   * (a period boundary, ms) on, and the pair. Folded into `secret` and the
   * kids once that boundary's overlap is over. Sealed at rest, never rendered.
   */
  nextSecret: string | null;
  nextSecretFrom: number | null;
  nextAgreementKid: string | null;
  nextPartnerAgreementKid: string | null;
  dialect: Dialect;
  /** request_id of the peering (v1: the requester's outgoing request UUID). */
  requestId: string;
  role: 'requester' | 'acceptor';
  /** active, or partner_missing when anti-entropy found the partner forgot us. */
  state: 'active' | 'partner_missing';
  applyState: ApplyState;
  applyError: string | null;
  appliedAt: number | null;
  reachability: Reachability;
  latencyMs: number | null;
  lastSeen: number | null;
  /**
   * The last problem the Asterisk layer saw on the trunk (the monitor: not
   * loaded, lagged, no answer, Asterisk down). Sticky: kept after the trunk
   * recovers, so the admin sees what happened. Written only by src/asterisk.
   */
  linkError: string | null;
  /** When the link last went into linkError. */
  linkErrorAt: number | null;
  /**
   * The partner's side of the peering as the protocol sees it (anti-entropy:
   * the partner forgot us; the outbox: our accept never reached it). Cleared
   * when fixed. Written only by src/federation.
   */
  partnerError: string | null;
  partnerErrorAt: number | null;
  partnerKeyFingerprint: string | null;
  lastTestCall: TestCallRecord | null;
  createdAt: number;
  updatedAt: number;
}

/**
 * The columns that together give a peer's trunk secret over time: the secret,
 * its epochs (v2), forced rotations and a v1 → v2 upgrade's switch. The
 * Asterisk layer renders them; the protocol writes them.
 */
export type PeerSecretField =
  | 'secret'
  | 'secretEpochSeconds'
  | 'previousSecret'
  | 'secretSwitchAt'
  | 'secretEpochOffset'
  | 'secretShiftAt'
  | 'nextSecret'
  | 'nextSecretFrom';

/** The fields a new peer starts with, whoever makes it (the handshake, adopt). */
export type FreshPeerField =
  | 'secretEpochOffset'
  | 'secretShiftAt'
  | 'state'
  | 'applyState'
  | 'applyError'
  | 'appliedAt'
  | 'reachability'
  | 'latencyMs'
  | 'lastSeen'
  | 'linkError'
  | 'linkErrorAt'
  | 'partnerError'
  | 'partnerErrorAt'
  | 'lastTestCall'
  | 'previousSecret'
  | 'secretSwitchAt'
  | 'agreementKid'
  | 'partnerAgreementKid'
  | 'nextSecret'
  | 'nextSecretFrom'
  | 'nextAgreementKid'
  | 'nextPartnerAgreementKid'
  | 'createdAt'
  | 'updatedAt';

/** A new peer's state at `now`: active, not applied to Asterisk yet, nothing seen or failed yet. */
export function freshPeerState(now: number): Pick<Peer, FreshPeerField> {
  return {
    secretEpochOffset: 0,
    secretShiftAt: null,
    state: 'active',
    applyState: 'pending',
    applyError: null,
    appliedAt: null,
    reachability: 'unknown',
    latencyMs: null,
    lastSeen: null,
    linkError: null,
    linkErrorAt: null,
    partnerError: null,
    partnerErrorAt: null,
    lastTestCall: null,
    previousSecret: null,
    secretSwitchAt: null,
    agreementKid: null,
    partnerAgreementKid: null,
    nextSecret: null,
    nextSecretFrom: null,
    nextAgreementKid: null,
    nextPartnerAgreementKid: null,
    createdAt: now,
    updatedAt: now,
  };
}

/** A new outgoing request's state at `now`, whoever makes it (the handshake, adopt): pending, no answer or error yet. */
export function freshOutgoingState(
  now: number,
): Pick<OutgoingRequest, 'state' | 'declineReason' | 'lastError' | 'createdAt' | 'updatedAt'> {
  return { state: 'pending', declineReason: null, lastError: null, createdAt: now, updatedAt: now };
}

/** A new incoming request's state at `now`, whoever records it (the handshake, adopt): pending, undecided. */
export function freshIncomingState(now: number): Pick<IncomingRequest, 'state' | 'createdAt' | 'updatedAt'> {
  return { state: 'pending', createdAt: now, updatedAt: now };
}

export interface OutgoingRequest {
  /** request_id: a UUID we chose, sent to the partner. */
  id: string;
  name: string;
  partnerUrl: string;
  partnerServerName: string | null;
  prefix: string;
  codec: string;
  dialect: Dialect;
  /** v1 only: the shared secret (sent to the partner in clear, as µURU does; sealed at rest). */
  secret: string | null;
  /** v2: our agreement key id used for this peering. */
  agreementKid: string | null;
  state: 'pending' | 'declined' | 'failed';
  declineReason: string | null;
  lastError: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface IncomingRequest extends PartnerTrunk {
  /** Local id shown to admins. */
  id: string;
  /** The partner's request_id (v1: its outgoing request UUID). Unique. */
  requestId: string;
  name: string;
  dialect: Dialect;
  secret: string | null;
  /** v2: the partner's agreement key id named in the request. */
  partnerAgreementKid: string | null;
  /** v2: the trunk secret epoch length the requester proposed (seconds), or null (none: a fixed secret). */
  secretEpochSeconds: number | null;
  state: 'pending' | 'declined';
  createdAt: number;
  updatedAt: number;
}

export interface PartnerKey {
  kid: string;
  alg: string;
  publicKey: string;
  status?: string;
  notBefore?: string;
  expiresAt?: string;
}

/** A foreign instance we have talked to: its pinned keys and descriptor cache. */
export interface Partner {
  serverName: string;
  baseUrl: string;
  /** Trusted signing keys (pinned at the handshake, extended by endorsed rotations). */
  signingKeys: PartnerKey[];
  /** Unendorsed key changes waiting for an admin's confirmation. */
  heldKeys: PartnerKey[] | null;
  agreementKeys: PartnerKey[];
  descriptor: Record<string, unknown> | null;
  fetchedAt: number | null;
  fetchFailures: number;
  nextFetchAt: number | null;
  createdAt: number;
  updatedAt: number;
}

/** Our own keys. privateKey is PKCS#8 DER, base64, encrypted when a key-encryption secret is set. */
export interface LocalKey {
  kid: string;
  alg: 'ed25519' | 'x25519';
  publicKey: string;
  privateKey: string;
  status: 'next' | 'active' | 'retiring' | 'retired';
  notBefore: number;
  expiresAt: number;
  endorsement: { kid: string; sig: string } | null;
  createdAt: number;
}

export type OutboxKind = 'request' | 'accept' | 'decline' | 'revoke' | 'teardown';

/** A notification to a partner, stored in the same transaction as the state change. */
export interface OutboxItem {
  id: string;
  kind: OutboxKind;
  dialect: Dialect;
  peerName: string | null;
  requestId: string | null;
  method: string;
  url: string;
  body: Record<string, unknown> | null;
  state: 'pending' | 'delivered' | 'failed';
  attempts: number;
  nextAttemptAt: number;
  expiresAt: number;
  lastError: string | null;
  createdAt: number;
  updatedAt: number;
}

/**
 * A partner's health as our calls to it and its calls to us show it, one row
 * per server name (host[:port], lower case). Written by the protocol core
 * only (src/federation/partner-health.ts); table partner_health, migration 0011.
 */
export interface PartnerHealth {
  serverName: string;
  /** Outbound calls in a row that failed transiently (no answer, 408, 429, 5xx); 0 after any other answer. */
  consecutiveFailures: number;
  /** First failure of the current run of failures; null while the partner answers. */
  failingSince: number | null;
  /** Not before this time is the partner's queue tried again (null: whenever due). */
  nextAttemptAt: number | null;
  lastSuccessAt: number | null;
  lastFailureAt: number | null;
  lastError: string | null;
  /** Distinct UTC days with a failure since the last answer. */
  failureDays: number;
  /** The UTC day (days since the epoch) of the last failure, to count failureDays. */
  lastFailureDay: number | null;
  suspendedAt: number | null;
  suspendedReason: string | null;
  /** The last request from the partner whose signature verified (inbound health). */
  lastInboundAt: number | null;
  /** Set while an admin has paused the partner's queue. */
  queuePausedAt: number | null;
  updatedAt: number;
}
