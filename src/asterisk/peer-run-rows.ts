import type { DataSource } from 'typeorm';
import { type Peer, PeerEntity } from '../store/entities';
import { openSealed } from '../store/secrets-at-rest';

/** The columns a reconcile run needs: what is rendered, and the apply state it records. */
export const PEER_RUN_COLUMNS = [
  'id',
  'name',
  'prefix',
  'partnerIaxHost',
  'partnerIaxPort',
  'partnerExtensionLength',
  'codec',
  'secret',
  'applyState',
  'applyError',
  'appliedAt',
] as const;
export type PeerRunRow = Pick<Peer, (typeof PEER_RUN_COLUMNS)[number]>;

/** What a reconcile run writes on a peer row. */
export type ApplyPatch = Pick<Peer, 'applyState' | 'applyError'> & { appliedAt?: number };

/**
 * The plain columns the Asterisk layer writes on peer rows: apply states
 * (reconciler) and the link's state (monitor). Not updatedAt: that is the
 * protocol's time of its last change to the peering; each column here has
 * its own time (appliedAt, lastSeen, linkErrorAt). docs/architecture.md lists
 * who writes which column.
 */
export type PeerPatch = Partial<
  Pick<
    Peer,
    | 'applyState'
    | 'applyError'
    | 'appliedAt'
    | 'reachability'
    | 'latencyMs'
    | 'linkError'
    | 'linkErrorAt'
    | 'lastSeen'
  >
>;

/**
 * Ids per UPDATE ... WHERE id IN (...): one statement for a full run over
 * 1,000 peers, well under the bound-parameter limits (SQLite 32,766, MySQL 65,535).
 */
export const UPDATE_CHUNK = 1000;

/**
 * The Asterisk layer's bulk statements on the peers table, as plain SQL built
 * once from the entity metadata (table and column names quoted by the
 * driver). A reconcile run reads every peer and writes apply states in bulk,
 * the monitor writes reachability; both are rare, so their code never gets
 * hot, and through the query builder and entity mapper the same work cost
 * several times the statements themselves on 1,000 rows. Both drivers in use
 * (better-sqlite3, mysql2) take `?` placeholders.
 */
export class PeerRunRows {
  private readonly selectSql: string;
  private readonly column: (property: string) => string;
  private readonly table: string;
  /** The IAX2 secret is sealed at rest: this plain-SQL read opens it through the store, like every ORM read. */
  private readonly openSecret: (stored: string) => string;

  constructor(private readonly db: DataSource) {
    this.openSecret = openSealed(db, PeerEntity, 'secret');
    const meta = db.getMetadata(PeerEntity);
    const esc = (name: string) => db.driver.escape(name);
    this.column = (property) => {
      const c = meta.findColumnWithPropertyName(property);
      if (!c) throw new Error(`the peers table has no column for ${property}`);
      return esc(c.databaseName);
    };
    this.table = esc(meta.tableName);
    const list = PEER_RUN_COLUMNS.map((p) => `${this.column(p)} AS ${esc(p)}`).join(', ');
    this.selectSql = `SELECT ${list} FROM ${this.table}`;
  }

  /** Every peer's run columns. Numbers are normalised: mysql2 returns bigint columns as strings. */
  async readAll(): Promise<PeerRunRow[]> {
    const raw = (await this.db.query(this.selectSql)) as Record<string, unknown>[];
    return raw.map((r) => ({
      id: String(r.id),
      name: String(r.name),
      prefix: String(r.prefix),
      partnerIaxHost: String(r.partnerIaxHost),
      partnerIaxPort: Number(r.partnerIaxPort),
      partnerExtensionLength: Number(r.partnerExtensionLength),
      codec: String(r.codec),
      secret: this.openSecret(String(r.secret)),
      applyState: r.applyState as Peer['applyState'],
      applyError: r.applyError === null || r.applyError === undefined ? null : String(r.applyError),
      appliedAt: r.appliedAt === null || r.appliedAt === undefined ? null : Number(r.appliedAt),
    }));
  }

  /** Writes one patch on the given peers, in statements of UPDATE_CHUNK ids. */
  async patch(ids: string[], patch: PeerPatch): Promise<void> {
    const sets = Object.entries(patch).filter(([, v]) => v !== undefined);
    if (ids.length === 0 || sets.length === 0) return;
    const setSql = sets.map(([k]) => `${this.column(k)} = ?`).join(', ');
    const values = sets.map(([, v]) => v);
    for (let i = 0; i < ids.length; i += UPDATE_CHUNK) {
      const chunk = ids.slice(i, i + UPDATE_CHUNK);
      const sql = `UPDATE ${this.table} SET ${setSql} WHERE ${this.column('id')} IN (${chunk.map(() => '?').join(', ')})`;
      await this.db.query(sql, [...values, ...chunk]);
    }
  }
}

/**
 * Patches for many peers, grouped by identical content: after a reconcile run
 * nearly all peers get the same one, and many trunks change state together
 * (an iax2 reload re-probes all of them), so a few UPDATE ... IN statements
 * replace one per peer. No transaction: on SQLite the single TypeORM
 * connection is shared with other layers' transactions, and each row's patch
 * stands on its own.
 */
export class PeerPatchBatch {
  private readonly groups = new Map<string, { patch: PeerPatch; ids: string[] }>();
  /** The key of a patch object already seen: callers hand the same object for many peers. */
  private readonly keys = new WeakMap<PeerPatch, string>();

  add(id: string, patch: PeerPatch): void {
    let key = this.keys.get(patch);
    if (key === undefined) {
      key = JSON.stringify(patch);
      this.keys.set(patch, key);
    }
    let group = this.groups.get(key);
    if (!group) this.groups.set(key, (group = { patch, ids: [] }));
    group.ids.push(id);
  }

  async flush(rows: PeerRunRows): Promise<void> {
    for (const { patch, ids } of this.groups.values()) await rows.patch(ids, patch);
    this.groups.clear();
  }
}
