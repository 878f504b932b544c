import type { Clock } from '../core/clock';
import type { NotificationEvent, Notifier } from '../core/notifications';
import { partnerKeyExpiry } from '../core/partner-key-expiry';
import { everyJob, type Job } from '../jobs/job';
import type { OutboxStore } from './ports/outbox-store';
import type { PartnerHealthStore } from './ports/partner-health-store';
import type { PartnerStore } from './ports/partner-store';
import type { PeeringStore } from './ports/peering-store';

const DAY_MS = 24 * 60 * 60 * 1000;

export type PartnerErrorState = 'ok' | 'error';
export type KeyExpiryState = 'ok' | 'expiring' | 'expired';
export type OutboxState = 'ok' | 'stuck';
export type SuspensionState = 'ok' | 'suspended';

/** A partner key's state against the warning window: expired, expiring (within it) or ok. */
export function keyExpiryState(expiresAt: number | null, now: number, warnMs: number): KeyExpiryState {
  if (expiresAt === null) return 'ok';
  if (expiresAt <= now) return 'expired';
  return expiresAt - now <= warnMs ? 'expiring' : 'ok';
}

/**
 * The protocol's side of "told when it breaks" (docs/operations.md,
 * Notifications): a job that looks at what the protocol records and tells
 * each change once, never while a state holds:
 * - a peer's `partner_error` appearing (ok → error) or clearing (error → ok);
 *   a changed message is not a change of state;
 * - the partner's keys nearing expiry (ok → expiring → expired, and back to ok
 *   when a new key is trusted): the last trusted signing key's expiry
 *   (src/core/partner-key-expiry.ts) within `keyExpiryWarnMs`;
 * - the outbox: a peer's (or, for items without a peer, a partner host's)
 *   notifications stuck, i.e. still pending `outboxStuckMs` after they were
 *   queued (ok → stuck), and none stuck any more (stuck → ok).
 * - a partner's suspension (partner-health.ts: failures on N distinct days):
 *   ok → suspended with the reason, and suspended → ok when it answers again.
 * It reads the state and writes nothing. What it last told is kept in memory:
 * a restart tells every bad state that still holds once more (from
 * `unknown`), and nothing about states that are fine.
 */
export class HealthNotices {
  private readonly partnerErrors = new Map<string, PartnerErrorState>();
  private readonly keyStates = new Map<string, KeyExpiryState>();
  private readonly outboxStates = new Map<string, OutboxState>();
  private readonly suspensions = new Map<string, SuspensionState>();
  /** Whether the outbox was checked before in this process (a group stuck now was fine then). */
  private outboxChecked = false;
  /** Who each stuck group is about, for the notice when it clears. */
  private readonly outboxWho = new Map<string, { peer: string | null; partner: string | null }>();
  readonly job: Job;

  constructor(
    private readonly deps: {
      peerings: PeeringStore;
      partners: PartnerStore;
      outbox: OutboxStore;
      partnerHealth: PartnerHealthStore;
      clock: Clock;
      notifier: Notifier;
      keyExpiryWarnMs: number;
      outboxStuckMs: number;
      checkIntervalMs: number;
    },
  ) {
    this.job = everyJob('health-notices', deps.checkIntervalMs, () => this.run());
  }

  async run(): Promise<void> {
    const { peerings, partners, clock } = this.deps;
    const now = clock.now();
    const peers = await peerings.listPeers();
    // Every partner's keys in one read (not one lookup per peer), their expiry worked out once per partner.
    const keysByServer = peers.some((p) => p.partnerServerName) ? await partners.allSigningKeys() : null;
    const partnerCache = new Map<string, number | null>();
    for (const p of peers) {
      const errorState: PartnerErrorState = p.partnerError ? 'error' : 'ok';
      const about = { peer: p.name, partner: p.partnerServerName, at: now };
      const severity = errorState === 'error' ? 'warning' : 'info';
      const errorAbout = { ...about, kind: 'partner_error', severity } as const;
      this.change(this.partnerErrors, p.id, errorState, errorAbout, () => ({
        message:
          errorState === 'error'
            ? `partner of ${p.name} reports a problem: ${p.partnerError ?? ''}`
            : `partner of ${p.name} is fine again`,
        details: {
          error: p.partnerError,
          since: p.partnerErrorAt === null ? null : new Date(p.partnerErrorAt).toISOString(),
        },
      }));

      if (!p.partnerServerName) continue;
      const server = p.partnerServerName.toLowerCase();
      if (!partnerCache.has(server)) {
        const keys = keysByServer?.get(server);
        partnerCache.set(server, keys ? partnerKeyExpiry(keys) : null);
      }
      const expiresAt = partnerCache.get(server) ?? null;
      const keyState = keyExpiryState(expiresAt, now, this.deps.keyExpiryWarnMs);
      const keyAbout = {
        ...about,
        kind: 'partner_key_expiry',
        severity: keyState === 'ok' ? 'info' : 'warning',
      } as const;
      this.change(this.keyStates, p.id, keyState, keyAbout, () => ({
        message:
          keyState === 'ok'
            ? `partner key of ${p.name} is no longer near expiry`
            : keyState === 'expired'
              ? `partner key of ${p.name} has expired: its signed calls are refused until a new key is trusted`
              : `partner key of ${p.name} expires in ${Math.ceil(((expiresAt ?? now) - now) / DAY_MS)} days and no later key is trusted`,
        details: {
          expires_at: expiresAt === null ? null : new Date(expiresAt).toISOString(),
          warn_days: this.deps.keyExpiryWarnMs / DAY_MS,
        },
      }));
    }
    const ids = new Set(peers.map((p) => p.id));
    for (const m of [this.partnerErrors, this.keyStates])
      for (const id of m.keys()) if (!ids.has(id)) m.delete(id);
    await this.checkOutbox(now);
    await this.checkSuspensions(now);
  }

