import { createPrivateKey, generateKeyPairSync, type KeyObject, randomBytes } from 'node:crypto';
import type { Config } from '../config/schema';
import type { Clock } from '../core/clock';
import { AppError } from '../core/errors';
import type { Logger } from '../logging/logger';
import type { LocalKey, LocalKeyStore } from './ports/local-key-store';
import type { StoreTx } from './ports/transactions';
import type { DescriptorAgreementKey, DescriptorSigningKey } from './descriptor';
import { endorse } from './endorsement';
import { authorityOf } from './partner-call';
import {
  decryptPrivateKey,
  encryptPrivateKey,
  isEncrypted,
  KeyDecryptionError,
} from '../core/key-encryption';
import { type KeyAlg, rawPublicKey } from './key-encoding';
import type { SigningKey } from './http-signature';

export { fingerprint } from './key-encoding';

const DAY_MS = 24 * 60 * 60 * 1000;
/** How long a replaced key stays published (and accepted by partners) as `retiring`. */
export const RETIRING_PERIOD_MS = 30 * DAY_MS;
/** How far ahead of its activation a new key is published as `next`. */
export const NEXT_LEAD_MS = 7 * DAY_MS;
export const DEFAULT_KEY_LIFETIME_DAYS = 365;
/**
 * How long the active key rows read from the store are reused (signing every
 * outgoing call, the agreement key of every peering). Every write this class
 * makes drops them at once; the age only bounds how late a rotation made by
 * another replica sharing the database is seen, and a key replaced there stays
 * published and accepted as `retiring` for RETIRING_PERIOD_MS.
 */
export const ACTIVE_KEY_CACHE_MS = 1000;

type KeyStatus = LocalKey['status'];

/** Authority (host[:port], lower case, default port omitted) of a URL: our and our partners' server_name. */
export const serverNameOf: (publicUrl: string) => string = authorityOf;

/**
 * Our own keys: an Ed25519 signing key and an X25519 agreement key, rotated
 * together. Private keys live only in the local_keys table (always encrypted,
 * under the store's key-encryption secret: UURU_KEY_ENCRYPTION_SECRET or the
 * key file, see src/store/secrets-at-rest.ts) and in this process's memory;
 * they are never returned by list(), logged, or put in errors.
 *
 * Life of a key: `next` (published ahead, endorsed by the active key) ->
 * `active` (signs) -> `retiring` (published for RETIRING_PERIOD_MS so
 * partners still accept requests signed just before the switch) -> `retired`
 * (unpublished; a retired signing key's private half is erased, a retired
 * agreement key's is kept so peerings still pending on it can complete).
 */
export class LocalKeys {
  private readonly cache = new Map<string, KeyObject>();
  /** The active row per algorithm as last read, and when (performance.now(); see ACTIVE_KEY_CACHE_MS). */
  private readonly activeRows = new Map<KeyAlg, { row: LocalKey; readAt: number }>();
  /** The published rows per algorithm as last read, and when (as activeRows). */
  private readonly publishedRows = new Map<KeyAlg, { rows: LocalKey[]; readAt: number }>();
  /** Counts the starts and ends of this class's writes: a read that saw one is not remembered. */
  private writes = 0;
  /** Writes of this class under way. */
  private writing = 0;
  private readonly serverName: string;
  private readonly lifetimeMs: number;

  constructor(
    private readonly deps: {
      store: LocalKeyStore;
      transactions: { run<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> };
      /** The store's key-encryption secret (UURU_KEY_ENCRYPTION_SECRET or the key file). */
      keyEncryptionSecret: () => string;
      clock: Clock;
      config: Config;
      logger: Logger;
      lifetimeDays?: number;
    },
  ) {
    this.serverName = serverNameOf(deps.config.instance.publicUrl);
    this.lifetimeMs = (deps.lifetimeDays ?? DEFAULT_KEY_LIFETIME_DAYS) * DAY_MS;
  }

  /** The store's key-encryption secret: the one every other secret at rest is sealed with. */
  private get secret(): string {
    return this.deps.keyEncryptionSecret();
  }

