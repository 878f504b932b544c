import type { DataSource } from 'typeorm';
import type {
  AsteriskPeerRows,
  AsteriskRenderRows,
  LinkRow,
  PeerPatch,
  PeerRenderRow,
  PeerRunRow,
  TestCallPeer,
} from '../core/asterisk-peers';
import { type Peer, PeerEntity, type TestCallRecord } from './entities';
import { openSealed } from './secrets-at-rest';
import { HotStatement } from './typeorm/prepared-sql';
import { queuedWrite } from './write-queue';

/** null for a NULL column (null or undefined from the driver), else the value converted. */
const orNull = <T>(v: unknown, convert: (v: unknown) => T): T | null =>
  v === null || v === undefined ? null : convert(v);

/** The columns that are rendered, in this order: rendered() reads a row's values by their place. */
const PEER_RENDER_COLUMNS = [
  'id',
  'name',
  'prefix',
  'partnerIaxHost',
  'partnerIaxPort',
  'partnerExtensionLength',
  'codec',
  'secret',
  'secretEpochSeconds',
  'previousSecret',
  'secretSwitchAt',
  'secretEpochOffset',
  'secretShiftAt',
  'nextSecret',
  'nextSecretFrom',
] as const satisfies readonly (keyof PeerRenderRow)[];

/** The columns a reconcile run needs: what is rendered, and the apply state it records. */
const PEER_RUN_COLUMNS = [
  ...PEER_RENDER_COLUMNS,
  'applyState',
  'applyError',
  'appliedAt',
] as const satisfies readonly (keyof PeerRunRow)[];

/** The columns a monitor poll reads. */
const LINK_COLUMNS = [
  'id',
  'name',
  'reachability',
  'latencyMs',
  'linkError',
  'lastSeen',
] as const satisfies readonly (keyof LinkRow)[];

/**
 * Ids per UPDATE ... WHERE id IN (...): one statement for a full run over
 * 1,000 peers, well under the bound-parameter limits (SQLite 32,766, MySQL 65,535).
 */
export const UPDATE_CHUNK = 1000;

/**
 * The peers as the Asterisk layer sees them (AsteriskPeerRows, src/core),
 * handed to it by the composition: it never opens the peers table itself.
 * The bulk statements are plain SQL built once from the entity metadata (table and column names quoted by the
 * driver). A reconcile run reads every peer and writes apply states in bulk,
 * the monitor writes reachability; both are rare, so their code never gets
 * hot, and through the query builder and entity mapper the same work cost
 * several times the statements themselves on 1,000 rows. Both drivers in use
 * (better-sqlite3, mysql2) take `?` placeholders.
 */
export class PeerRunRows implements AsteriskPeerRows, AsteriskRenderRows {
  /**
   * The run's SELECT, each row an array (HotStatement.arrays): 1,000 rows of
   * 18 columns took 5.4 ms as objects and 2.8 ms as arrays on SQLite, and a
   * run builds no keyed object per row only to read it once.
   */
  private readonly selectAll: HotStatement;
  private readonly renderSql: string;
  private readonly linksSql: string;
  private readonly column: (property: string) => string;
  private readonly table: string;
  /** The IAX2 secret is sealed at rest: this plain-SQL read opens it through the store, like every ORM read. */
  private readonly openSecret: (stored: string) => string;
  /** A v1 → v2 upgrade's previous (v1) secret, sealed the same way. */
  private readonly openPreviousSecret: (stored: string) => string;
  /** The root for a coming boundary after an agreement key rotation, sealed the same way. */
  private readonly openNextSecret: (stored: string) => string;

  constructor(private readonly db: DataSource) {
    this.openSecret = openSealed(db, PeerEntity, 'secret');
    this.openPreviousSecret = openSealed(db, PeerEntity, 'previousSecret');
    this.openNextSecret = openSealed(db, PeerEntity, 'nextSecret');
    const meta = db.getMetadata(PeerEntity);
    const esc = (name: string) => db.driver.escape(name);
    this.column = (property) => {
      const c = meta.findColumnWithPropertyName(property);
      if (!c) throw new Error(`the peers table has no column for ${property}`);
      return esc(c.databaseName);
    };
    this.table = esc(meta.tableName);
    const list = (columns: readonly string[]) =>
      columns.map((p) => `${this.column(p)} AS ${esc(p)}`).join(', ');
    this.selectAll = new HotStatement(db, `SELECT ${list(PEER_RUN_COLUMNS)} FROM ${this.table}`);
    this.renderSql = `SELECT ${list(PEER_RENDER_COLUMNS)} FROM ${this.table}`;
    this.linksSql = `SELECT ${list(LINK_COLUMNS)} FROM ${this.table}`;
  }

