import type { KeyObject } from 'node:crypto';
import type { DataSource, EntityManager, QueryDeepPartialEntity } from 'typeorm';
import type { Clock } from '../core/clock';
import { AppError, errorMessage } from '../core/errors';
import { exponentialBackoff } from '../jobs/backoff';
import type { Logger } from '../logging/logger';
import { PartnerEntity, type Partner, type PartnerKey } from '../store/entities';
import { type Descriptor, fetchDescriptor, normalizeBaseUrl } from './descriptor';
import { verifyEndorsement } from './endorsement';
import { fingerprint, publicKeyFromRaw } from './key-encoding';
import { serverNameOf } from './local-keys';

/** At most one descriptor fetch per origin in this window, however many requests ask. */
export const REFETCH_MIN_INTERVAL_MS = 30 * 1000;
/** Failed fetches back off exponentially from REFETCH_MIN_INTERVAL_MS up to this. */
export const REFETCH_MAX_BACKOFF_MS = 60 * 60 * 1000;
const DEFAULT_TIMEOUT_MS = 5000;
/** A partner key counts as expired only this long after its expires_at (clock skew between instances). */
const EXPIRY_SKEW_MS = 60 * 1000;
/** Bound on remembered first-contact descriptors (strangers are rate limited per IP before they get here). */
const FIRST_CONTACT_MAX = 1000;
const FIRST_CONTACT_TTL_MS = 10 * 60 * 1000;

/**
 * What getSigningKey found: the key, or why not.
 * - 'unknown': the partner does not publish this kid (after a refetch, or a refetch was not due);
 * - 'held': the partner publishes it, but as an unendorsed key change waiting for an admin;
 * - 'expired': we knew the key, its expires_at has passed;
 * - 'fetch_failed': the descriptor could not be fetched (or fetches are backing off after failures).
 */
export type SigningKeyLookup = KeyObject | 'unknown' | 'held' | 'expired' | 'fetch_failed';

type RefreshOutcome = 'fetched' | 'failed' | 'not_due';

interface FirstContact {
  baseUrl: string;
  descriptor: Descriptor | null;
  failures: number;
  nextFetchAt: number;
  lastUsed: number;
}

/** No jitter: the delay paces fetches from one origin, it does not spread many clients apart. */
function backoffMs(failures: number): number {
  return exponentialBackoff(failures - 1, {
    initialMs: REFETCH_MIN_INTERVAL_MS,
    maxMs: REFETCH_MAX_BACKOFF_MS,
  });
}

function toPartnerKey(
  k: Descriptor['signing_keys'][number] | Descriptor['agreement_keys'][number],
): PartnerKey {
  return 'status' in k
    ? {
        kid: k.kid,
        alg: k.alg,
        publicKey: k.public_key,
        status: k.status,
        notBefore: k.not_before,
        expiresAt: k.expires_at,
      }
    : { kid: k.kid, alg: k.alg, publicKey: k.public_key, expiresAt: k.expires_at };
}

/**
 * Our partners' public keys, pinned at the handshake (trust on first use) and
 * kept current the way protocol.md says: an unknown kid triggers one shared,
 * rate-limited refetch of the partner's descriptor; a new key endorsed by a
 * key we trust is trusted; any other key change is held until an admin
 * confirms it (confirmHeld), as SSH does for a changed host key. A key we
 * already know that fails to verify never causes a refetch.
 */
export class PartnerKeyStore {
  private readonly inflight = new Map<string, Promise<RefreshOutcome>>();
  private readonly firstContacts = new Map<string, FirstContact>();
  private readonly firstContactInflight = new Map<string, Promise<void>>();
  private readonly keyObjects = new Map<string, KeyObject>();
  private readonly timeoutMs: number;

