import fs from 'node:fs';
import { AppError, errorMessage } from '../core/errors';
import { openSideSql, type SideConnection, sideConnectionFromUrl, type SideSql } from '../store/side-sql';

/**
 * Reads a stock µURU deployment as it stores its federation (facts sheet
 * shared/specs/uuru-deployment.md; µURU's source is the authority): three
 * tables in its application database (PostgreSQL or MySQL/MariaDB) whose
 * table is a row's state, and realtime rows (`iaxfriends`, `extensions`) in
 * its Asterisk database (always MySQL/MariaDB). Nothing here writes.
 */

/** µURU's Alembic revisions whose federation tables this reader knows (init has no codec column). */
export const KNOWN_UURU_REVISIONS: Record<string, { codec: boolean }> = {
  d2cb3f84f349: { codec: false },
  '69a30a0afb72': { codec: true },
};

/** The context µURU writes every federation row in, and the one its friends send calls to. */
export const UURU_CONTEXT = 'pjsip_internal';

export interface UuruPeer {
  id: string;
  name: string;
  prefix: string;
  partnerExtensionLength: number;
  partnerIaxHost: string;
  partnerUuruHost: string;
  secret: string;
  codec: string;
}

export interface UuruOutgoing {
  id: string;
  name: string;
  partnerUuruHost: string;
  prefix: string;
  secret: string;
  codec: string;
}

export interface UuruIncoming {
  id: string;
  name: string;
  partnerUuruHost: string;
  partnerIaxHost: string;
  partnerExtensionLength: number;
  secret: string;
  codec: string;
}

/** One realtime row as stored (every column). */
export type RealtimeRow = Record<string, string | number | null>;

export interface UuruSnapshot {
  appEngine: SideConnection['engine'];
  schemaVersion: string | null;
  peers: UuruPeer[];
  outgoing: UuruOutgoing[];
  incoming: UuruIncoming[];
  /** iaxfriends rows named like a µURU peer, by name. */
  friends: Map<string, RealtimeRow>;
  /** extensions rows in pjsip_internal that dial an IAX2 friend (federation rows, and any left over). */
  dialRows: RealtimeRow[];
}

export interface UuruDatabases {
  app: SideConnection;
  asterisk: SideConnection;
}

/** `IAX2/<name>/` at the start of a federation row's appdata: the name it dials. */
export function dialedFriend(appdata: unknown): string | null {
  const m = /^IAX2\/([^/]+)\//.exec(String(appdata ?? ''));
  return m ? m[1] : null;
}

/** The dial plan row µURU writes for a peer (app/telephoning/dialplan): the pattern, and what it dials. */
export function uuruDialRow(p: Pick<UuruPeer, 'name' | 'prefix' | 'partnerExtensionLength'>): {
  context: string;
  exten: string;
  priority: number;
  app: string;
  appdata: string;
} {
  const n = p.partnerExtensionLength;
  return {
    context: UURU_CONTEXT,
    exten: `_${p.prefix}${'X'.repeat(n)}`,
    priority: 1,
    app: 'Dial',
    appdata: `IAX2/${p.name}/\${EXTEN:-${n}}`,
  };
}

/** The iaxfriends columns µURU sets for a peer (create_iax_peer); every other column stays NULL. */
export function uuruFriendValues(p: UuruPeer): Record<string, string> {
  return {
    type: 'friend',
    name: p.name,
    username: p.name,
    secret: p.secret,
    host: p.partnerIaxHost,
    context: UURU_CONTEXT,
    trunk: 'yes',
    encryption: 'yes',
    disallow: 'all',
    allow: p.codec,
  };
}