  private async checkSuspensions(now: number): Promise<void> {
    const rows = await this.deps.partnerHealth.list();
    for (const h of rows) {
      const state: SuspensionState = h.suspendedAt === null ? 'ok' : 'suspended';
      const about = {
        kind: 'partner_suspended',
        severity: state === 'suspended' ? 'warning' : 'info',
        peer: null,
        partner: h.serverName,
        at: now,
      } as const;
      this.change(this.suspensions, h.serverName, state, about, () => ({
        message:
          state === 'suspended'
            ? `partner ${h.serverName} suspended: ${h.suspendedReason ?? 'failing on too many days'} (its trunks stay; it resumes when it answers)`
            : `partner ${h.serverName} answers again: no longer suspended`,
        details: {
          reason: h.suspendedReason,
          since: h.suspendedAt === null ? null : new Date(h.suspendedAt).toISOString(),
          failure_days: h.failureDays,
        },
      }));
    }
    const names = new Set(rows.map((r) => r.serverName));
    for (const name of this.suspensions.keys()) if (!names.has(name)) this.suspensions.delete(name);
  }

  private async checkOutbox(now: number): Promise<void> {
    const stuck = new Map<
      string,
      { peer: string | null; partner: string | null; items: number; oldest: number; lastError: string | null }
    >();
    for (const item of await this.deps.outbox.listPending()) {
      if (now - item.createdAt < this.deps.outboxStuckMs) continue;
      const partner = hostOf(item.url);
      const key = item.peerName ? `peer:${item.peerName}` : `partner:${partner ?? '?'}`;
      const s = stuck.get(key) ?? {
        peer: item.peerName,
        partner,
        items: 0,
        oldest: item.createdAt,
        lastError: null,
      };
      s.items++;
      s.oldest = Math.min(s.oldest, item.createdAt);
      s.lastError = item.lastError ?? s.lastError;
      stuck.set(key, s);
    }
    for (const [key, s] of stuck) {
      // Not stuck at the last check (there was one): it was fine then.
      if (this.outboxChecked && !this.outboxStates.has(key)) this.outboxStates.set(key, 'ok');
      this.outboxWho.set(key, { peer: s.peer, partner: s.partner });
      const about = {
        kind: 'outbox_stuck',
        severity: 'warning',
        peer: s.peer,
        partner: s.partner,
        at: now,
      } as const;
      this.change(this.outboxStates, key, 'stuck', about, () => ({
        message: `${s.items} notification(s) to ${s.peer ?? s.partner ?? 'a partner'} undelivered for ${Math.round((now - s.oldest) / 60_000)} min`,
        details: {
          items: s.items,
          oldest_queued_at: new Date(s.oldest).toISOString(),
          last_error: s.lastError,
        },
      }));
    }
    for (const [key, state] of [...this.outboxStates]) {
      if (stuck.has(key) || state !== 'stuck') continue;
      this.outboxStates.delete(key);
      const who = this.outboxWho.get(key) ?? { peer: null, partner: null };
      this.outboxWho.delete(key);
      const name = who.peer ?? who.partner ?? 'a partner';
      const about = { kind: 'outbox_stuck', severity: 'info', ...who, at: now } as const;
      this.deps.notifier.notify(
        notice(about, 'stuck', 'ok', {
          message: `no notification to ${name} is stuck any more`,
          details: {},
        }),
      );
    }
    this.outboxChecked = true;
  }

  /**
   * Records a subject's state and tells a change: from a known state always,
   * from none (first sight, e.g. after a restart) only a bad state.
   */
  private change<S extends string>(
    states: Map<string, S>,
    key: string,
    next: S,
    about: NoticeSubject,
    text: () => NoticeText,
  ): void {
    const before = states.get(key);
    states.set(key, next);
    if (before === next) return;
    if (before === undefined && next === 'ok') return;
    this.deps.notifier.notify(notice(about, before ?? 'unknown', next, text()));
  }
}

/** Who and what a notice is about, and when; the states and the words come with the change. */
type NoticeSubject = Pick<NotificationEvent, 'kind' | 'severity' | 'peer' | 'partner' | 'at'>;
type NoticeText = Pick<NotificationEvent, 'message' | 'details'>;

/** One notice, its fields in the order every notice has them (the webhook's payload keeps it). */
function notice(
  about: NoticeSubject,
  oldState: string,
  newState: string,
  text: NoticeText,
): NotificationEvent {
  return {
    kind: about.kind,
    severity: about.severity,
    peer: about.peer,
    partner: about.partner,
    oldState,
    newState,
    at: about.at,
    message: text.message,
    details: text.details,
  };
}

function hostOf(url: string): string | null {
  try {
    return new URL(url).host;
  } catch {
    return null;
  }
}