  /** First start: generate the keys. Every start: check they decrypt (opening the store encrypted any plain ones). */
  async ensureKeys(): Promise<void> {
    const { store } = this.deps;
    const created = await this.changing(() =>
      this.deps.transactions.run(async (tx) => {
        const made: string[] = [];
        for (const alg of ['ed25519', 'x25519'] as const) {
          const active = await store.list({ alg, status: ['active'] }, 'desc', tx);
          if (active.length > 0) continue;
          const now = this.deps.clock.now();
          const row = this.newKeyRow(alg, 'active', now, now + this.lifetimeMs + RETIRING_PERIOD_MS, null);
          await store.insert(row, tx);
          made.push(row.kid);
        }
        return made;
      }),
    );
    for (const kid of created) this.deps.logger.info('generated local key', { component: 'keys', kid });
    await this.settleDuplicateActives();
    // Fail at start, not at the first signed request, when the secret is wrong or missing.
    await this.signingKey();
    await this.agreementKey();
    // Those reads are not kept: a replica starting at the same moment may still make the key just read retiring
    // (settleDuplicateActives on its side), and the next signature must see its choice, not this start's.
    this.activeRows.clear();
    this.publishedRows.clear();
  }

  /**
   * Replicas that start on an empty database at the same moment may each
   * create an active key (neither saw the other's before it committed). Each
   * start therefore keeps one active key per algorithm, the same one whichever
   * replica looks (the smallest kid), and makes the others retiring: still
   * published and usable for what was already signed or agreed with them.
   */
  private async settleDuplicateActives(): Promise<void> {
    const { store } = this.deps;
    for (const alg of ['ed25519', 'x25519'] as const) {
      const actives = (await store.list({ alg, status: ['active'] }, 'asc')).sort((x, y) =>
        x.kid < y.kid ? -1 : x.kid > y.kid ? 1 : 0,
      );
      if (actives.length < 2) continue;
      const [keep, ...others] = actives;
      const now = this.deps.clock.now();
      for (const o of others) {
        await this.changing(() =>
          store.update(
            o.kid,
            { status: 'retiring', expiresAt: Math.min(o.expiresAt, now + RETIRING_PERIOD_MS) },
            { onlyIfStatus: 'active' },
          ),
        );
      }
      this.deps.logger.warn('found more than one active key (replicas started together?): kept one', {
        component: 'keys',
        alg,
        kept: keep.kid,
        retiring: others.map((o) => o.kid),
      });
    }
  }

  async signingKey(): Promise<SigningKey> {
    const row = await this.activeRow('ed25519');
    return { keyId: `${this.serverName}#${row.kid}`, privateKey: this.privateKeyOf(row) };
  }

  async agreementKey(kid?: string): Promise<{ kid: string; privateKey: KeyObject; publicKey: string }> {
    let row: LocalKey | null;
    if (kid === undefined) {
      row = await this.activeRow('x25519');
    } else {
      row = await this.deps.store.get(kid);
      if (!row || row.alg !== 'x25519' || row.privateKey === '') {
        throw new AppError(
          'FED_STATE_CONFLICT',
          `our agreement key ${kid} named in this peering no longer exists`,
        );
      }
    }
    return { kid: row.kid, privateKey: this.privateKeyOf(row), publicKey: row.publicKey };
  }

  async publishedSigningKeys(): Promise<DescriptorSigningKey[]> {
    const rows = await this.published('ed25519');
    return rows.map((r) => ({
      ...publicHalf(r, 'ed25519'),
      status: r.status as DescriptorSigningKey['status'],
      not_before: new Date(r.notBefore).toISOString(),
      expires_at: new Date(r.expiresAt).toISOString(),
      ...(r.endorsement ? { endorsement: { kid: r.endorsement.kid, sig: r.endorsement.sig } } : {}),
    }));
  }

  async publishedAgreementKeys(): Promise<DescriptorAgreementKey[]> {
    const rows = await this.published('x25519');
    return rows.map((r) => ({
      ...publicHalf(r, 'x25519'),
      not_before: new Date(r.notBefore).toISOString(),
      expires_at: new Date(r.expiresAt).toISOString(),
    }));
  }

  /** Every key we hold, newest first. privateKey is always '' here: private halves never leave this class. */
  async list(): Promise<LocalKey[]> {
    const rows = await this.deps.store.list({}, 'desc');
    return rows.map((r) => ({ ...r, privateKey: '' }));
  }

