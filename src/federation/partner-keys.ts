import type { KeyObject } from 'node:crypto';
import type { Clock } from '../core/clock';
import { AppError, errorMessage } from '../core/errors';
import type { Logger } from '../logging/logger';
import { type Descriptor, fetchDescriptor, normalizeBaseUrl } from './descriptor';
import { fingerprint, publicKeyFromRaw } from './key-encoding';
import { FirstContacts } from './partner-first-contacts';
import { isExpired, toPartnerKey, trustDescriptor } from './partner-key-trust';
import { REFETCH_MIN_INTERVAL_MS, refetchBackoffMs } from './partner-key-refetch';
import type { Partner, PartnerKey, PartnerSigningKeys, PartnerStore } from './ports/partner-store';
import type { StoreTx } from './ports/transactions';

export { REFETCH_MAX_BACKOFF_MS, REFETCH_MIN_INTERVAL_MS } from './partner-key-refetch';

const DEFAULT_TIMEOUT_MS = 5000;
/**
 * How long a partner's signing keys read from the store are reused for
 * signature checks. Every write this store makes drops the entry at once (a
 * write in a transaction again when the transaction ends); the age only
 * bounds how late a change written by another replica sharing the database
 * is seen (a key it trusted or stopped trusting).
 */
export const SIGNING_KEYS_CACHE_MS = 1000;

/**
 * What getSigningKey found: the key, or why not.
 * - 'unknown': the partner does not publish this kid (after a refetch, or a refetch was not due);
 * - 'held': the partner publishes it, but as an unendorsed key change waiting for an admin;
 * - 'expired': we knew the key, its expires_at has passed;
 * - 'fetch_failed': the descriptor could not be fetched (or fetches are backing off after failures).
 */
export type SigningKeyLookup = KeyObject | 'unknown' | 'held' | 'expired' | 'fetch_failed';

