import { effectiveOverlapMs, schedulePhaseAt, switchPhaseAt } from '../core/trunk-secret-epochs';
import type {
  DeliveryView,
  IncomingRequestView,
  KeyView,
  OutgoingRequestView,
  PartnerHealthView,
  PeerView,
} from '../core/federation-admin';
import type {
  IncomingRequest,
  LocalKey,
  OutboxItem,
  OutgoingRequest,
  PartnerHealth,
  Peer,
} from '../core/records';
import { asteriskName } from '../core/peering-name';
import { fingerprint } from './key-encoding';
import type { PeerSummary } from './ports/peering-store';

/** Entity rows to the views the admin layer shows. Secrets and private keys never appear here. */

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export interface Deliveries {
  count: number;
  lastError: string | null;
}
const none: Deliveries = { count: 0, lastError: null };

export function outgoingView(r: OutgoingRequest, d: Deliveries = none): OutgoingRequestView {
  return {
    id: r.id,
    name: r.name,
    asterisk_name: asteriskName(r.name),
    partner_url: r.partnerUrl,
    prefix: r.prefix,
    codec: r.codec,
    dialect: r.dialect,
    state: r.state,
    decline_reason: r.declineReason,
    last_error: r.lastError ?? d.lastError,
    pending_deliveries: d.count,
    created_at: new Date(r.createdAt).toISOString(),
  };
}

export function incomingView(r: IncomingRequest, partnerKeyFingerprint: string | null): IncomingRequestView {
  return {
    id: r.id,
    request_id: r.requestId,
    name: r.name,
    asterisk_name: asteriskName(r.name),
    partner_url: r.partnerUrl,
    partner_iax_host: r.partnerIaxHost,
    partner_extension_length: r.partnerExtensionLength,
    codec: r.codec,
    dialect: r.dialect,
    state: r.state,
    partner_key_fingerprint: partnerKeyFingerprint,
    created_at: new Date(r.createdAt).toISOString(),
  };
}

/** The moment a view is made at, and the overlap around epoch boundaries (config). */
export interface EpochClock {
  now: number;
  overlapMs: number;
}

function secretEpochs(p: PeerSummary, at: EpochClock | null): PeerView['trunk_rotation'] {
  if (p.secretEpochSeconds === null || at === null) return null;
  const e = schedulePhaseAt({ ...p, secretEpochSeconds: p.secretEpochSeconds }, at.now, at.overlapMs);
  return {
    length_seconds: p.secretEpochSeconds,
    epoch: e.epoch,
    next_rotation_at: new Date(e.nextRotationAt).toISOString(),
    also_accepted: e.neighbour === -1 ? 'previous' : e.neighbour === 1 ? 'next' : null,
    forced_rotation_at:
      p.secretShiftAt !== null &&
      at.now < p.secretShiftAt + effectiveOverlapMs(p.secretEpochSeconds * 1000, at.overlapMs)
        ? new Date(p.secretShiftAt).toISOString()
        : null,
    ...upgradeSwitch(p, at),
    // Only while an agreement key rotation is scheduled (older clients and tests compare the object whole).
    ...(p.nextSecretFrom !== null
      ? { agreement_key_switch_at: new Date(p.nextSecretFrom).toISOString() }
      : {}),
  };
}

/** A v1 → v2 upgrade's switch from the v1 secret (what desired-state sends, src/asterisk/desired-state.ts). */
function upgradeSwitch(p: PeerSummary, at: EpochClock): { sends: 'epoch' | 'v1'; switch_at: string | null } {
  const phase = switchPhaseAt(p.hasPreviousSecret, p.secretSwitchAt, at.now, at.overlapMs);
  return {
    sends: phase === 'before' ? 'v1' : 'epoch',
    switch_at:
      (phase === 'before' || phase === 'after') && p.secretSwitchAt !== null
        ? new Date(p.secretSwitchAt).toISOString()
        : null,
  };
}

/** A whole peer as the views take it: its secrets left out, whether it keeps a v1 secret kept. */
export function peerSummary(p: Peer): PeerSummary {
  const { secret: _secret, previousSecret, nextSecret: _next, ...rest } = p;
  return { ...rest, hasPreviousSecret: previousSecret !== null };
}

