/**
 * In-memory versions of the protocol core's store ports (src/federation/ports),
 * for unit tests: no database file, no driver, each test starts empty. They
 * live under test/ because nothing in production runs on them; they pass the
 * same contract suite (test/store/contract) as the TypeORM stores, so a unit
 * test on them sees the behaviour SQLite and MariaDB give.
 *
 * Transactions run one after another (like TypeormTransactions); a
 * transaction that throws restores every table to its state at the start.
 * Rows are copied in and out, so a caller's object is never the stored one.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Clock } from '../../../src/core/clock';
import type {
  FederationStores,
  LocalKeyStore,
  NonceStore,
  OutboxStore,
  PartnerHealthStore,
  PartnerStore,
  PeeringStore,
  SettingStore,
  StoreTx,
  Transactions,
} from '../../../src/federation/ports';
import { peerSummary } from '../../../src/federation/views';
import type {
  IncomingRequest,
  LocalKey,
  OutboxItem,
  OutgoingRequest,
  Partner,
  PartnerHealth,
  Peer,
} from '../../../src/store/entities';

/** The unique-key refusal of the in-memory tables (the databases throw their driver's error). */
export class DuplicateKeyError extends Error {}

interface Tables {
  peers: Map<string, Peer>;
  outgoing: Map<string, OutgoingRequest>;
  incoming: Map<string, IncomingRequest>;
  outbox: Map<string, OutboxItem>;
  partners: Map<string, Partner>;
  partnerHealth: Map<string, PartnerHealth>;
  localKeys: Map<string, LocalKey>;
  nonces: Map<string, number>;
  settings: Map<string, unknown>;
}

const copy = <T>(v: T): T => structuredClone(v);

/** Oldest first: created_at, then id (the order the TypeORM stores ask their database for). */
function byCreated<T extends { createdAt: number }>(key: (r: T) => string) {
  return (x: T, y: T) => x.createdAt - y.createdAt || cmp(key(x), key(y));
}
const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

class MemoryTx implements StoreTx {
  readonly storeTx = true as const;
  private ends: ((committed: boolean) => void)[] = [];
  constructor(readonly db: MemoryDb) {}
  afterEnd(fn: (committed: boolean) => void): void {
    this.ends.push(fn);
  }
  ended(committed: boolean): void {
    const ends = this.ends;
    this.ends = [];
    for (const fn of ends) fn(committed);
  }
}

export class MemoryDb {
  t: Tables = {
    peers: new Map(),
    outgoing: new Map(),
    incoming: new Map(),
    outbox: new Map(),
    partners: new Map(),
    partnerHealth: new Map(),
    localKeys: new Map(),
    nonces: new Map(),
    settings: new Map(),
  };

  private tail: Promise<unknown> = Promise.resolve();
  private readonly inside = new AsyncLocalStorage<{ open: boolean }>();

  /** Transactions and, like TypeORM's on SQLite, writes without a tx: one after another (a rollback restores a snapshot). */
  enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(async () => {
      const unit = { open: true };
      try {
        return await this.inside.run(unit, fn);
      } finally {
        unit.open = false;
      }
    });
    this.tail = next.catch(() => undefined);
    return next;
  }

  /** A write: with its tx at once, else after the open transaction (never inside it), as the TypeORM stores do. */
  exclusive<T>(tx: StoreTx | undefined, fn: () => Promise<T>): Promise<T> {
    this.check(tx);
    return tx || this.inside.getStore()?.open === true ? fn() : this.enqueue(fn);
  }

  /** Refuses a transaction another store opened, as the TypeORM stores do. */
  check(tx?: StoreTx): void {
    if (tx && !(tx instanceof MemoryTx && tx.db === this))
      throw new Error('a transaction opened by another store was passed to this one');
  }
}

class MemoryTransactions implements Transactions {
  constructor(private readonly db: MemoryDb) {}