  /** Manual rotation (admin action): the `next` key if one is published, else a new one, becomes active now. */
  async rotate(): Promise<void> {
    const now = this.deps.clock.now();
    const [next] = await this.deps.store.list({ alg: 'ed25519', status: ['next'] }, 'asc');
    if (!next) await this.createNext({ notBefore: now });
    await this.promoteNext({ force: true });
    this.deps.logger.info('keys rotated by an admin', { component: 'keys' });
  }

  /** Current `active` and `next` signing keys (public data only), for the rotation schedule. */
  async rotationState(): Promise<{ active: LocalKey | null; next: LocalKey | null }> {
    const [active] = await this.deps.store.list({ alg: 'ed25519', status: ['active'] }, 'desc');
    const [next] = await this.deps.store.list({ alg: 'ed25519', status: ['next'] }, 'desc');
    return {
      active: active ? { ...active, privateKey: '' } : null,
      next: next ? { ...next, privateKey: '' } : null,
    };
  }

  /** Publishes a new signing + agreement key pair as `next`, activating at notBefore; endorsed by the active key. */
  async createNext(p: { notBefore: number }): Promise<{ kid: string }> {
    const endorser = await this.activeRow('ed25519');
    const endorserKey = this.privateKeyOf(endorser);
    const expiresAt = p.notBefore + this.lifetimeMs + RETIRING_PERIOD_MS;
    const signing = this.newKeyRow('ed25519', 'next', p.notBefore, expiresAt, null);
    signing.endorsement = { kid: endorser.kid, sig: endorse(signing.kid, signing.publicKey, endorserKey) };
    const agreement = this.newKeyRow('x25519', 'next', p.notBefore, expiresAt, null);
    await this.changing(() =>
      this.deps.transactions.run(async (tx) => {
        await this.deps.store.insert(signing, tx);
        await this.deps.store.insert(agreement, tx);
      }),
    );
    this.deps.logger.info('published next keys', {
      component: 'keys',
      kid: signing.kid,
      agreementKid: agreement.kid,
      activatesAt: new Date(p.notBefore).toISOString(),
    });
    return { kid: signing.kid };
  }

  /**
   * Makes the `next` keys active once their not_before has come (or at once
   * with force); the active ones become `retiring` for RETIRING_PERIOD_MS.
   */
  async promoteNext(opts: { force?: boolean } = {}): Promise<boolean> {
    const now = this.deps.clock.now();
    const { store } = this.deps;
    const promoted = await this.changing(() =>
      this.deps.transactions.run(async (tx) => {
        let changed = false;
        for (const alg of ['ed25519', 'x25519'] as const) {
          const [next] = await store.list({ alg, status: ['next'] }, 'asc', tx);
          if (!next || (!opts.force && next.notBefore > now)) continue;
          const actives = await store.list({ alg, status: ['active'] }, 'asc', tx);
          for (const a of actives) {
            await store.update(
              a.kid,
              { status: 'retiring', expiresAt: Math.min(a.expiresAt, now + RETIRING_PERIOD_MS) },
              {},
              tx,
            );
          }
          await store.update(
            next.kid,
            { status: 'active', notBefore: Math.min(next.notBefore, now) },
            {},
            tx,
          );
          changed = true;
        }
        return changed;
      }),
    );
    if (promoted) this.deps.logger.info('next keys are now active', { component: 'keys' });
    return promoted;
  }

  /** Retires keys whose retiring period is over; returns how many. */
  async retireExpired(): Promise<number> {
    const now = this.deps.clock.now();
    const rows = await this.deps.store.list({ status: ['retiring'], expiresAtOrBefore: now }, 'asc');
    let n = 0;
    for (const r of rows) {
      // Signatures by a retired key are refused everywhere, so its private half has no use left.
      await this.changing(() =>
        this.deps.store.update(r.kid, {
          status: 'retired',
          privateKey: r.alg === 'ed25519' ? '' : r.privateKey,
        }),
      );
      this.cache.delete(r.kid);
      this.deps.logger.info('retired local key', { component: 'keys', kid: r.kid });
      n++;
    }
    return n;
  }