/** µURU's Uuid: native on PostgreSQL (dashed), CHAR(32) hex on MySQL; the sidecar keeps the dashed form. */
function uuidText(v: unknown): string {
  const hex = String(v ?? '')
    .toLowerCase()
    .replace(/-/g, '');
  if (!/^[0-9a-f]{32}$/.test(hex)) return String(v ?? '');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const str = (v: unknown): string => (v === null || v === undefined ? '' : String(v));

/**
 * Connection settings of µURU's two databases: from URLs, or from µURU's own
 * settings (UURU_DATABASE_TYPE/_SERVER/_PORT/_USER/_PASSWORD/_DB and
 * UURU_ASTERISK_DATABASE_SERVER/_PORT/_USER/_PASSWORD/_DB, with µURU's
 * defaults: postgres on 5432, MySQL on 3306) as in µURU's `.env` file. These
 * names are read from that file only, never from our environment: the
 * sidecar's own UURU_DATABASE_* name the sidecar's database.
 */
export function uuruDatabases(input: {
  appUrl?: string;
  asteriskUrl?: string;
  envFile?: string;
}): UuruDatabases {
  const env = input.envFile ? readEnvFile(input.envFile) : {};
  const fromUrl = (url: string, what: string): SideConnection => {
    const c = sideConnectionFromUrl(url);
    if (!c)
      throw new AppError(
        'VALIDATION_FAILED',
        `${what}: not a database URL (postgresql://user:password@host:port/db or mysql://...)`,
      );
    return c;
  };
  const need = (key: string): string => {
    const v = env[key];
    if (v === undefined || v === '')
      throw new AppError(
        'VALIDATION_FAILED',
        `${key} is not set in ${input.envFile ?? "µURU's settings"}: give --app-db / --asterisk-db URLs, or --uuru-env with µURU's .env`,
      );
    return v;
  };
  let app: SideConnection;
  if (input.appUrl) app = fromUrl(input.appUrl, '--app-db');
  else {
    const type = env.UURU_DATABASE_TYPE ?? 'postgres';
    if (type !== 'postgres' && type !== 'mysql')
      throw new AppError('VALIDATION_FAILED', `UURU_DATABASE_TYPE must be postgres or mysql, not ${type}`);
    app = {
      engine: type,
      host: need('UURU_DATABASE_SERVER'),
      port: Number(env.UURU_DATABASE_PORT ?? 5432),
      user: need('UURU_DATABASE_USER'),
      password: env.UURU_DATABASE_PASSWORD ?? '',
      database: env.UURU_DATABASE_DB ?? '',
    };
  }
  let asterisk: SideConnection;
  if (input.asteriskUrl) asterisk = fromUrl(input.asteriskUrl, '--asterisk-db');
  else
    asterisk = {
      engine: 'mysql',
      host: need('UURU_ASTERISK_DATABASE_SERVER'),
      port: Number(env.UURU_ASTERISK_DATABASE_PORT ?? 3306),
      user: need('UURU_ASTERISK_DATABASE_USER'),
      password: need('UURU_ASTERISK_DATABASE_PASSWORD'),
      database: need('UURU_ASTERISK_DATABASE_DB'),
    };
  if (asterisk.engine !== 'mysql')
    throw new AppError('VALIDATION_FAILED', "µURU's Asterisk database is MySQL/MariaDB: give a mysql:// URL");
  return { app, asterisk };
}

/** KEY=value lines of a dotenv file (quotes stripped, comments and blank lines skipped). */
export function readEnvFile(file: string): Record<string, string> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new AppError('VALIDATION_FAILED', `cannot read µURU's settings file ${file}: ${errorMessage(e)}`);
  }
  const out: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!m) continue;
    let v = m[2].trim();
    if ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'"))) v = v.slice(1, -1);
    out[m[1]] = v;
  }
  return out;
}

/** The two databases, open. */
export class UuruDeployment {
  readonly app: SideSql;
  readonly asterisk: SideSql;

  constructor(readonly where: UuruDatabases) {
    this.app = openSideSql(where.app);
    this.asterisk = openSideSql(where.asterisk);
  }

  async close(): Promise<void> {
    await Promise.all([this.app.close(), this.asterisk.close()]);
  }

