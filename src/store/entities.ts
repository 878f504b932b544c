import { EntitySchema } from 'typeorm';
import { col, sealedCol } from './columns';

/**
 * The database is the source of truth: peers and requests here are what
 * Asterisk is made to match. Times are epoch ms. Table definitions for
 * migrations are in migrations/; keep both in step.
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

export interface Peer {
  id: string;
  /** Peering name: IAX2 friend name and username on both sides. */
  name: string;
  /** Our dial prefix for this partner. */
  prefix: string;
  partnerUrl: string;
  partnerServerName: string | null;
  partnerIaxHost: string;
  partnerIaxPort: number;
  partnerExtensionLength: number;
  codec: string;
  /** IAX2 secret (v2: derived, v1: exchanged). Never rendered or returned; sealed at rest. */
  secret: string;
  /**
   * v2: the trunk secret's epoch length agreed in the handshake (seconds); the
   * secret sent is then derived from `secret` per epoch (src/core/trunk-secret-epochs.ts).
   * null: `secret` itself, for ever (v1, and v2 peerings made before epochs).
   */
  secretEpochSeconds: number | null;
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

export const PeerEntity = new EntitySchema<Peer>({
  name: 'Peer',
  tableName: 'peers',
  columns: {
    id: col.id(),
    name: { ...col.str(40), unique: true },
    prefix: { ...col.str(16), unique: true },
    partnerUrl: col.str(255),
    partnerServerName: col.str(255, true),
    partnerIaxHost: col.str(255),
    partnerIaxPort: col.int(),
    partnerExtensionLength: col.int(),
    codec: col.str(8),
    secret: sealedCol.str(255),
    secretEpochSeconds: col.int(true),
    dialect: col.str(4),
    requestId: col.str(64),
    role: col.str(16),
    state: col.str(24),
    applyState: col.str(16),
    applyError: col.text(),
    appliedAt: col.ms(true),
    reachability: col.str(16),
    latencyMs: col.int(true),
    lastSeen: col.ms(true),
    linkError: col.text(),
    linkErrorAt: col.ms(true),
    partnerError: col.text(),
    partnerErrorAt: col.ms(true),
    partnerKeyFingerprint: col.str(128, true),
    lastTestCall: col.json(),
    createdAt: col.ms(),
    updatedAt: col.ms(),
  },
});

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

export const OutgoingRequestEntity = new EntitySchema<OutgoingRequest>({
  name: 'OutgoingRequest',
  tableName: 'outgoing_requests',
  columns: {
    id: col.id(),
    name: col.str(40),
    partnerUrl: col.str(255),
    partnerServerName: col.str(255, true),
    prefix: col.str(16),
    codec: col.str(8),
    dialect: col.str(4),
    secret: sealedCol.str(255, true),
    agreementKid: col.str(64, true),
    state: col.str(16),
    declineReason: col.text(),
    lastError: col.text(),
    createdAt: col.ms(),
    updatedAt: col.ms(),
  },
});

