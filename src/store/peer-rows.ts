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
import { queuedWrite } from './write-queue';

/** null for a NULL column (null or undefined from the driver), else the value converted. */
const orNull = <T>(v: unknown, convert: (v: unknown) => T): T | null =>
  v === null || v === undefined ? null : convert(v);

/** The columns that are rendered. */
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
const LINK_COLUMNS = {
  id: true,
  name: true,
  reachability: true,
  latencyMs: true,
  linkError: true,
  lastSeen: true,
} as const;

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
  private readonly selectSql: string;
  private readonly renderSql: string;
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
    this.selectSql = `SELECT ${list(PEER_RUN_COLUMNS)} FROM ${this.table}`;
    this.renderSql = `SELECT ${list(PEER_RENDER_COLUMNS)} FROM ${this.table}`;
  }

  /** Every peer's run columns. Numbers are normalised: mysql2 returns bigint columns as strings. */
  async readAll(): Promise<PeerRunRow[]> {
    const raw = (await this.db.query(this.selectSql)) as Record<string, unknown>[];
    return raw.map((r) => ({
      ...this.rendered(r),
      applyState: r.applyState as Peer['applyState'],
      applyError: orNull(r.applyError, String),
      appliedAt: orNull(r.appliedAt, Number),
    }));
  }

  /** Every peer's rendered columns, no apply state. */
  async readRendered(): Promise<PeerRenderRow[]> {
    const raw = (await this.db.query(this.renderSql)) as Record<string, unknown>[];
    return raw.map((r) => this.rendered(r));
  }

  private rendered(r: Record<string, unknown>): PeerRenderRow {
    return {
      id: String(r.id),
      name: String(r.name),
      prefix: String(r.prefix),
      partnerIaxHost: String(r.partnerIaxHost),
      partnerIaxPort: Number(r.partnerIaxPort),
      partnerExtensionLength: Number(r.partnerExtensionLength),
      codec: String(r.codec),
      secret: this.openSecret(String(r.secret)),
      secretEpochSeconds: orNull(r.secretEpochSeconds, Number),
      previousSecret: orNull(r.previousSecret, (v) => this.openPreviousSecret(String(v))),
      secretSwitchAt: orNull(r.secretSwitchAt, Number),
      secretEpochOffset: Number(r.secretEpochOffset ?? 0),
      secretShiftAt: orNull(r.secretShiftAt, Number),
      nextSecret: orNull(r.nextSecret, (v) => this.openNextSecret(String(v))),
      nextSecretFrom: orNull(r.nextSecretFrom, Number),
    };
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

  /** Every peer's link columns, for a monitor poll. */
  readLinks(): Promise<LinkRow[]> {
    return this.db.getRepository<Peer>(PeerEntity).find({ select: LINK_COLUMNS });
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