  /** Everything adopt needs, read in one go. */
  async read(): Promise<UuruSnapshot> {
    const schemaVersion = await this.schemaVersion();
    const known = schemaVersion ? KNOWN_UURU_REVISIONS[schemaVersion] : undefined;
    const snapshot: UuruSnapshot = {
      appEngine: this.app.engine,
      schemaVersion,
      peers: [],
      outgoing: [],
      incoming: [],
      friends: new Map(),
      dialRows: [],
    };
    // An unknown revision may have other columns: nothing more is read (plan refuses it).
    if (!known) return snapshot;
    const codec = known.codec ? 'codec' : "'g722' AS codec";
    const app = async <T>(sql: string): Promise<T[]> => {
      try {
        return await this.app.query<T>(sql);
      } catch (e) {
        throw new AppError('ADOPT_SOURCE_UNAVAILABLE', `µURU's application database: ${errorMessage(e)}`);
      }
    };
    const peers = await app<Record<string, unknown>>(
      `SELECT id, name, prefix, partner_extension_length, partner_iax_host, partner_uuru_host, secret, ${codec} FROM peer ORDER BY name`,
    );
    snapshot.peers = peers.map((r) => ({
      id: uuidText(r.id),
      name: str(r.name),
      prefix: str(r.prefix),
      partnerExtensionLength: Number(r.partner_extension_length),
      partnerIaxHost: str(r.partner_iax_host),
      partnerUuruHost: str(r.partner_uuru_host),
      secret: str(r.secret),
      codec: str(r.codec),
    }));
    const outgoing = await app<Record<string, unknown>>(
      `SELECT id, name, partner_uuru_host, prefix, secret, ${codec} FROM outgoingpeeringrequest ORDER BY name`,
    );
    snapshot.outgoing = outgoing.map((r) => ({
      id: uuidText(r.id),
      name: str(r.name),
      partnerUuruHost: str(r.partner_uuru_host),
      prefix: str(r.prefix),
      secret: str(r.secret),
      codec: str(r.codec),
    }));
    const incoming = await app<Record<string, unknown>>(
      `SELECT id, name, partner_uuru_host, partner_iax_host, partner_extension_length, secret, ${codec} FROM incomingpeeringrequest ORDER BY name`,
    );
    snapshot.incoming = incoming.map((r) => ({
      id: uuidText(r.id),
      name: str(r.name),
      partnerUuruHost: str(r.partner_uuru_host),
      partnerIaxHost: str(r.partner_iax_host),
      partnerExtensionLength: Number(r.partner_extension_length),
      secret: str(r.secret),
      codec: str(r.codec),
    }));
    await this.readAsterisk(snapshot);
    return snapshot;
  }

  private async readAsterisk(snapshot: UuruSnapshot): Promise<void> {
    try {
      const names = snapshot.peers.map((p) => p.name);
      if (names.length > 0) {
        const rows = await this.asterisk.query<RealtimeRow>('SELECT * FROM iaxfriends WHERE name IN (?)', [
          names,
        ]);
        for (const r of rows) snapshot.friends.set(str(r.name), r);
      }
      snapshot.dialRows = await this.asterisk.query<RealtimeRow>(
        "SELECT * FROM extensions WHERE context = ? AND app = 'Dial' AND appdata LIKE 'IAX2/%' ORDER BY exten, priority",
        [UURU_CONTEXT],
      );
    } catch (e) {
      throw new AppError('ADOPT_SOURCE_UNAVAILABLE', `µURU's Asterisk database: ${errorMessage(e)}`);
    }
  }

  private async schemaVersion(): Promise<string | null> {
    try {
      const rows = await this.app.query<{ version_num: string }>('SELECT version_num FROM alembic_version');
      return rows.length === 1 ? str(rows[0].version_num) : null;
    } catch (e) {
      throw new AppError(
        'ADOPT_SOURCE_UNAVAILABLE',
        `µURU's application database: cannot read its schema version (alembic_version): ${errorMessage(e)}`,
      );
    }
  }
}