  /** Every peer's run columns. Numbers are normalised: mysql2 returns bigint columns as strings. */
  async readAll(): Promise<PeerRunRow[]> {
    const raw = await this.selectAll.arrays([], PEER_RUN_COLUMNS);
    const out = new Array<PeerRunRow>(raw.length);
    for (let i = 0; i < raw.length; i++) out[i] = this.rendered(raw[i], true);
    return out;
  }

  /** Every peer's rendered columns, no apply state. */
  async readRendered(): Promise<PeerRenderRow[]> {
    const rows = (await this.db.query(this.renderSql)) as Record<string, unknown>[];
    return rows.map((r) =>
      this.rendered(
        PEER_RENDER_COLUMNS.map((c) => r[c]),
        false,
      ),
    );
  }

  /**
   * One row's rendered columns (values in PEER_RUN_COLUMNS order), with its
   * apply state when `run`. One object literal per row: a spread of the
   * rendered columns into a second object cost a reconcile over 1,000 peers
   * about a fifth of its read (the copy and its garbage).
   */
  private rendered(r: unknown[], run: true): PeerRunRow;
  private rendered(r: unknown[], run: false): PeerRenderRow;
  private rendered(r: unknown[], run: boolean): PeerRenderRow | PeerRunRow {
    const row: PeerRenderRow = {
      id: String(r[0]),
      name: String(r[1]),
      prefix: String(r[2]),
      partnerIaxHost: String(r[3]),
      partnerIaxPort: Number(r[4]),
      partnerExtensionLength: Number(r[5]),
      codec: String(r[6]),
      secret: this.openSecret(String(r[7])),
      secretEpochSeconds: orNull(r[8], Number),
      previousSecret: orNull(r[9], (v) => this.openPreviousSecret(String(v))),
      secretSwitchAt: orNull(r[10], Number),
      secretEpochOffset: Number(r[11] ?? 0),
      secretShiftAt: orNull(r[12], Number),
      nextSecret: orNull(r[13], (v) => this.openNextSecret(String(v))),
      nextSecretFrom: orNull(r[14], Number),
    };
    if (!run) return row;
    // The three set on the same object, not through a second one (Object.assign's argument).
    const full = row as PeerRunRow;
    full.applyState = r[15] as Peer['applyState'];
    full.applyError = orNull(r[16], String);
    full.appliedAt = orNull(r[17], Number);
    return full;
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
      await queuedWrite(this.db, () => this.db.query(sql, [...values, ...chunk]));
    }
  }

  /**
   * Every peer's link columns, for a monitor poll (every few seconds, and
   * after each PeerStatus event): plain SQL like readAll, where TypeORM's
   * entity mapping of 1,000 rows took several times the statement.
   */
  async readLinks(): Promise<LinkRow[]> {
    const raw = (await this.db.query(this.linksSql)) as Record<string, unknown>[];
    return raw.map((r) => ({
      id: String(r.id),
      name: String(r.name),
      reachability: r.reachability as Peer['reachability'],
      latencyMs: orNull(r.latencyMs, Number),
      linkError: orNull(r.linkError, String),
      lastSeen: orNull(r.lastSeen, Number),
    }));
  }

  /** The peer a test call goes through, by name. */
  findForTestCall(name: string): Promise<TestCallPeer | null> {
    return this.db
      .getRepository<Peer>(PeerEntity)
      .findOne({ where: { name }, select: { id: true, name: true, applyState: true, applyError: true } });
  }

  /** Keeps a test call's result on the peer (last_test_call: the test caller is its one writer). */
  async recordTestCall(id: string, record: TestCallRecord): Promise<void> {
    await queuedWrite(this.db, () =>
      this.db.getRepository<Peer>(PeerEntity).update({ id }, { lastTestCall: record }),
    );
  }
}