  constructor(
    private readonly deps: {
      db: DataSource;
      clock: Clock;
      fetch: typeof fetch;
      logger: Logger;
      timeoutMs?: number;
    },
  ) {
    this.timeoutMs = deps.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  private get repo() {
    return this.deps.db.getRepository<Partner>(PartnerEntity);
  }

  private repoOf(m?: EntityManager) {
    return m ? m.getRepository<Partner>(PartnerEntity) : this.repo;
  }

  async get(serverName: string, m?: EntityManager): Promise<Partner | null> {
    return this.repoOf(m).findOneBy({ serverName: serverName.toLowerCase() });
  }

  /**
   * At the handshake: store the partner's keys. A partner we never met is
   * trusted as it presents itself; for one we know, the usual rules apply
   * (endorsed rotations trusted, other changes held). With a transaction's
   * manager the row is written in that transaction, so a refusal that rolls
   * it back leaves no partner behind. True when the partner was new.
   */
  async pin(descriptor: Descriptor, m?: EntityManager): Promise<boolean> {
    const serverName = descriptor.server_name.toLowerCase();
    const existing = await this.get(serverName, m);
    const now = this.deps.clock.now();
    if (!existing) {
      const partner: Partner = {
        serverName,
        baseUrl: normalizeBaseUrl(descriptor.base_url),
        signingKeys: descriptor.signing_keys.map(toPartnerKey),
        heldKeys: null,
        agreementKeys: descriptor.agreement_keys.map(toPartnerKey),
        descriptor: descriptor as unknown as Record<string, unknown>,
        fetchedAt: now,
        fetchFailures: 0,
        nextFetchAt: now + REFETCH_MIN_INTERVAL_MS,
        createdAt: now,
        updatedAt: now,
      };
      // TypeORM's partial-entity type cannot express the free-form JSON column.
      await this.repoOf(m).insert(partner as QueryDeepPartialEntity<Partner>);
      this.deps.logger.info('pinned partner keys', {
        component: 'partner-keys',
        partner: serverName,
        fingerprints: descriptor.signing_keys.map((k) => fingerprint(k.public_key)),
      });
    } else {
      await this.applyDescriptor(existing, descriptor, 'merge', m);
    }
    this.firstContacts.delete(serverName);
    return !existing;
  }

  /** Drops a partner's pinned keys (a partner pinned for a request it then refused). */
  async forget(serverName: string, m?: EntityManager): Promise<void> {
    await this.repoOf(m).delete({ serverName: serverName.toLowerCase() });
  }

  /** The pinned X25519 public key for kid, without any refetch (safe inside a transaction). */
  async pinnedAgreementKey(serverName: string, kid: string, m?: EntityManager): Promise<string | null> {
    const partner = await this.get(serverName, m);
    return partner?.agreementKeys.find((k) => k.kid === kid)?.publicKey ?? null;
  }

  /**
   * The partner's signing key with this kid. For a partner we have not met,
   * opts.baseUrl (the base_url of a first peering request) says where its
   * descriptor is; such a descriptor is remembered in memory only
   * (firstContactDescriptor) until pin() stores it.
   */
  async getSigningKey(
    serverName: string,
    kid: string,
    opts: { baseUrl?: string } = {},
  ): Promise<SigningKeyLookup> {
    const name = serverName.toLowerCase();
    let partner = await this.get(name);
    if (!partner) return this.firstContactKey(name, kid, opts.baseUrl);

    const known = this.lookupPinned(partner, kid);
    if (known !== 'unknown') return known;
    const outcome = await this.refresh(name);
    partner = await this.get(name);
    if (!partner) return 'unknown';
    const after = this.lookupPinned(partner, kid);
    if (after !== 'unknown') return after;
    if (outcome === 'failed' || (outcome === 'not_due' && partner.fetchFailures > 0)) return 'fetch_failed';
    return 'unknown';
  }

  /** The descriptor fetched for a partner we have not pinned yet (first peering request), if any. */
  firstContactDescriptor(serverName: string): Descriptor | null {
    return this.firstContacts.get(serverName.toLowerCase())?.descriptor ?? null;
  }

  /** The partner's X25519 public key (b64url) for kid; an unknown kid triggers the same shared refetch. */
  async agreementPublicKey(serverName: string, kid: string): Promise<string | null> {
    const name = serverName.toLowerCase();
    const partner = await this.get(name);
    if (!partner) {
      return this.firstContactDescriptor(name)?.agreement_keys.find((k) => k.kid === kid)?.public_key ?? null;
    }
    const found = partner.agreementKeys.find((k) => k.kid === kid);
    if (found) return found.publicKey;
    await this.refresh(name);
    const after = await this.get(name);
    return after?.agreementKeys.find((k) => k.kid === kid)?.publicKey ?? null;
  }

  /** Admin 'refresh': refetch now and trust what the partner publishes, held changes included. */
  async confirmHeld(serverName: string): Promise<{ fingerprints: string[]; confirmed: number }> {
    const name = serverName.toLowerCase();
    const partner = await this.get(name);
    if (!partner) throw new AppError('FED_UNKNOWN_PEER', `no partner ${name} is known here`);
    const result = await fetchDescriptor(partner.baseUrl, {
      fetch: this.deps.fetch,
      timeoutMs: this.timeoutMs,
    });
    if (result.kind === 'not_found') {
      throw new AppError('FED_KEY_FETCH_FAILED', `${partner.baseUrl} no longer publishes a descriptor`);
    }
    if (result.descriptor.server_name !== name) {
      throw new AppError('FED_KEY_FETCH_FAILED', `the descriptor at ${partner.baseUrl} names another server`);
    }
    const confirmed = await this.applyDescriptor(partner, result.descriptor, 'confirm');
    return { fingerprints: await this.fingerprints(name), confirmed };
  }

  /** Fingerprints of the partner's trusted signing keys, active key first, for out-of-band comparison. */
  async fingerprints(serverName: string): Promise<string[]> {
    const partner = await this.get(serverName);
    if (!partner) return [];
    const rank = (k: PartnerKey) => ['active', 'next', 'retiring'].indexOf(k.status ?? '') + 1 || 4;
    return [...partner.signingKeys].sort((x, y) => rank(x) - rank(y)).map((k) => fingerprint(k.publicKey));
  }

  private lookupPinned(partner: Partner, kid: string): SigningKeyLookup {
    const trusted = partner.signingKeys.find((k) => k.kid === kid);
    if (trusted) return this.usable(trusted);
    if (partner.heldKeys?.some((k) => k.kid === kid && k.alg === 'ed25519')) return 'held';
    return 'unknown';
  }

  private usable(k: PartnerKey): KeyObject | 'expired' {
    if (k.expiresAt !== undefined && Date.parse(k.expiresAt) + EXPIRY_SKEW_MS < this.deps.clock.now())
      return 'expired';
    let obj = this.keyObjects.get(k.publicKey);
    if (!obj) {
      obj = publicKeyFromRaw('ed25519', k.publicKey);
      this.keyObjects.set(k.publicKey, obj);
    }
    return obj;
  }

  /** One refetch per partner at a time, shared by everyone asking; skipped when not due yet. */
  private refresh(serverName: string): Promise<RefreshOutcome> {
    const running = this.inflight.get(serverName);
    if (running) return running;
    const p = this.doRefresh(serverName).finally(() => this.inflight.delete(serverName));
    this.inflight.set(serverName, p);
    return p;
  }

  private async doRefresh(serverName: string): Promise<RefreshOutcome> {
    const partner = await this.get(serverName);
    if (!partner) return 'failed';
    const now = this.deps.clock.now();
    if (partner.nextFetchAt !== null && now < partner.nextFetchAt) return 'not_due';
    let descriptor: Descriptor;
    try {
      const result = await fetchDescriptor(partner.baseUrl, {
        fetch: this.deps.fetch,
        timeoutMs: this.timeoutMs,
      });
      if (result.kind === 'not_found') throw new Error('the partner no longer publishes a descriptor (404)');
      if (result.descriptor.server_name !== serverName)
        throw new Error('the descriptor names another server');
      descriptor = result.descriptor;
    } catch (e) {
      const failures = partner.fetchFailures + 1;
      const delay = backoffMs(failures);
      await this.repo.update(
        { serverName },
        { fetchFailures: failures, nextFetchAt: now + delay, updatedAt: this.deps.clock.now() },
      );
      this.deps.logger.warn('partner descriptor fetch failed', {
        component: 'partner-keys',
        partner: serverName,
        failures,
        retryInSec: Math.round(delay / 1000),
        error: errorMessage(e),
      });
      return 'failed';
    }
    await this.applyDescriptor(partner, descriptor, 'merge');
    return 'fetched';
  }

  /**
   * Folds a freshly fetched descriptor into what we trust. 'merge': keys we
   * trust stay (metadata updated), new keys endorsed by a trusted key (also
   * through a chain of published keys) are trusted, anything else is held;
   * keys the partner stopped publishing are dropped, unless that would leave
   * nothing trusted. 'confirm': trust everything published (admin decision).
   * Returns how many keys became trusted.
   */
  private async applyDescriptor(
    partner: Partner,
    d: Descriptor,
    mode: 'merge' | 'confirm',
    m?: EntityManager,
  ): Promise<number> {
    const now = this.deps.clock.now();
    const trustedBefore = new Map(partner.signingKeys.map((k) => [k.kid, k]));
    let newlyTrusted = 0;
    let signingKeys: PartnerKey[];
    let agreementKeys: PartnerKey[];
    const held: PartnerKey[] = [];

    if (mode === 'confirm') {
      signingKeys = d.signing_keys.map(toPartnerKey);
      newlyTrusted += signingKeys.filter((k) => trustedBefore.get(k.kid)?.publicKey !== k.publicKey).length;
      const published = d.agreement_keys.map(toPartnerKey);
      const kept = partner.agreementKeys.filter((k) => !published.some((p) => p.kid === k.kid));
      newlyTrusted += published.filter(
        (p) => !partner.agreementKeys.some((k) => k.kid === p.kid && k.publicKey === p.publicKey),
      ).length;
      agreementKeys = [...kept, ...published];
    } else {
      const trusted = new Map<string, PartnerKey>();
      const pending = [];
      for (const k of d.signing_keys) {
        const before = trustedBefore.get(k.kid);
        if (before && before.publicKey === k.public_key) trusted.set(k.kid, toPartnerKey(k));
        else if (before)
          held.push(toPartnerKey(k)); // same kid, different key: a change nobody vouched for
        else pending.push(k);
      }
      // Keys we trust but the partner no longer lists still count as endorsers until they expire.
      const endorsers = new Map<string, PartnerKey>(trustedBefore);
      for (const [kid, k] of trusted) endorsers.set(kid, k);
      let progress = true;
      while (progress && pending.length > 0) {
        progress = false;
        for (let i = pending.length - 1; i >= 0; i--) {
          const k = pending[i];
          const endorser = k.endorsement ? endorsers.get(k.endorsement.kid) : undefined;
          if (!k.endorsement || !endorser || this.usable(endorser) === 'expired') continue;
          const ok = verifyEndorsement({
            kid: k.kid,
            publicKey: k.public_key,
            sig: k.endorsement.sig,
            endorserPublicKey: endorser.publicKey,
          });
          if (!ok) continue;
          trusted.set(k.kid, toPartnerKey(k));
          endorsers.set(k.kid, toPartnerKey(k));
          pending.splice(i, 1);
          newlyTrusted++;
          progress = true;
          this.deps.logger.info('trusted a rotated partner key (endorsed)', {
            component: 'partner-keys',
            partner: partner.serverName,
            kid: k.kid,
            endorsedBy: k.endorsement.kid,
            fingerprint: fingerprint(k.public_key),
          });
        }
      }
      held.push(...pending.map(toPartnerKey));
      signingKeys = trusted.size > 0 ? [...trusted.values()] : partner.signingKeys;

      // Agreement keys carry no endorsement: take new ones only from a descriptor whose signing keys we fully trust.
      agreementKeys = [...partner.agreementKeys];
      for (const a of d.agreement_keys) {
        const mine = agreementKeys.find((k) => k.kid === a.kid);
        if (mine && mine.publicKey === a.public_key) continue;
        if (mine || held.length > 0) held.push(toPartnerKey(a));
        else agreementKeys.push(toPartnerKey(a));
      }
      if (held.length > 0) {
        this.deps.logger.warn(
          'partner published an unendorsed key change; held until an admin confirms it (refresh)',
          {
            component: 'partner-keys',
            partner: partner.serverName,
            held: held.map((k) => ({ kid: k.kid, fingerprint: fingerprint(k.publicKey) })),
          },
        );
      }
    }

    const changes: Partial<Partner> = {
      signingKeys,
      agreementKeys,
      heldKeys: held.length > 0 ? held : null,
      descriptor: d as unknown as Record<string, unknown>,
      fetchedAt: now,
      fetchFailures: 0,
      nextFetchAt: now + REFETCH_MIN_INTERVAL_MS,
      updatedAt: now,
    };
    await this.repoOf(m).update(
      { serverName: partner.serverName },
      changes as QueryDeepPartialEntity<Partner>,
    );
    return newlyTrusted;
  }

  private async firstContactKey(
    serverName: string,
    kid: string,
    baseUrl: string | undefined,
  ): Promise<SigningKeyLookup> {
    if (baseUrl === undefined) return 'unknown';
    let base: string;
    try {
      base = normalizeBaseUrl(baseUrl);
      if (serverNameOf(base) !== serverName) return 'unknown';
    } catch {
      return 'unknown';
    }
    const find = (): SigningKeyLookup | null => {
      const fc = this.firstContacts.get(serverName);
      const k = fc?.baseUrl === base ? fc.descriptor?.signing_keys.find((s) => s.kid === kid) : undefined;
      return k ? this.usable(toPartnerKey(k)) : null;
    };
    const cached = find();
    if (cached) return cached;
    await this.fetchFirstContact(serverName, base);
    const found = find();
    if (found) return found;
    const fc = this.firstContacts.get(serverName);
    return fc && fc.failures > 0 ? 'fetch_failed' : 'unknown';
  }

  private fetchFirstContact(serverName: string, base: string): Promise<void> {
    const running = this.firstContactInflight.get(serverName);
    if (running) return running;
    const p = this.doFetchFirstContact(serverName, base).finally(() =>
      this.firstContactInflight.delete(serverName),
    );
    this.firstContactInflight.set(serverName, p);
    return p;
  }

  private async doFetchFirstContact(serverName: string, base: string): Promise<void> {
    const now = this.deps.clock.now();
    this.pruneFirstContacts(now);
    const prev = this.firstContacts.get(serverName);
    if (prev && prev.baseUrl === base && now < prev.nextFetchAt) return;
    const failuresBefore = prev?.baseUrl === base ? prev.failures : 0;
    try {
      const result = await fetchDescriptor(base, { fetch: this.deps.fetch, timeoutMs: this.timeoutMs });
      const descriptor =
        result.kind === 'found' && result.descriptor.server_name === serverName ? result.descriptor : null;
      this.firstContacts.set(serverName, {
        baseUrl: base,
        descriptor,
        failures: 0,
        nextFetchAt: now + REFETCH_MIN_INTERVAL_MS,
        lastUsed: now,
      });
    } catch (e) {
      const failures = failuresBefore + 1;
      this.firstContacts.set(serverName, {
        baseUrl: base,
        descriptor: prev?.baseUrl === base ? prev.descriptor : null,
        failures,
        nextFetchAt: now + backoffMs(failures),
        lastUsed: now,
      });
      this.deps.logger.info('descriptor of a first-contact partner could not be fetched', {
        component: 'partner-keys',
        partner: serverName,
        error: errorMessage(e),
      });
    }
  }

  private pruneFirstContacts(now: number): void {
    for (const [name, fc] of this.firstContacts) {
      if (now - fc.lastUsed > FIRST_CONTACT_TTL_MS && now >= fc.nextFetchAt) this.firstContacts.delete(name);
    }
    while (this.firstContacts.size >= FIRST_CONTACT_MAX) {
      const oldest = this.firstContacts.keys().next().value;
      if (oldest === undefined) break;
      this.firstContacts.delete(oldest);
    }
  }
}