  run<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    return this.db.enqueue(async () => {
      const before = copy(this.db.t);
      const tx = new MemoryTx(this.db);
      try {
        const result = await fn(tx);
        tx.ended(true);
        return result;
      } catch (e) {
        this.db.t = before;
        tx.ended(false);
        throw e;
      }
    });
  }
}

function matches<T extends object>(row: T, key: Partial<T>): boolean {
  return Object.entries(key).every(([k, v]) => v === undefined || row[k as keyof T] === v);
}

class MemoryPeeringStore implements PeeringStore {
  constructor(private readonly db: MemoryDb) {}
  private get t() {
    return this.db.t;
  }

  async listPeers(filter: { dialect?: Peer['dialect'] } = {}, tx?: StoreTx) {
    this.db.check(tx);
    return [...this.t.peers.values()]
      .filter((p) => matches(p, filter))
      .sort(byCreated((p) => p.id))
      .map(copy);
  }
  async listPeerSummaries() {
    return [...this.t.peers.values()].sort(byCreated((p) => p.id)).map((p) => peerSummary(copy(p)));
  }
  async listPeerMapRows() {
    return [...this.t.peers.values()].map(
      ({ partnerServerName, partnerUrl, state, applyState, reachability }) => ({
        partnerServerName,
        partnerUrl,
        state,
        applyState,
        reachability,
      }),
    );
  }
  async findPeer(key: Partial<Peer>, tx?: StoreTx) {
    this.db.check(tx);
    const found = [...this.t.peers.values()].find((p) => matches(p, key));
    return found ? copy(found) : null;
  }
  async peerPartnerOfRequest(requestId: string, tx?: StoreTx) {
    this.db.check(tx);
    const found = [...this.t.peers.values()].find((p) => p.requestId === requestId);
    return found ? found.partnerServerName : undefined;
  }
  async peerEpochsOfRequest(requestId: string) {
    const found = [...this.t.peers.values()].find((p) => p.requestId === requestId);
    if (!found) return null;
    const { partnerServerName, dialect, secretEpochSeconds, secretEpochOffset, secretShiftAt } = found;
    return { partnerServerName, dialect, secretEpochSeconds, secretEpochOffset, secretShiftAt };
  }
  async findPeerHolding(p: { name: string; prefix: string }, tx?: StoreTx) {
    this.db.check(tx);
    const found = [...this.t.peers.values()].find((r) => r.name === p.name || r.prefix === p.prefix);
    return found ? copy(found) : null;
  }
  async insertPeer(peer: Peer, tx?: StoreTx) {
    this.db.check(tx);
    for (const r of this.t.peers.values()) {
      if (r.id === peer.id || r.name === peer.name || r.prefix === peer.prefix)
        throw new DuplicateKeyError(`duplicate peer ${peer.name}`);
    }
    this.t.peers.set(peer.id, copy(peer));
  }
  async updatePeer(id: string, patch: Partial<Peer>, tx?: StoreTx) {
    this.db.check(tx);
    const row = this.t.peers.get(id);
    if (!row) return false;
    Object.assign(row, copy(patch));
    return true;
  }
  async updatePeerIfShiftAt(id: string, shiftAt: number | null, patch: Partial<Peer>, tx?: StoreTx) {
    this.db.check(tx);
    const row = this.t.peers.get(id);
    if (!row || row.secretShiftAt !== shiftAt) return false;
    Object.assign(row, copy(patch));
    return true;
  }
  async deletePeer(id: string, tx?: StoreTx) {
    this.db.check(tx);
    return this.t.peers.delete(id);
  }

