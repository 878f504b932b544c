/**
 * A stock µURU deployment's databases as µURU leaves them (facts sheet
 * shared/specs/uuru-deployment.md; µURU's Alembic migrations d2cb3f84f349
 * "init" and 69a30a0afb72 "codec"): its application database on PostgreSQL
 * (µURU's default) or MariaDB, with the three federation tables, the unused
 * `extensions` table of its init migration and `alembic_version`; and its
 * Asterisk database on MariaDB with Asterisk's realtime tables, written to
 * as µURU's create_iax_peer and dial plan helper write them.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';
import type { UuruIncoming, UuruOutgoing, UuruPeer } from '../../src/adopt/uuru-source';
import { createRealtimeTables, type RealtimeDb } from './asterisk';
import { type MariaDbServer, testDatabaseName } from './mariadb';
import type { PostgresServer } from './postgres';

export const UURU_HEAD = '69a30a0afb72';

/** A µURU record as the fixture writes it: the reader's shape (src/adopt), µURU's id made here, its codec default. */
type Written<T extends { id: string; codec: string }> = Omit<T, 'id' | 'codec'> & { codec?: string };

export type UuruPeerFixture = Written<UuruPeer>;

/** 32 characters of [A-Za-z0-9], as µURU generates a federation secret. */
export const uuruSecret = (): string => {
  const abc = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return Array.from(crypto.randomBytes(32), (b) => abc[b % 62]).join('');
};

type Engine = 'postgres' | 'mysql';

/** The federation tables as µURU's migrations create them, on each engine (str, uuid as the sheet says). */
function appSchema(engine: Engine): string[] {
  const str = engine === 'postgres' ? 'VARCHAR' : 'VARCHAR(255)';
  const uuid = engine === 'postgres' ? 'UUID' : 'CHAR(32)';
  return [
    `CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))`,
    `CREATE TABLE peer (id ${uuid} NOT NULL, name ${str} NOT NULL, prefix ${str} NOT NULL,
       partner_extension_length INTEGER NOT NULL, partner_iax_host ${str} NOT NULL,
       partner_uuru_host ${str} NOT NULL, secret ${str} NOT NULL, PRIMARY KEY (id))`,
    `CREATE TABLE outgoingpeeringrequest (id ${uuid} NOT NULL, name ${str} NOT NULL,
       partner_uuru_host ${str} NOT NULL, prefix ${str} NOT NULL, secret ${str} NOT NULL, PRIMARY KEY (id))`,
    `CREATE TABLE incomingpeeringrequest (id ${uuid} NOT NULL, name ${str} NOT NULL,
       partner_uuru_host ${str} NOT NULL, partner_iax_host ${str} NOT NULL,
       partner_extension_length INTEGER NOT NULL, secret ${str} NOT NULL, PRIMARY KEY (id))`,
    // The init migration's unused copy of the realtime dial plan table.
    `CREATE TABLE extensions (id INTEGER NOT NULL, context ${str} NOT NULL, exten ${str} NOT NULL,
       priority INTEGER NOT NULL, app ${str} NOT NULL, appdata ${str} NOT NULL, PRIMARY KEY (id))`,
    "INSERT INTO alembic_version (version_num) VALUES ('d2cb3f84f349')",
    // 69a30a0afb72 "codec"
    ...['peer', 'outgoingpeeringrequest', 'incomingpeeringrequest'].map(
      (t) => `ALTER TABLE ${t} ADD COLUMN codec VARCHAR(16) NOT NULL DEFAULT 'g722'`,
    ),
    `UPDATE alembic_version SET version_num = '${UURU_HEAD}' WHERE alembic_version.version_num = 'd2cb3f84f349'`,
  ];
}

