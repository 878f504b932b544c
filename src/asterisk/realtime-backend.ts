import type { Pool } from 'mysql2/promise';
import { createSideDatabasePool } from '../store/mysql-pool';
import type { DataSource } from 'typeorm';
import type { Config } from '../config/schema';
import type { Clock } from '../core/clock';
import { AppError, errorMessage } from '../core/errors';
import type { Logger } from '../logging/logger';
import { type AsteriskRealtimeRow, AsteriskRealtimeRowEntity } from '../store/entities';
import type { AmiLink } from './asterisk-links';
import type { DesiredState, DialplanStep, PeerObjects } from './desired-state';
import type { ApplyReport, StateBackend, VerifyReport } from './state-backend';
import { queuedWrite } from '../store/write-queue';

const FRIENDS = 'iaxfriends';
const EXTENSIONS = 'extensions';
/** Columns Asterisk writes back for registrations (rtupdate): never ours to set or compare. */
const ASTERISK_OWNED_COLUMNS = new Set(['ipaddr', 'regseconds']);

/** Options not every peer has; every realtime schema we write to needs their columns. */
const OPTIONAL_OPTIONS = ['deny', 'permit'];

type Row = Record<string, string | number | null>;

/** What Asterisk's tables should be in to hold any name: what we ask the admin to convert them to. */
const WIDE_CHARSET = 'utf8mb4';
const WIDE_COLLATION = 'utf8mb4_unicode_ci';
/** Every character set MariaDB offers for text columns holds ASCII; only other text needs a check. */
const NON_ASCII = /[^\p{ASCII}]/u;
/** A character set name as information_schema gives it; anything else is never put into SQL. */
const CHARSET_NAME = /^[A-Za-z0-9_]{1,32}$/;

/** One value we would write: its table, its column (lower case) and the text. */
interface Cell {
  table: string;
  column: string;
  value: string;
}

/** Every text value a peer's rows hold (columns Asterisk owns are never written). */
function cellsOf(p: PeerObjects): Cell[] {
  const cells: Cell[] = [{ table: FRIENDS, column: 'name', value: p.friend.name }];
  for (const [k, v] of p.friend.options)
    if (!ASTERISK_OWNED_COLUMNS.has(k)) cells.push({ table: FRIENDS, column: k, value: v });
  for (const s of p.steps) {
    cells.push(
      { table: EXTENSIONS, column: 'context', value: s.context },
      { table: EXTENSIONS, column: 'exten', value: s.exten },
      { table: EXTENSIONS, column: 'app', value: s.app },
      { table: EXTENSIONS, column: 'appdata', value: s.appData },
    );
  }
  return cells;
}

/** A value under a character set, as one key (validated values hold no NUL). */
const fitKey = (charset: string, value: string): string => `${charset}\u0000${value}`;

const quoteName = (name: string): string => `\`${name.replace(/`/g, '``')}\``;

const extKey = (s: { context: string; exten: string; priority: number }): string =>
  `${s.context}|${s.exten}|${s.priority}`;

const norm = (v: unknown): string => (v === null || v === undefined ? '' : String(v));

/**
 * Realtime backend: rows in Asterisk's own `iaxfriends` and `extensions`
 * tables, over a separate connection to Asterisk's database. Only rows the
 * sidecar created (listed in our asterisk_realtime_rows table) are changed or
 * deleted; a row with a wanted name that we did not create is reported as a
 * conflict and left alone. Realtime peers are loaded only when a call needs
 * them and are never qualified: this backend cannot monitor reachability.
 */
/** Peers left out because the tables cannot hold one of their values (with why), and owned names no row can hold. */
interface Unstorable {
  peers: Map<string, string>;
  friendNames: Set<string>;
}

export class RealtimeBackend implements StateBackend {
  readonly kind = 'realtime' as const;
  readonly monitorable = false;
  private pool: Pool | null = null;
  private friendColumns: string[] | null = null;
  private readonly conflicts = new Map<string, string>();
  private readonly removedFriends = new Set<string>();
  /** The character-set refusals last logged, so a refusal is logged when it starts or changes, not every run. */
  private charsetRefusals = new Map<string, string>();