export interface IncomingRequest {
  /** Local id shown to admins. */
  id: string;
  /** The partner's request_id (v1: its outgoing request UUID). Unique. */
  requestId: string;
  name: string;
  partnerUrl: string;
  partnerServerName: string | null;
  partnerIaxHost: string;
  partnerIaxPort: number;
  partnerExtensionLength: number;
  codec: string;
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

export const IncomingRequestEntity = new EntitySchema<IncomingRequest>({
  name: 'IncomingRequest',
  tableName: 'incoming_requests',
  columns: {
    id: col.id(),
    requestId: { ...col.str(64), unique: true },
    name: col.str(40),
    partnerUrl: col.str(255),
    partnerServerName: col.str(255, true),
    partnerIaxHost: col.str(255),
    partnerIaxPort: col.int(),
    partnerExtensionLength: col.int(),
    codec: col.str(8),
    dialect: col.str(4),
    secret: sealedCol.str(255, true),
    partnerAgreementKid: col.str(64, true),
    secretEpochSeconds: col.int(true),
    state: col.str(16),
    createdAt: col.ms(),
    updatedAt: col.ms(),
  },
});

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

export const PartnerEntity = new EntitySchema<Partner>({
  name: 'Partner',
  tableName: 'partners',
  columns: {
    serverName: { ...col.str(255), primary: true },
    baseUrl: col.str(255),
    signingKeys: col.json(false),
    heldKeys: col.json(),
    agreementKeys: col.json(false),
    descriptor: col.json(),
    fetchedAt: col.ms(true),
    fetchFailures: { ...col.int(), default: 0 },
    nextFetchAt: col.ms(true),
    createdAt: col.ms(),
    updatedAt: col.ms(),
  },
});

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

export const LocalKeyEntity = new EntitySchema<LocalKey>({
  name: 'LocalKey',
  tableName: 'local_keys',
  columns: {
    kid: { ...col.str(64), primary: true },
    alg: col.str(16),
    publicKey: col.str(64),
    privateKey: col.text(false),
    status: col.str(16),
    notBefore: col.ms(),
    expiresAt: col.ms(),
    endorsement: col.json(),
    createdAt: col.ms(),
  },
});

/** Replay protection: a nonce is reserved once per keyid until it expires. */
export interface NonceRecord {
  keyId: string;
  nonce: string;
  expiresAt: number;
}

export const NonceEntity = new EntitySchema<NonceRecord>({
  name: 'Nonce',
  tableName: 'nonces',
  columns: {
    keyId: { ...col.str(255), primary: true },
    nonce: { ...col.str(64), primary: true },
    expiresAt: col.ms(),
  },
  indices: [{ name: 'idx_nonces_expires', columns: ['expiresAt'] }],
});

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

export const OutboxEntity = new EntitySchema<OutboxItem>({
  name: 'OutboxItem',
  tableName: 'outbox',
  columns: {
    id: col.id(),
    kind: col.str(16),
    dialect: col.str(4),
    peerName: col.str(32, true),
    requestId: col.str(64, true),
    method: col.str(8),
    // v1 notifications carry the shared secret in the query or the body.
    url: sealedCol.text(false),
    body: sealedCol.json(),
    state: col.str(16),
    attempts: { ...col.int(), default: 0 },
    nextAttemptAt: col.ms(),
    expiresAt: col.ms(),
    lastError: col.text(),
    createdAt: col.ms(),
    updatedAt: col.ms(),
  },
  indices: [{ name: 'idx_outbox_due', columns: ['state', 'nextAttemptAt'] }],
});

/** Small key/value settings (policy lives under the key "policy"). */
export interface Setting {
  key: string;
  value: unknown;
  updatedAt: number;
}

export const SettingEntity = new EntitySchema<Setting>({
  name: 'Setting',
  tableName: 'settings',
  columns: {
    key: { ...col.str(64), primary: true },
    value: col.json(false),
    updatedAt: col.ms(),
  },
});

export interface AdminUser {
  id: string;
  username: string;
  /** scrypt$N$r$p$salt$hash */
  passwordHash: string;
  createdAt: number;
}

export const AdminUserEntity = new EntitySchema<AdminUser>({
  name: 'AdminUser',
  tableName: 'admin_users',
  columns: {
    id: col.id(),
    username: { ...col.str(64), unique: true },
    passwordHash: col.str(255),
    createdAt: col.ms(),
  },
});

export interface ApiToken {
  id: string;
  name: string;
  /** sha256 hex of the token; the token itself is shown once. */
  tokenHash: string;
  createdAt: number;
  lastUsedAt: number | null;
}

export const ApiTokenEntity = new EntitySchema<ApiToken>({
  name: 'ApiToken',
  tableName: 'api_tokens',
  columns: {
    id: col.id(),
    name: col.str(64),
    tokenHash: { ...col.str(64), unique: true },
    createdAt: col.ms(),
    lastUsedAt: col.ms(true),
  },
});

/** A row the sidecar created in one of Asterisk's realtime tables (the only rows it may change). */
export interface AsteriskRealtimeRow {
  /** iaxfriends or extensions */
  tableName: string;
  /** iaxfriends: the name; extensions: context, exten and priority joined by '|' */
  rowKey: string;
  createdAt: number;
}

export const AsteriskRealtimeRowEntity = new EntitySchema<AsteriskRealtimeRow>({
  name: 'AsteriskRealtimeRow',
  tableName: 'asterisk_realtime_rows',
  columns: {
    tableName: { ...col.str(32), primary: true },
    rowKey: { ...col.str(160), primary: true },
    createdAt: col.ms(),
  },
});

/**
 * One admin action (panel, admin API, and so the CLI): who, what, when and
 * how it ended. Written only by the admin HTTP layer's audit trail
 * (src/http/admin/audit-trail.ts); never a request body, so no secret.
 */
export interface AuditEvent {
  /** Increasing: the newest-first order and the page cursor. */
  seq: number;
  at: number;
  /** 'admin' (a panel or API session) or 'token' (an API token; the CLI). */
  actorKind: string;
  /** The admin's username or the token's name. */
  actor: string;
  /** 'api' or 'panel'. */
  via: string;
  /** e.g. peer.teardown, request.create, policy.set */
  action: string;
  /** What it acted on: an id or name as given, or null. */
  target: string | null;
  /** 'ok' or 'error' */
  outcome: string;
  /** The error code when the outcome is 'error'. */
  errorCode: string | null;
}

export const AuditEventEntity = new EntitySchema<AuditEvent>({
  name: 'AuditEvent',
  tableName: 'audit_events',
  columns: {
    seq: { type: 'integer', primary: true, generated: 'increment' },
    at: col.ms(),
    actorKind: col.str(8),
    actor: col.str(64),
    via: col.str(8),
    action: col.str(64),
    target: col.str(255, true),
    outcome: col.str(8),
    errorCode: col.str(64, true),
  },
});

export const ALL_ENTITIES = [
  PeerEntity,
  OutgoingRequestEntity,
  IncomingRequestEntity,
  PartnerEntity,
  LocalKeyEntity,
  NonceEntity,
  OutboxEntity,
  SettingEntity,
  AdminUserEntity,
  ApiTokenEntity,
  AsteriskRealtimeRowEntity,
  AuditEventEntity,
];