  /**
   * The published rows of alg (the descriptor's keys), from the store at most
   * ACTIVE_KEY_CACHE_MS ago: a flood of descriptor fetches costs two reads a
   * second instead of two per fetch. Dropped with the active rows on every write.
   */
  private async published(alg: KeyAlg): Promise<LocalKey[]> {
    const now = performance.now();
    const hit = this.publishedRows.get(alg);
    if (hit && now - hit.readAt < ACTIVE_KEY_CACHE_MS) return hit.rows;
    const writesBefore = this.writes;
    const rows = await this.deps.store.list({ alg, status: ['next', 'active', 'retiring'] }, 'asc');
    if (this.writes === writesBefore && this.writing === 0)
      this.publishedRows.set(alg, { rows, readAt: now });
    return rows;
  }

  /** The active row of alg, from the store at most ACTIVE_KEY_CACHE_MS ago. */
  private async activeRow(alg: KeyAlg): Promise<LocalKey> {
    // The process's own monotonic time: an injected clock that stands still or jumps must not keep or drop entries.
    const now = performance.now();
    const hit = this.activeRows.get(alg);
    if (hit && now - hit.readAt < ACTIVE_KEY_CACHE_MS) return hit.row;
    const writesBefore = this.writes;
    const [row] = await this.deps.store.list({ alg, status: ['active'] }, 'desc');
    if (!row) throw new AppError('FED_NO_LOCAL_KEY', `no active ${alg} key: ensureKeys() was not run`);
    if (this.writes === writesBefore && this.writing === 0) this.activeRows.set(alg, { row, readAt: now });
    return row;
  }

  /** A write to local_keys: the remembered active rows go when it starts and when it ends. */
  private async changing<T>(write: () => Promise<T>): Promise<T> {
    this.writes++;
    this.writing++;
    this.activeRows.clear();
    this.publishedRows.clear();
    try {
      return await write();
    } finally {
      this.writing--;
      this.writes++;
      this.activeRows.clear();
      this.publishedRows.clear();
    }
  }

  private privateKeyOf(row: LocalKey): KeyObject {
    const cached = this.cache.get(row.kid);
    if (cached) return cached;
    // Rows in clear were encrypted when the store was opened; one left in clear is not trusted.
    if (!isEncrypted(row.privateKey)) {
      throw new AppError('FED_KEY_DECRYPT_FAILED', `stored private key ${row.kid} is not encrypted`);
    }
    let der: Buffer;
    try {
      der = decryptPrivateKey(row.privateKey, this.secret, row.kid, row.alg);
    } catch (e) {
      if (e instanceof KeyDecryptionError) throw new AppError('FED_KEY_DECRYPT_FAILED', e.message);
      throw e;
    }
    let key: KeyObject;
    try {
      key = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    } catch {
      throw new AppError('FED_KEY_DECRYPT_FAILED', `stored private key ${row.kid} is damaged`);
    }
    if (rawPublicKey(key) !== row.publicKey) {
      throw new AppError(
        'FED_KEY_DECRYPT_FAILED',
        `stored private key ${row.kid} does not match its public key`,
      );
    }
    this.cache.set(row.kid, key);
    return key;
  }

  private newKeyRow(
    alg: KeyAlg,
    status: KeyStatus,
    notBefore: number,
    expiresAt: number,
    endorsement: LocalKey['endorsement'],
  ): LocalKey {
    const { privateKey } = alg === 'ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('x25519');
    const kid = newKid(alg, notBefore);
    const der = privateKey.export({ format: 'der', type: 'pkcs8' });
    this.cache.set(kid, privateKey);
    return {
      kid,
      alg,
      publicKey: rawPublicKey(privateKey),
      privateKey: encryptPrivateKey(der, this.secret, kid, alg),
      status,
      notBefore,
      expiresAt,
      endorsement,
      createdAt: this.deps.clock.now(),
    };
  }
}

/** k20260101a3f9 (signing) / x20260101a3f9 (agreement): readable date of activation plus randomness. */
function newKid(alg: KeyAlg, notBefore: number): string {
  const day = new Date(notBefore).toISOString().slice(0, 10).replace(/-/g, '');
  return `${alg === 'ed25519' ? 'k' : 'x'}${day}${randomBytes(3).toString('hex')}`;
}

/** How a descriptor names any key of ours: its id, its algorithm and its public half. */
function publicHalf<A extends KeyAlg>(r: LocalKey, alg: A): { kid: string; alg: A; public_key: string } {
  return { kid: r.kid, alg, public_key: r.publicKey };
}