  async listOutgoing(
    filter: { state?: OutgoingRequest['state']; dialect?: OutgoingRequest['dialect'] } = {},
    tx?: StoreTx,
  ) {
    this.db.check(tx);
    return [...this.t.outgoing.values()]
      .filter((r) => matches(r, filter))
      .sort(byCreated((r) => r.id))
      .map(copy);
  }
  async findOutgoing(id: string, tx?: StoreTx) {
    this.db.check(tx);
    const r = this.t.outgoing.get(id);
    return r ? copy(r) : null;
  }
  async insertOutgoing(row: OutgoingRequest, tx?: StoreTx) {
    this.db.check(tx);
    if (this.t.outgoing.has(row.id)) throw new DuplicateKeyError(`duplicate request ${row.id}`);
    this.t.outgoing.set(row.id, copy(row));
  }
  async updateOutgoing(
    id: string,
    patch: Partial<OutgoingRequest>,
    opts: { onlyIfPending?: boolean } = {},
    tx?: StoreTx,
  ) {
    this.db.check(tx);
    const row = this.t.outgoing.get(id);
    if (!row || (opts.onlyIfPending && row.state !== 'pending')) return false;
    Object.assign(row, copy(patch));
    return true;
  }
  async deleteOutgoing(id: string, opts: { onlyIfPending?: boolean } = {}, tx?: StoreTx) {
    this.db.check(tx);
    const row = this.t.outgoing.get(id);
    if (!row || (opts.onlyIfPending && row.state !== 'pending')) return false;
    return this.t.outgoing.delete(id);
  }

  async listIncoming(
    filter: {
      state?: IncomingRequest['state'];
      partnerServerName?: string;
      createdAfter?: number;
      limit?: number;
    } = {},
    tx?: StoreTx,
  ) {
    this.db.check(tx);
    const rows = [...this.t.incoming.values()]
      .filter(
        (r) =>
          matches(r, { state: filter.state, partnerServerName: filter.partnerServerName }) &&
          (filter.createdAfter === undefined || r.createdAt > filter.createdAfter),
      )
      .sort(byCreated((r) => r.id))
      .map(copy);
    return filter.limit === undefined ? rows : rows.slice(0, filter.limit);
  }
  async findIncoming(key: { id: string } | { requestId: string }, tx?: StoreTx) {
    this.db.check(tx);
    const found = [...this.t.incoming.values()].find((r) => matches<IncomingRequest>(r, key));
    return found ? copy(found) : null;
  }
  /** One process: its transactions already run one at a time. */
  async holdOrigin(_serverName: string, _now: number, tx: StoreTx) {
    this.db.check(tx);
  }
  async insertIncoming(row: IncomingRequest, tx?: StoreTx) {
    this.db.check(tx);
    for (const r of this.t.incoming.values()) {
      if (r.id === row.id || r.requestId === row.requestId)
        throw new DuplicateKeyError(`duplicate incoming request ${row.requestId}`);
    }
    this.t.incoming.set(row.id, copy(row));
  }
  async updateIncoming(id: string, patch: Partial<IncomingRequest>, tx?: StoreTx) {
    this.db.check(tx);
    const row = this.t.incoming.get(id);
    if (!row) return false;
    Object.assign(row, copy(patch));
    return true;
  }
  async deleteIncoming(id: string, opts: { onlyIfPending?: boolean } = {}, tx?: StoreTx) {
    this.db.check(tx);
    const row = this.t.incoming.get(id);
    if (!row || (opts.onlyIfPending && row.state !== 'pending')) return false;
    return this.t.incoming.delete(id);
  }

  async refersToPartner(serverName: string, tx?: StoreTx) {
    this.db.check(tx);
    const name = serverName.toLowerCase();
    return [this.t.peers, this.t.outgoing, this.t.incoming].some((table) =>
      [...table.values()].some((r) => r.partnerServerName === name),
    );
  }
}