export function peerView(p: PeerSummary, d: Deliveries = none, at: EpochClock | null = null): PeerView {
  return {
    id: p.id,
    name: p.name,
    asterisk_name: asteriskName(p.name),
    prefix: p.prefix,
    partner_url: p.partnerUrl,
    dialect: p.dialect,
    role: p.role,
    state: p.state,
    apply_state: p.applyState,
    apply_error: p.applyError,
    reachability: p.reachability,
    latency_ms: p.latencyMs,
    last_seen: iso(p.lastSeen),
    ...peerErrors(p, d),
    partner_key_fingerprint: p.partnerKeyFingerprint,
    partner_iax_host: p.partnerIaxHost,
    partner_extension_length: p.partnerExtensionLength,
    codec: p.codec,
    last_test_call: p.lastTestCall,
    pending_deliveries: d.count,
    created_at: new Date(p.createdAt).toISOString(),
    trunk_rotation: secretEpochs(p, at),
  };
}

/**
 * The two sides of a peer's trouble, each from its one writer, and the
 * combined last_error older clients read (derived, never stored: the
 * partner's error first, as a broken peering makes the trunk's state moot).
 * A failing delivery still pending is the partner's error until the row
 * records one (it carries no time of its own).
 */
function peerErrors(
  p: PeerSummary,
  d: Deliveries,
): Pick<PeerView, 'link_error' | 'link_error_at' | 'partner_error' | 'partner_error_at' | 'last_error'> {
  const partnerError = p.partnerError ?? d.lastError;
  return {
    link_error: p.linkError,
    link_error_at: iso(p.linkErrorAt),
    partner_error: partnerError,
    partner_error_at: p.partnerError === null ? null : iso(p.partnerErrorAt),
    last_error: partnerError ?? p.linkError,
  };
}

export function keyView(k: LocalKey): KeyView {
  return {
    kid: k.kid,
    alg: k.alg,
    status: k.status,
    fingerprint: fingerprint(k.publicKey),
    public_key: k.publicKey,
    not_before: new Date(k.notBefore).toISOString(),
    expires_at: new Date(k.expiresAt).toISOString(),
  };
}

/** An outbox item without its body and full URL (v1 bodies and paths may carry the IAX2 secret). */
export function deliveryView(i: OutboxItem): DeliveryView {
  const state = i.state === 'pending' ? 'pending' : 'failed';
  return {
    id: i.id,
    kind: i.kind,
    dialect: i.dialect,
    partner: hostOf(i.url),
    peer_name: i.peerName,
    request_id: i.requestId,
    state,
    attempts: i.attempts,
    next_attempt_at: state === 'pending' ? iso(i.nextAttemptAt) : null,
    last_error: i.lastError,
    created_at: new Date(i.createdAt).toISOString(),
    updated_at: new Date(i.updatedAt).toISOString(),
  };
}

/** A partner's health row (null: never called nor heard from) as the admin surfaces show it. */
export function partnerHealthView(
  serverName: string,
  h: PartnerHealth | null,
  extra: { peers: string[]; pending: number },
): PartnerHealthView {
  const state: PartnerHealthView['outbound']['state'] = !h
    ? 'unknown'
    : h.suspendedAt !== null
      ? 'suspended'
      : h.consecutiveFailures > 0
        ? 'failing'
        : h.lastSuccessAt !== null || h.lastError !== null
          ? 'ok'
          : 'unknown';
  const at = (ms: number | null | undefined) => iso(ms ?? null);
  return {
    server_name: serverName,
    peers: extra.peers,
    outbound: {
      state,
      consecutive_failures: h?.consecutiveFailures ?? 0,
      failing_since: at(h?.failingSince),
      failure_days: h?.failureDays ?? 0,
      next_attempt_at: at(h?.nextAttemptAt),
      last_success_at: at(h?.lastSuccessAt),
      last_failure_at: at(h?.lastFailureAt),
      last_error: h?.lastError ?? null,
      suspended_at: at(h?.suspendedAt),
      suspended_reason: h?.suspendedReason ?? null,
    },
    inbound: { last_verified_at: at(h?.lastInboundAt) },
    queue: {
      paused: (h?.queuePausedAt ?? null) !== null,
      paused_at: at(h?.queuePausedAt),
      pending: extra.pending,
    },
  };
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '';
  }
}
