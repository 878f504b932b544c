import { errorMessage } from '../core/errors';
import type { Clock } from '../core/clock';
import type { Logger } from '../logging/logger';
import { type Descriptor, fetchDescriptor, normalizeBaseUrl } from './descriptor';
import { serverNameOf } from './local-keys';
import { toPartnerKey } from './partner-key-trust';
import { REFETCH_MIN_INTERVAL_MS, refetchBackoffMs } from './partner-key-refetch';

/** Bound on remembered first-contact descriptors (strangers are rate limited per IP before they get here). */
const FIRST_CONTACT_MAX = 1000;
const FIRST_CONTACT_TTL_MS = 10 * 60 * 1000;

interface FirstContact {
  baseUrl: string;
  descriptor: Descriptor | null;
  failures: number;
  nextFetchAt: number;
  lastUsed: number;
}

/**
 * Descriptors of partners we have not pinned yet, fetched from the base_url
 * of their first peering request: kept in memory only (bounded, expiring)
 * until the handshake pins them, one fetch per partner at a time, backing
 * off after failures like the refetch of pinned partners.
 */
export class FirstContacts {
  private readonly known = new Map<string, FirstContact>();
  private readonly inflight = new Map<string, Promise<void>>();

  constructor(
    private readonly deps: { clock: Clock; fetch: typeof fetch; logger: Logger; timeoutMs: number },
  ) {}

  /** The descriptor fetched for this partner, if any. */
  descriptor(serverName: string): Descriptor | null {
    return this.known.get(serverName.toLowerCase())?.descriptor ?? null;
  }

  /** Forgets the partner (it was pinned). */
  delete(serverName: string): void {
    this.known.delete(serverName.toLowerCase());
  }

  /**
   * The signing key with this kid of a partner whose first request named
   * baseUrl: the key (checked by usable), or why not.
   */
  async signingKey<T>(
    serverName: string,
    kid: string,
    baseUrl: string | undefined,
    usable: (k: ReturnType<typeof toPartnerKey>) => T,
  ): Promise<T | 'unknown' | 'fetch_failed'> {
    if (baseUrl === undefined) return 'unknown';
    let base: string;
    try {
      base = normalizeBaseUrl(baseUrl);
      if (serverNameOf(base) !== serverName) return 'unknown';
    } catch {
      return 'unknown';
    }
    const find = (): T | null => {
      const fc = this.known.get(serverName);
      const k = fc?.baseUrl === base ? fc.descriptor?.signing_keys.find((s) => s.kid === kid) : undefined;
      return k ? usable(toPartnerKey(k)) : null;
    };
    const cached = find();
    if (cached) return cached;
    await this.fetch(serverName, base);
    const found = find();
    if (found) return found;
    const fc = this.known.get(serverName);
    return fc && fc.failures > 0 ? 'fetch_failed' : 'unknown';
  }

  private fetch(serverName: string, base: string): Promise<void> {
    const running = this.inflight.get(serverName);
    if (running) return running;
    const p = this.doFetch(serverName, base).finally(() => this.inflight.delete(serverName));
    this.inflight.set(serverName, p);
    return p;
  }

  private async doFetch(serverName: string, base: string): Promise<void> {
    const now = this.deps.clock.now();
    this.prune(now);
    const prev = this.known.get(serverName);
    if (prev && prev.baseUrl === base && now < prev.nextFetchAt) return;
    const failuresBefore = prev?.baseUrl === base ? prev.failures : 0;
    try {
      const result = await fetchDescriptor(base, { fetch: this.deps.fetch, timeoutMs: this.deps.timeoutMs });
      const descriptor =
        result.kind === 'found' && result.descriptor.server_name === serverName ? result.descriptor : null;
      this.known.set(serverName, {
        baseUrl: base,
        descriptor,
        failures: 0,
        nextFetchAt: now + REFETCH_MIN_INTERVAL_MS,
        lastUsed: now,
      });
    } catch (e) {
      const failures = failuresBefore + 1;
      this.known.set(serverName, {
        baseUrl: base,
        descriptor: prev?.baseUrl === base ? prev.descriptor : null,
        failures,
        nextFetchAt: now + refetchBackoffMs(failures),
        lastUsed: now,
      });
      this.deps.logger.info('descriptor of a first-contact partner could not be fetched', {
        component: 'partner-keys',
        partner: serverName,
        error: errorMessage(e),
      });
    }
  }

  private prune(now: number): void {
    for (const [name, fc] of this.known) {
      if (now - fc.lastUsed > FIRST_CONTACT_TTL_MS && now >= fc.nextFetchAt) this.known.delete(name);
    }
    while (this.known.size >= FIRST_CONTACT_MAX) {
      const oldest = this.known.keys().next().value;
      if (oldest === undefined) break;
      this.known.delete(oldest);
    }
  }
}