class MemoryOutboxStore implements OutboxStore {
  constructor(private readonly db: MemoryDb) {}
  private rows() {
    return [...this.db.t.outbox.values()];
  }
  async insert(item: OutboxItem, tx?: StoreTx) {
    this.db.check(tx);
    if (this.db.t.outbox.has(item.id)) throw new DuplicateKeyError(`duplicate outbox item ${item.id}`);
    this.db.t.outbox.set(item.id, copy(item));
  }
  async listPending(filter: { requestIds?: string[] } = {}) {
    return this.rows()
      .filter(
        (r) =>
          r.state === 'pending' &&
          (!filter.requestIds || (r.requestId !== null && filter.requestIds.includes(r.requestId))),
      )
      .sort(byCreated((r) => r.id))
      .map(copy);
  }
  async listFailed(limit: number) {
    return this.rows()
      .filter((r) => r.state === 'failed')
      .sort((x, y) => y.updatedAt - x.updatedAt || cmp(x.id, y.id))
      .slice(0, limit)
      .map(copy);
  }
  async countPending() {
    return this.rows().filter((r) => r.state === 'pending').length;
  }
  async latest(requestId: string, kind: OutboxItem['kind']) {
    const found = this.rows()
      .filter((r) => r.requestId === requestId && r.kind === kind)
      .sort((x, y) => y.createdAt - x.createdAt || cmp(y.id, x.id))[0];
    return found ? copy(found) : null;
  }
  async get(id: string) {
    const r = this.db.t.outbox.get(id);
    return r ? copy(r) : null;
  }
  async update(id: string, patch: Partial<OutboxItem>, tx?: StoreTx) {
    this.db.check(tx);
    const row = this.db.t.outbox.get(id);
    if (row) Object.assign(row, copy(patch));
  }
  async updatePending(
    patch: Partial<OutboxItem>,
    filter: { requestId?: string; id?: string } = {},
    tx?: StoreTx,
  ) {
    this.db.check(tx);
    let n = 0;
    for (const r of this.db.t.outbox.values()) {
      if (
        r.state !== 'pending' ||
        (filter.requestId !== undefined && r.requestId !== filter.requestId) ||
        (filter.id !== undefined && r.id !== filter.id)
      )
        continue;
      Object.assign(r, copy(patch));
      n++;
    }
    return n;
  }
}

class MemoryPartnerStore implements PartnerStore {
  constructor(private readonly db: MemoryDb) {}
  async get(serverName: string, tx?: StoreTx) {
    this.db.check(tx);
    const p = this.db.t.partners.get(serverName.toLowerCase());
    return p ? copy(p) : null;
  }
  async signingKeysOf(serverName: string, tx?: StoreTx) {
    const p = await this.get(serverName, tx);
    return p ? { signingKeys: p.signingKeys, heldKeys: p.heldKeys, fetchFailures: p.fetchFailures } : null;
  }
  async allSigningKeys() {
    return new Map([...this.db.t.partners.values()].map((p) => [p.serverName, copy(p).signingKeys]));
  }
  async insert(partner: Partner, tx?: StoreTx) {
    this.db.check(tx);
    const key = partner.serverName.toLowerCase();
    if (this.db.t.partners.has(key)) throw new DuplicateKeyError(`duplicate partner ${key}`);
    this.db.t.partners.set(key, { ...copy(partner), serverName: key });
  }
  async update(serverName: string, patch: Partial<Partner>, tx?: StoreTx) {
    this.db.check(tx);
    const row = this.db.t.partners.get(serverName.toLowerCase());
    if (row) Object.assign(row, copy(patch));
  }
  async delete(serverName: string, tx?: StoreTx) {
    this.db.check(tx);
    this.db.t.partners.delete(serverName.toLowerCase());
  }
}

