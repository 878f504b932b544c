/**
 * The database is the source of truth: peers and requests here are what
 * Asterisk is made to match. Times are epoch ms. Table definitions for
 * migrations are in migrations/; keep both in step.
 */

import { EntitySchema } from 'typeorm';
import type {
  IncomingRequest,
  LocalKey,
  OutboxItem,
  OutgoingRequest,
  Partner,
  PartnerHealth,
  Peer,
} from '../core/records';
import { col, sealedCol } from './columns';

// The records the layers exchange are plain types of src/core (records.ts); the schemas below map them
// onto tables. Re-exported for the store's own users.
export type {
  ApplyState,
  Dialect,
  IncomingRequest,
  LocalKey,
  OutboxItem,
  OutboxKind,
  OutgoingRequest,
  Partner,
  PartnerKey,
  PartnerHealth,
  Peer,
  Reachability,
  TestCallRecord,
} from '../core/records';

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
    previousSecret: sealedCol.str(255, true),
    secretSwitchAt: col.ms(true),
    secretEpochOffset: { ...col.int(), default: 0 },
    secretShiftAt: col.ms(true),
    agreementKid: col.str(64, true),
    partnerAgreementKid: col.str(64, true),
    nextSecret: sealedCol.str(255, true),
    nextSecretFrom: col.ms(true),
    nextAgreementKid: col.str(64, true),
    nextPartnerAgreementKid: col.str(64, true),
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

export const PartnerHealthEntity = new EntitySchema<PartnerHealth>({
  name: 'PartnerHealth',
  tableName: 'partner_health',
  columns: {
    serverName: { ...col.str(255), primary: true },
    consecutiveFailures: { ...col.int(), default: 0 },
    failingSince: col.ms(true),
    nextAttemptAt: col.ms(true),
    lastSuccessAt: col.ms(true),
    lastFailureAt: col.ms(true),
    lastError: col.text(),
    failureDays: { ...col.int(), default: 0 },
    lastFailureDay: col.int(true),
    suspendedAt: col.ms(true),
    suspendedReason: col.text(),
    lastInboundAt: col.ms(true),
    queuePausedAt: col.ms(true),
    updatedAt: col.ms(),
  },
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

/** A call-quality sample of one trunk (issue 14); written by the Asterisk layer only, kept 24 h. */
export interface TrunkQualityRow {
  seq: number;
  peer: string;
  at: number;
  source: string;
  calls: number;
  /** Whole ms, as chan_iax2 prints them. */
  rttMs: number | null;
  inJitterMs: number | null;
  /** Lost frames per mille (chan_iax2 gives whole percent). */
  inLossPermille: number | null;
  outJitterMs: number | null;
  outLossPermille: number | null;
}

export const TrunkQualitySampleEntity = new EntitySchema<TrunkQualityRow>({
  name: 'TrunkQualitySample',
  tableName: 'trunk_quality_samples',
  columns: {
    seq: { type: 'integer', primary: true, generated: 'increment' },
    peer: col.str(40),
    at: col.ms(),
    source: col.str(8),
    calls: col.int(),
    rttMs: col.int(true),
    inJitterMs: col.int(true),
    inLossPermille: col.int(true),
    outJitterMs: col.int(true),
    outLossPermille: col.int(true),
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
  PartnerHealthEntity,
  TrunkQualitySampleEntity,
];