  constructor(
    private readonly cfg: Config['asterisk']['realtimeDb'],
    private readonly db: DataSource,
    private readonly ami: AmiLink,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  private getPool(): Pool {
    if (!this.pool) {
      this.pool = createSideDatabasePool(this.cfg, 4);
    }
    return this.pool;
  }

  private async query<T>(sql: string, params: unknown[] = []): Promise<T> {
    try {
      const [rows] = await this.getPool().query(sql, params);
      return rows as T;
    } catch (e) {
      throw new AppError('ASTERISK_REALTIME_DB', `Asterisk realtime database: ${errorMessage(e)}`, {
        cause: e,
      });
    }
  }

  /** Checks once that iaxfriends has a column for every option we set, in an order that keeps ACLs right. */
  private async columns(needed: string[]): Promise<string[]> {
    if (!this.friendColumns) {
      const rows = await this.query<{ name: string }[]>(
        'SELECT COLUMN_NAME AS name FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION',
        [this.cfg.database, FRIENDS],
      );
      this.friendColumns = rows.map((r) => r.name.toLowerCase());
    }
    const cols = this.friendColumns;
    const missing = needed.filter((c) => !cols.includes(c));
    if (missing.length > 0) {
      this.friendColumns = null;
      throw new AppError(
        'ASTERISK_REALTIME_SCHEMA',
        `iaxfriends lacks the columns ${missing.join(', ')}; add them as in asterisk-conf/realtime-iaxfriends.sql`,
      );
    }
    // chan_iax2 applies options in column order and the last matching ACL rule wins.
    if (needed.includes('permit') && cols.indexOf('deny') > cols.indexOf('permit')) {
      throw new AppError(
        'ASTERISK_REALTIME_SCHEMA',
        'iaxfriends has its permit column before deny, so the ACL would deny the partner; see asterisk-conf/realtime-iaxfriends.sql',
      );
    }
    return cols;
  }

  private async owned(table: string): Promise<Set<string>> {
    const rows = await this.db.getRepository(AsteriskRealtimeRowEntity).find({ where: { tableName: table } });
    return new Set(rows.map((r) => r.rowKey));
  }

  private async own(table: string, key: string): Promise<void> {
    const repo = this.db.getRepository(AsteriskRealtimeRowEntity);
    const row: AsteriskRealtimeRow = { tableName: table, rowKey: key, createdAt: this.clock.now() };
    await queuedWrite(this.db, () => repo.upsert(row, ['tableName', 'rowKey']));
  }

  private async disown(table: string, key: string): Promise<void> {
    await queuedWrite(this.db, () =>
      this.db.getRepository(AsteriskRealtimeRowEntity).delete({ tableName: table, rowKey: key }),
    );
  }

  async apply(state: DesiredState, _opts: { force: boolean }): Promise<ApplyReport> {
    const report: ApplyReport = { changes: [], reloaded: [] };
    this.conflicts.clear();
    const optionKeys = [...new Set(state.peers.flatMap((p) => p.friend.options.map(([k]) => k)))];
    await this.columns(optionKeys.length > 0 ? [...new Set([...optionKeys, ...OPTIONAL_OPTIONS])] : ['name']);
    const pruned = new Set<string>();

    // A peer with a value the tables cannot hold is left out on its own, before any query names it:
    // MariaDB refuses a whole statement ("Illegal mix of collations") that compares a latin1 column
    // with one such value, so it would stall every peer. What a left-out peer had written is removed,
    // as for any peer no longer wanted.
    const ownedFriends = await this.owned(FRIENDS);
    const unstorable = await this.unstorable(state.peers, ownedFriends);
    const peers = state.peers.filter((p) => !unstorable.peers.has(p.peer.name));
    for (const [name, error] of unstorable.peers) this.conflicts.set(name, error);
    const sharedSteps = peers.length > 0 ? state.sharedSteps : [];

    await this.applyFriends(peers, ownedFriends, unstorable, report, pruned);
    await this.applyDialplan(peers, sharedSteps, report);
    await this.pruneCached(pruned);
    if (report.changes.length > 0) {
      this.logger.info('realtime rows updated', { component: 'asterisk', changes: report.changes.length });
    }
    return report;
  }

  /** The IAX2 friend rows: ours inserted, changed or deleted to match; a row we did not create is a conflict. */
  private async applyFriends(
    peers: PeerObjects[],
    ownedFriends: Set<string>,
    unstorable: Unstorable,
    report: ApplyReport,
    pruned: Set<string>,
  ): Promise<void> {
    // Trunk secret epoch users are rows of their own (type=user, one secret each), owned like the friends.
    const wanted = new Map(peers.flatMap((p) => [p.friend, ...p.epochUsers]).map((f) => [f.name, f]));
    // A row's columns that it does not set are cleared: an epoch row is a whole friend during a v1 → v2
    // upgrade's switch and a user again after it, and must not keep the friend's host, port or username.
    const cleared = Object.fromEntries(
      [...new Set([...OPTIONAL_OPTIONS, ...[...wanted.values()].flatMap((f) => f.options.map(([k]) => k))])]
        .filter((k) => !ASTERISK_OWNED_COLUMNS.has(k))
        .map((k) => [k, null]),
    );
    // An owned name the name column cannot hold has no row to find (it could not have been stored).
    const names = [...new Set([...wanted.keys(), ...ownedFriends])].filter(
      (n) => !unstorable.friendNames.has(n),
    );
    const existing = new Map<string, Row>();
    if (names.length > 0) {
      const rows = await this.query<Row[]>(`SELECT * FROM ${FRIENDS} WHERE name IN (?)`, [names]);
      for (const r of rows) existing.set(String(r.name), r);
    }
    for (const [name, friend] of wanted) {
      const row = existing.get(name);
      // Options a peer may lack (the ACL of a hostname partner) are cleared, not left stale.
      const values: Record<string, string | null> = {
        ...cleared,
        ...Object.fromEntries(friend.options.filter(([k]) => !ASTERISK_OWNED_COLUMNS.has(k))),
      };
      if (row && !ownedFriends.has(name)) {
        this.conflicts.set(
          name,
          `an ${FRIENDS} row named ${name} exists that the sidecar did not create; it is left alone`,
        );
        continue;
      }
      if (!row) {
        // Claim first: a crash between the two steps then leaves a claim without a row (re-inserted next run),
        // never a row of ours that we would not recognise.
        await this.own(FRIENDS, name);
        if (!(await this.insert(FRIENDS, name, { name, ...values }))) {
          this.conflicts.set(
            name,
            `an ${FRIENDS} row whose name equals ${name} in the table's collation (case or accents aside) exists that the sidecar did not create; it is left alone`,
          );
          continue;
        }
        report.changes.push({ action: 'add', object: `iax:${name}` });
        pruned.add(name);
        continue;
      }
      const differs = Object.entries(values).some(([k, v]) => norm(row[k]) !== norm(v));
      if (differs) {
        await this.query(`UPDATE ${FRIENDS} SET ? WHERE name = ?`, [values, name]);
        report.changes.push({ action: 'change', object: `iax:${name}` });
        pruned.add(name);
      }
    }
    for (const name of ownedFriends) {
      if (wanted.has(name)) continue;
      if (unstorable.friendNames.has(name)) {
        await this.disown(FRIENDS, name);
        continue;
      }
      await this.query(`DELETE FROM ${FRIENDS} WHERE name = ?`, [name]);
      await this.disown(FRIENDS, name);
      this.removedFriends.add(name);
      if (existing.has(name)) report.changes.push({ action: 'remove', object: `iax:${name}` });
      pruned.add(name);
    }
    for (const name of wanted.keys()) this.removedFriends.delete(name);
  }

  /** The dial plan rows of the peers and the shared steps, the same way. */
  private async applyDialplan(
    peers: PeerObjects[],
    sharedSteps: DialplanStep[],
    report: ApplyReport,
  ): Promise<void> {
    const ownedSteps = await this.owned(EXTENSIONS);
    const steps = new Map<string, DialplanStep>();
    for (const s of [...peers.flatMap((p) => p.steps), ...sharedSteps]) steps.set(extKey(s), s);
    const contexts = new Set([...steps.values()].map((s) => s.context));
    for (const k of ownedSteps) contexts.add(k.split('|')[0]);
    const rowsByKey = new Map<string, Row>();
    if (contexts.size > 0) {
      const rows = await this.query<Row[]>(`SELECT * FROM ${EXTENSIONS} WHERE context IN (?)`, [
        [...contexts],
      ]);
      for (const r of rows)
        rowsByKey.set(
          extKey({ context: norm(r.context), exten: norm(r.exten), priority: Number(r.priority) }),
          r,
        );
    }
    for (const [key, s] of steps) {
      const row = rowsByKey.get(key);
      if (row && !ownedSteps.has(key)) {
        if (s.peer)
          this.conflicts.set(
            s.peer,
            `an ${EXTENSIONS} row ${s.exten},${s.priority} in ${s.context} exists that the sidecar did not create`,
          );
        continue;
      }
      if (!row) {
        await this.own(EXTENSIONS, key);
        const inserted = await this.insert(EXTENSIONS, key, {
          context: s.context,
          exten: s.exten,
          priority: s.priority,
          app: s.app,
          appdata: s.appData,
        });
        if (!inserted) {
          if (s.peer)
            this.conflicts.set(
              s.peer,
              `an ${EXTENSIONS} row equal to ${s.exten},${s.priority} in ${s.context} in the table's collation exists that the sidecar did not create`,
            );
          continue;
        }
        report.changes.push({ action: 'add', object: `dialplan:${key}` });
      } else if (norm(row.app) !== s.app || norm(row.appdata) !== s.appData) {
        await this.query(`UPDATE ${EXTENSIONS} SET app = ?, appdata = ? WHERE id = ?`, [
          s.app,
          s.appData,
          row.id,
        ]);
        report.changes.push({ action: 'change', object: `dialplan:${key}` });
      }
    }
    for (const key of ownedSteps) {
      if (steps.has(key)) continue;
      const row = rowsByKey.get(key);
      if (row) {
        await this.query(`DELETE FROM ${EXTENSIONS} WHERE id = ?`, [row.id]);
        report.changes.push({ action: 'remove', object: `dialplan:${key}` });
      }
      await this.disown(EXTENSIONS, key);
    }
  }

  /** A cached realtime peer keeps its old settings until pruned. */
  private async pruneCached(pruned: Set<string>): Promise<void> {
    for (const name of pruned) {
      try {
        await this.ami.command(`iax2 prune realtime ${name}`);
      } catch (e) {
        this.logger.warn('iax2 prune realtime failed', {
          component: 'asterisk',
          peer: name,
          error: errorMessage(e),
        });
      }
    }
  }

  async verify(state: DesiredState): Promise<VerifyReport> {
    const report: VerifyReport = { peerErrors: new Map(this.conflicts), problems: [] };
    const rows = new Map<string, Row>();
    const contexts = [
      ...new Set([...state.peers.flatMap((p) => p.steps), ...state.sharedSteps].map((s) => s.context)),
    ];
    if (contexts.length > 0) {
      const found = await this.query<Row[]>(`SELECT * FROM ${EXTENSIONS} WHERE context IN (?)`, [contexts]);
      for (const r of found)
        rows.set(extKey({ context: norm(r.context), exten: norm(r.exten), priority: Number(r.priority) }), r);
    }
    for (const p of state.peers) {
      if (report.peerErrors.has(p.peer.name)) continue;
      // A realtime load: what chan_iax2 makes of the row right now (and of the row dialled, when another).
      const loadError = await this.loadError(p.friend.name, p.peer.port);
      const dialError =
        loadError ?? (p.dialName === p.friend.name ? null : await this.loadError(p.dialName, p.peer.port));
      if (dialError !== null) {
        report.peerErrors.set(p.peer.name, dialError);
      } else {
        const missing = p.steps.find((s) => {
          const r = rows.get(extKey(s));
          return !r || norm(r.app) !== s.app || norm(r.appdata) !== s.appData;
        });
        if (missing)
          report.peerErrors.set(p.peer.name, `dial plan row ${missing.exten},${missing.priority} is missing`);
      }
    }
    if (this.removedFriends.size > 0) {
      const left = await this.query<Row[]>(`SELECT name FROM ${FRIENDS} WHERE name IN (?)`, [
        [...this.removedFriends],
      ]);
      const still = new Set(left.map((r) => norm(r.name)));
      for (const name of [...this.removedFriends]) {
        if (still.has(name)) report.problems.push(`removed realtime peer ${name} is still in ${FRIENDS}`);
        else this.removedFriends.delete(name);
      }
    }
    return report;
  }

  /** Why chan_iax2 cannot load a realtime friend as wanted, or null when it can. */
  private async loadError(name: string, port: number): Promise<string | null> {
    const out = await this.ami.command(`iax2 show peer ${name} load`);
    const portMatch = /Port\s*:?\s*(\d+)/i.exec(out);
    if (!new RegExp(`Name\\s*:\\s*${name}\\s*$`, 'm').test(out))
      return `Asterisk could not load the realtime IAX2 peer ${name}`;
    if (portMatch && Number(portMatch[1]) !== port)
      return `Asterisk loads the peer on port ${portMatch[1]}, expected ${port}`;
    return null;
  }

  /**
   * Inserts a row just claimed. A row the select did not match by exact text
   * can still equal it in the table's collation (case, accents: `Collide`
   * for `collide`), and its unique key then refuses ours: that is a conflict
   * on the one peer (the claim is dropped, the row left alone), not an error
   * that stops every peer. False when so refused.
   */
  private async insert(
    table: string,
    key: string,
    row: Record<string, string | number | null>,
  ): Promise<boolean> {
    try {
      await this.query(`INSERT INTO ${table} SET ?`, [row]);
      return true;
    } catch (e) {
      const cause = e instanceof Error ? e.cause : undefined;
      const code = cause && typeof cause === 'object' && 'code' in cause ? cause.code : undefined;
      if (code !== 'ER_DUP_ENTRY') throw e;
      await this.disown(table, key);
      return false;
    }
  }

  /**
   * The peers with a value that Asterisk's tables cannot hold in their
   * character set, with the error they fail with, and the friend names
   * (wanted or owned) that the name column cannot hold. The character sets
   * are read again whenever a value is not ASCII, so a conversion by the
   * admin counts from the next run on. Whether a value fits is asked of the
   * server itself (a round trip through the column's character set), which
   * knows its character sets exactly (its latin1 is cp1252, for one).
   */
  private async unstorable(peers: PeerObjects[], ownedFriends: Set<string>): Promise<Unstorable> {
    const result: Unstorable = { peers: new Map<string, string>(), friendNames: new Set<string>() };
    const perPeer = peers.map((p) => ({ p, cells: cellsOf(p).filter((c) => NON_ASCII.test(c.value)) }));
    const ownedNames = [...ownedFriends].filter((n) => NON_ASCII.test(n));
    if (ownedNames.length === 0 && perPeer.every((x) => x.cells.length === 0)) {
      this.charsetRefusals = result.peers;
      return result;
    }

    const charsets = await this.textCharsets();
    const charsetOf = (c: Pick<Cell, 'table' | 'column'>): string | undefined =>
      charsets.get(`${c.table}.${c.column}`);
    const toCheck = new Map<string, { charset: string; value: string }>();
    const allCells = [
      ...perPeer.flatMap((x) => x.cells),
      ...ownedNames.map((value) => ({ table: FRIENDS, column: 'name', value })),
    ];
    for (const c of allCells) {
      const charset = charsetOf(c);
      if (charset && charset !== WIDE_CHARSET)
        toCheck.set(fitKey(charset, c.value), { charset, value: c.value });
    }
    const fits = await this.roundTrips([...toCheck.values()]);
    const holds = (c: Cell): boolean => {
      const charset = charsetOf(c);
      return !charset || charset === WIDE_CHARSET || fits.get(fitKey(charset, c.value)) === true;
    };

    for (const value of ownedNames)
      if (!holds({ table: FRIENDS, column: 'name', value })) result.friendNames.add(value);
    const narrowTables = [
      ...new Set([...charsets].filter(([, cs]) => cs !== WIDE_CHARSET).map(([k]) => k.split('.')[0])),
    ]
      .sort()
      .map(
        (t) =>
          `ALTER TABLE ${quoteName(t)} CONVERT TO CHARACTER SET ${WIDE_CHARSET} COLLATE ${WIDE_COLLATION}`,
      );
    for (const { p, cells } of perPeer) {
      const bad = cells.filter((c) => !holds(c));
      if (bad.length === 0) continue;
      if (bad.some((c) => c.table === FRIENDS && c.column === 'name')) result.friendNames.add(p.friend.name);
      const where = [
        ...new Set(bad.map((c) => `${c.table}.${c.column} (${charsetOf(c) ?? 'unknown'})`)),
      ].join(', ');
      const error =
        `ASTERISK_REALTIME_CHARSET: Asterisk's realtime columns ${where} cannot hold this peer's values ` +
        `(its name ${JSON.stringify(p.peer.name)}); nothing is written for it, every other peer is. ` +
        `Convert Asterisk's tables (and set dbcharset = ${WIDE_CHARSET} in res_config_mysql.conf): ` +
        `${narrowTables.join('; ')};`;
      result.peers.set(p.peer.name, error);
      if (this.charsetRefusals.get(p.peer.name) === error) continue;
      this.logger.warn('realtime peer not written: character set', {
        component: 'asterisk',
        peer: p.peer.name,
        columns: where,
        code: 'ASTERISK_REALTIME_CHARSET',
      });
    }
    this.charsetRefusals = result.peers;
    return result;
  }

  /** The character set of every text column of the tables we write, as `table.column` (lower case). */
  private async textCharsets(): Promise<Map<string, string>> {
    const rows = await this.query<{ t: string; c: string; cs: string }[]>(
      `SELECT TABLE_NAME AS t, COLUMN_NAME AS c, CHARACTER_SET_NAME AS cs FROM information_schema.COLUMNS
        WHERE TABLE_SCHEMA = ? AND TABLE_NAME IN (?) AND CHARACTER_SET_NAME IS NOT NULL`,
      [this.cfg.database, [FRIENDS, EXTENSIONS]],
    );
    return new Map(rows.map((r) => [`${r.t.toLowerCase()}.${r.c.toLowerCase()}`, r.cs.toLowerCase()]));
  }

  /**
   * Whether each value survives a conversion to its character set and back:
   * MariaDB puts `?` for every character the set lacks. Keyed as in unstorable.
   */
  private async roundTrips(checks: { charset: string; value: string }[]): Promise<Map<string, boolean>> {
    const out = new Map<string, boolean>();
    const valid = checks.filter((c) => CHARSET_NAME.test(c.charset));
    // A name that is not a plain identifier never reaches SQL; its values count as not fitting.
    for (const c of checks) if (!valid.includes(c)) out.set(fitKey(c.charset, c.value), false);
    if (valid.length === 0) return out;
    const select = valid
      .map((c, i) => `CONVERT(CONVERT(? USING ${c.charset}) USING ${WIDE_CHARSET}) AS v${i}`)
      .join(', ');
    const [row] = await this.query<Record<string, string | null>[]>(
      `SELECT ${select}`,
      valid.map((c) => c.value),
    );
    valid.forEach((c, i) => out.set(fitKey(c.charset, c.value), row?.[`v${i}`] === c.value));
    return out;
  }

  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = null;
    await pool?.end();
  }
}