class MemoryLocalKeyStore implements LocalKeyStore {
  constructor(private readonly db: MemoryDb) {}
  async list(
    filter: { alg?: LocalKey['alg']; status?: LocalKey['status'][]; expiresAtOrBefore?: number },
    order: 'asc' | 'desc',
    tx?: StoreTx,
  ) {
    this.db.check(tx);
    const dir = order === 'asc' ? 1 : -1;
    return [...this.db.t.localKeys.values()]
      .filter(
        (k) =>
          (!filter.alg || k.alg === filter.alg) &&
          (!filter.status || filter.status.includes(k.status)) &&
          (filter.expiresAtOrBefore === undefined || k.expiresAt <= filter.expiresAtOrBefore),
      )
      .sort((x, y) => dir * (x.notBefore - y.notBefore || cmp(x.kid, y.kid)))
      .map(copy);
  }
  async get(kid: string, tx?: StoreTx) {
    this.db.check(tx);
    const k = this.db.t.localKeys.get(kid);
    return k ? copy(k) : null;
  }
  async insert(row: LocalKey, tx?: StoreTx) {
    this.db.check(tx);
    if (this.db.t.localKeys.has(row.kid)) throw new DuplicateKeyError(`duplicate key ${row.kid}`);
    this.db.t.localKeys.set(row.kid, copy(row));
  }
  async update(
    kid: string,
    patch: Partial<LocalKey>,
    opts: { onlyIfStatus?: LocalKey['status'] } = {},
    tx?: StoreTx,
  ) {
    this.db.check(tx);
    const row = this.db.t.localKeys.get(kid);
    if (!row || (opts.onlyIfStatus && row.status !== opts.onlyIfStatus)) return false;
    Object.assign(row, copy(patch));
    return true;
  }
}

class MemoryNonceStore implements NonceStore {
  constructor(
    private readonly db: MemoryDb,
    private readonly clock: Clock,
  ) {}
  reserve(keyId: string, nonce: string, expiresAt: number) {
    return this.db.exclusive(undefined, async () => this.reserveNow(keyId, nonce, expiresAt));
  }
  private reserveNow(keyId: string, nonce: string, expiresAt: number) {
    const key = JSON.stringify([keyId, nonce]);
    const held = this.db.t.nonces.get(key);
    if (held !== undefined && held > this.clock.now()) return false;
    this.db.t.nonces.set(key, expiresAt);
    return true;
  }
  purgeExpired() {
    return this.db.exclusive(undefined, async () => this.purgeNow());
  }
  private purgeNow() {
    let n = 0;
    for (const [k, exp] of this.db.t.nonces) {
      if (exp <= this.clock.now()) {
        this.db.t.nonces.delete(k);
        n++;
      }
    }
    return n;
  }
}

class MemoryPartnerHealthStore implements PartnerHealthStore {
  constructor(private readonly db: MemoryDb) {}
  async get(serverName: string) {
    const r = this.db.t.partnerHealth.get(serverName.toLowerCase());
    return r ? copy(r) : null;
  }
  async list() {
    return [...this.db.t.partnerHealth.values()].sort((x, y) => cmp(x.serverName, y.serverName)).map(copy);
  }
  async put(row: PartnerHealth) {
    const key = row.serverName.toLowerCase();
    await this.db.exclusive(undefined, async () => {
      this.db.t.partnerHealth.set(key, { ...copy(row), serverName: key });
    });
  }
}

class MemorySettingStore implements SettingStore {
  constructor(private readonly db: MemoryDb) {}
  async get(key: string) {
    const v = this.db.t.settings.get(key);
    return v === undefined ? null : copy(v);
  }
  async put(key: string, value: unknown, _updatedAt: number, tx?: StoreTx) {
    await this.db.exclusive(tx, async () => {
      this.db.t.settings.set(key, copy(value));
    });
  }
}

/** Every store of the protocol core on one fresh in-memory database. */
export function memoryFederationStores(clock: Clock, secret = 'memory-store-key-encryption-secret') {
  const db = new MemoryDb();
  const stores: FederationStores = {
    transactions: new MemoryTransactions(db),
    peerings: new MemoryPeeringStore(db),
    outbox: new MemoryOutboxStore(db),
    nonces: new MemoryNonceStore(db, clock),
    partners: new MemoryPartnerStore(db),
    partnerHealth: new MemoryPartnerHealthStore(db),
    localKeys: new MemoryLocalKeyStore(db),
    settings: new MemorySettingStore(db),
    keyEncryptionSecret: () => secret,
  };
  return Object.assign(stores, {
    /** Every outbox item, oldest first, any state (what a test inspects after a delivery). */
    allOutboxItems: (): OutboxItem[] => [...db.t.outbox.values()].sort(byCreated((r) => r.id)).map(copy),
  });
}