export interface UuruDeploymentFixture {
  engine: Engine;
  appUrl: string;
  asteriskUrl: string;
  asteriskDb: RealtimeDb;
  /** µURU's .env naming both databases (UURU_DATABASE_*, UURU_ASTERISK_DATABASE_*). */
  envFile: string;
  app<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  asterisk<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /** What µURU does when a peering completes: the peer row, then the iaxfriends and dial plan rows. */
  addPeer(p: UuruPeerFixture): Promise<string>;
  addOutgoing(o: Written<UuruOutgoing>): Promise<string>;
  addIncoming(i: Written<UuruIncoming>): Promise<string>;
  /** The rows of µURU's Asterisk database that belong to its federation, without their ids, sorted. */
  federationRows(): Promise<{ friends: Record<string, unknown>[]; dialplan: Record<string, unknown>[] }>;
  drop(): Promise<void>;
}

export async function createUuruDeployment(
  engine: Engine,
  servers: { maria: MariaDbServer; pg?: PostgresServer },
  opts: { localDigits?: number } = {},
): Promise<UuruDeploymentFixture> {
  const { maria, pg } = servers;
  const appName = testDatabaseName(`uuru_app_${engine}`).slice(0, 60);
  const astName = testDatabaseName('uuru_ast');
  await maria.createDatabase(astName);
  const asteriskDb: RealtimeDb = {
    host: maria.host,
    port: maria.port,
    user: maria.user,
    password: maria.password,
    database: astName,
  };
  await createRealtimeTables(asteriskDb);
  const astConn = await mysql.createConnection({ ...asteriskDb, charset: 'utf8mb4' });
  const asterisk = async <T>(sql: string, params: unknown[] = []): Promise<T[]> =>
    (await astConn.query(sql, params))[0] as T[];

  let app: <T>(sql: string, params?: unknown[]) => Promise<T[]>;
  let appUrl: string;
  let closeApp: () => Promise<void>;
  const env: string[] = [];
  if (engine === 'postgres') {
    if (!pg) throw new Error('postgres engine needs a PostgresServer');
    await pg.createDatabase(appName);
    app = <T>(sql: string, params: unknown[] = []) => {
      let n = 0;
      return pg.query<T>(
        sql.replace(/\?/g, () => `$${++n}`),
        params,
        appName,
      );
    };
    appUrl = pg.url(appName).replace(/^postgresql:/, 'postgresql+psycopg:');
    closeApp = () => pg.dropDatabase(appName);
    env.push(
      'UURU_DATABASE_TYPE=postgres',
      `UURU_DATABASE_SERVER=${pg.host}`,
      `UURU_DATABASE_PORT=${pg.port}`,
      `UURU_DATABASE_USER=${pg.user}`,
      `UURU_DATABASE_PASSWORD="${pg.password}"`,
      `UURU_DATABASE_DB=${appName}`,
    );
  } else {
    await maria.createDatabase(appName);
    const conn = await mysql.createConnection({
      host: maria.host,
      port: maria.port,
      user: maria.user,
      password: maria.password,
      database: appName,
    });
    app = async <T>(sql: string, params: unknown[] = []) => (await conn.query(sql, params))[0] as T[];
    appUrl = `mysql+pymysql://${maria.user}:${encodeURIComponent(maria.password)}@${maria.host}:${maria.port}/${appName}`;
    closeApp = async () => {
      await conn.end();
      await maria.dropDatabase(appName);
    };
    env.push(
      'UURU_DATABASE_TYPE=mysql',
      `UURU_DATABASE_SERVER=${maria.host}`,
      `UURU_DATABASE_PORT=${maria.port}`,
      `UURU_DATABASE_USER=${maria.user}`,
      `UURU_DATABASE_PASSWORD=${maria.password}`,
      `UURU_DATABASE_DB=${appName}`,
    );
  }
  for (const sql of appSchema(engine)) await app(sql);
  env.push(
    `UURU_ASTERISK_DATABASE_SERVER=${maria.host}`,
    `UURU_ASTERISK_DATABASE_PORT=${maria.port}`,
    `UURU_ASTERISK_DATABASE_USER=${maria.user}`,
    `UURU_ASTERISK_DATABASE_PASSWORD=${maria.password}`,
    `UURU_ASTERISK_DATABASE_DB=${astName}`,
    'UURU_FEDERATION_UURU_HOST=http://127.0.0.1:8000',
  );
  const envDir = fs.mkdtempSync(path.join(os.tmpdir(), 'uuru-env-'));
  const envFile = path.join(envDir, '.env');
  fs.writeFileSync(envFile, `# µURU settings\n${env.join('\n')}\n`, { mode: 0o600 });

  const digits = opts.localDigits ?? 4;
  // µURU rewrites its local fallback at every start: the plan every µURU Asterisk database holds.
  await asterisk('INSERT INTO extensions (context, exten, priority, app, appdata) VALUES (?, ?, 1, ?, ?)', [
    'pjsip_internal',
    `_${'X'.repeat(digits)}`,
    'Dial',
    '${PJSIP_DIAL_CONTACTS(${EXTEN})}',
  ]);

  const newId = (): { text: string; stored: string } => {
    const text = crypto.randomUUID();
    return { text, stored: engine === 'postgres' ? text : text.replace(/-/g, '') };
  };

  return {
    engine,
    appUrl,
    asteriskUrl: `mysql+pymysql://${maria.user}:${encodeURIComponent(maria.password)}@${maria.host}:${maria.port}/${astName}`,
    asteriskDb,
    envFile,
    app,
    asterisk,
    async addPeer(p) {
      const id = newId();
      const codec = p.codec ?? 'g722';
      await app(
        'INSERT INTO peer (id, name, prefix, partner_extension_length, partner_iax_host, partner_uuru_host, secret, codec) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        [
          id.stored,
          p.name,
          p.prefix,
          p.partnerExtensionLength,
          p.partnerIaxHost,
          p.partnerUuruHost,
          p.secret,
          codec,
        ],
      );
      await asterisk(
        'INSERT INTO iaxfriends (type, name, username, secret, host, context, trunk, encryption, disallow, allow) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
        ['friend', p.name, p.name, p.secret, p.partnerIaxHost, 'pjsip_internal', 'yes', 'yes', 'all', codec],
      );
      const exten = `_${p.prefix}${'X'.repeat(p.partnerExtensionLength)}`;
      await asterisk('DELETE FROM extensions WHERE context = ? AND exten = ?', ['pjsip_internal', exten]);
      await asterisk(
        'INSERT INTO extensions (context, exten, priority, app, appdata) VALUES (?, ?, 1, ?, ?)',
        ['pjsip_internal', exten, 'Dial', `IAX2/${p.name}/\${EXTEN:-${p.partnerExtensionLength}}`],
      );
      return id.text;
    },
    async addOutgoing(o) {
      const id = newId();
      await app(
        'INSERT INTO outgoingpeeringrequest (id, name, partner_uuru_host, prefix, secret, codec) VALUES (?, ?, ?, ?, ?, ?)',
        [id.stored, o.name, o.partnerUuruHost, o.prefix, o.secret, o.codec ?? 'g722'],
      );
      return id.text;
    },
    async addIncoming(i) {
      const id = newId();
      await app(
        'INSERT INTO incomingpeeringrequest (id, name, partner_uuru_host, partner_iax_host, partner_extension_length, secret, codec) VALUES (?, ?, ?, ?, ?, ?, ?)',
        [
          id.stored,
          i.name,
          i.partnerUuruHost,
          i.partnerIaxHost,
          i.partnerExtensionLength,
          i.secret,
          i.codec ?? 'g722',
        ],
      );
      return id.text;
    },
    async federationRows() {
      const friends = (await asterisk<Record<string, unknown>>('SELECT * FROM iaxfriends ORDER BY name')).map(
        ({ id: _id, ...rest }) => rest,
      );
      const dialplan = (
        await asterisk<Record<string, unknown>>(
          "SELECT * FROM extensions WHERE context = 'pjsip_internal' ORDER BY exten, priority",
        )
      ).map(({ id: _id, ...rest }) => rest);
      return { friends, dialplan };
    },
    async drop() {
      await astConn.end().catch(() => undefined);
      await maria.dropDatabase(astName).catch(() => undefined);
      await closeApp().catch(() => undefined);
      fs.rmSync(envDir, { recursive: true, force: true });
    },
  };
}