export type RefreshOutcome = 'fetched' | 'failed' | 'not_due';

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
  private readonly firstContacts: FirstContacts;
  private readonly keyObjects = new Map<string, KeyObject>();
  /** Signing keys as last read, per partner, with when they were read (see SIGNING_KEYS_CACHE_MS). */
  private readonly signingKeys = new Map<string, { keys: PartnerSigningKeys; readAt: number }>();
  /** Counts this store's writes to partners: a read that saw one start or end is not remembered. */
  private writes = 0;
  /** Partners with a write in a transaction not ended yet: their keys are read, not remembered. */
  private readonly uncommitted = new Map<string, number>();
  private readonly timeoutMs: number;

  constructor(
    private readonly deps: {
      store: PartnerStore;
      clock: Clock;
      fetch: typeof fetch;
      logger: Logger;
      timeoutMs?: number;
    },
  ) {
    this.timeoutMs = deps.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.firstContacts = new FirstContacts({ ...deps, timeoutMs: this.timeoutMs });
  }

  async get(serverName: string, tx?: StoreTx): Promise<Partner | null> {
    return this.deps.store.get(serverName, tx);
  }

  /**
   * At the handshake: store the partner's keys. A partner we never met is
   * trusted as it presents itself; for one we know, the usual rules apply
   * (endorsed rotations trusted, other changes held). With a transaction's
   * transaction the row is written in that transaction, so a refusal that rolls
   * it back leaves no partner behind. True when the partner was new.
   */
  async pin(descriptor: Descriptor, tx?: StoreTx): Promise<boolean> {
    const serverName = descriptor.server_name.toLowerCase();
    const existing = await this.get(serverName, tx);
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
      await this.changing(serverName, () => this.deps.store.insert(partner, tx), tx);
      this.deps.logger.info('pinned partner keys', {
        component: 'partner-keys',
        partner: serverName,
        fingerprints: descriptor.signing_keys.map((k) => fingerprint(k.public_key)),
      });
    } else {
      await this.applyDescriptor(existing, descriptor, 'merge', tx);
    }
    this.firstContacts.delete(serverName);
    return !existing;
  }

  /** Drops a partner's pinned keys (a partner pinned for a request it then refused). */
  async forget(serverName: string, tx?: StoreTx): Promise<void> {
    await this.changing(serverName, () => this.deps.store.delete(serverName, tx), tx);
  }

  /** The pinned X25519 public key for kid, without any refetch (safe inside a transaction). */
  async pinnedAgreementKey(serverName: string, kid: string, tx?: StoreTx): Promise<string | null> {
    const partner = await this.get(serverName, tx);
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
    let partner = await this.cachedSigningKeys(name);
    if (!partner) return this.firstContacts.signingKey(name, kid, opts.baseUrl, (k) => this.usable(k));

    const known = this.lookupPinned(partner, kid);
    if (known !== 'unknown') return known;
    const outcome = await this.refresh(name);
    this.signingKeys.delete(name);
    partner = await this.cachedSigningKeys(name);
    if (!partner) return 'unknown';
    const after = this.lookupPinned(partner, kid);
    if (after !== 'unknown') return after;
    if (outcome === 'failed' || (outcome === 'not_due' && partner.fetchFailures > 0)) return 'fetch_failed';
    return 'unknown';
  }

  /** The descriptor fetched for a partner we have not pinned yet (first peering request), if any. */
  firstContactDescriptor(serverName: string): Descriptor | null {
    return this.firstContacts.descriptor(serverName);
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

  /**
   * The partner's signing keys (only those: the descriptor and the rest of the
   * row are not needed to check a signature), from the store at most
   * SIGNING_KEYS_CACHE_MS ago. A partner not found is not remembered.
   */
  private async cachedSigningKeys(name: string): Promise<PartnerSigningKeys | null> {
    // The process's own monotonic time: an injected clock that stands still or jumps must not keep or drop entries.
    const now = performance.now();
    const hit = this.signingKeys.get(name);
    if (hit && now - hit.readAt < SIGNING_KEYS_CACHE_MS) return hit.keys;
    const writesBefore = this.writes;
    const keys = await this.deps.store.signingKeysOf(name);
    if (keys && this.writes === writesBefore && !this.uncommitted.has(name))
      this.signingKeys.set(name, { keys, readAt: now });
    else this.signingKeys.delete(name);
    return keys;
  }

  /**
   * A write to the partner's row: its cached signing keys go before and after
   * it. In a transaction the row is final only at its end: until then the keys
   * are not remembered (a reader would see the old row on MariaDB, the
   * uncommitted one on SQLite's single connection), and they go again right
   * after the commit or the rollback.
   */
  private async changing<T>(serverName: string, write: () => Promise<T>, tx?: StoreTx): Promise<T> {
    const name = serverName.toLowerCase();
    const drop = () => {
      this.writes++;
      this.signingKeys.delete(name);
    };
    if (tx) {
      this.uncommitted.set(name, (this.uncommitted.get(name) ?? 0) + 1);
      tx.afterEnd(() => {
        const left = (this.uncommitted.get(name) ?? 1) - 1;
        if (left > 0) this.uncommitted.set(name, left);
        else this.uncommitted.delete(name);
        drop();
      });
    }
    drop();
    try {
      return await write();
    } finally {
      drop();
    }
  }

  private lookupPinned(partner: PartnerSigningKeys, kid: string): SigningKeyLookup {
    const trusted = partner.signingKeys.find((k) => k.kid === kid);
    if (trusted) return this.usable(trusted);
    if (partner.heldKeys?.some((k) => k.kid === kid && k.alg === 'ed25519')) return 'held';
    return 'unknown';
  }

  private usable(k: PartnerKey): KeyObject | 'expired' {
    if (isExpired(k, this.deps.clock.now())) return 'expired';
    let obj = this.keyObjects.get(k.publicKey);
    if (!obj) {
      obj = publicKeyFromRaw('ed25519', k.publicKey);
      this.keyObjects.set(k.publicKey, obj);
    }
    return obj;
  }

  /** Refetches the partner's descriptor when due (at most every REFETCH_MIN_INTERVAL_MS), shared with key lookups. */
  refreshDescriptor(serverName: string): Promise<RefreshOutcome> {
    return this.refresh(serverName.toLowerCase());
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
      const delay = refetchBackoffMs(failures);
      await this.changing(serverName, () =>
        this.deps.store.update(serverName, {
          fetchFailures: failures,
          nextFetchAt: now + delay,
          updatedAt: this.deps.clock.now(),
        }),
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

  /** Trusts what the descriptor allows (partner-key-trust.ts) and stores it; returns how many keys became trusted. */
  private async applyDescriptor(
    partner: Partner,
    d: Descriptor,
    mode: 'merge' | 'confirm',
    tx?: StoreTx,
  ): Promise<number> {
    const now = this.deps.clock.now();
    const { newlyTrusted, ...keys } = trustDescriptor(partner, d, mode, now, this.deps.logger);
    await this.changing(
      partner.serverName,
      () =>
        this.deps.store.update(
          partner.serverName,
          {
            ...keys,
            descriptor: d as unknown as Record<string, unknown>,
            fetchedAt: now,
            fetchFailures: 0,
            nextFetchAt: now + REFETCH_MIN_INTERVAL_MS,
            updatedAt: now,
          },
          tx,
        ),
      tx,
    );
    return newlyTrusted;
  }
}
