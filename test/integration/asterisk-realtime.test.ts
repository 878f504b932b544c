/**
 * The realtime backend against two real Asterisk instances reading their
 * peers and dial plan from MariaDB (res_config_mysql), one database each on
 * the run's MariaDB. The sidecars' own databases are SQLite files.
 */
import fs from 'node:fs';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { PeerEntity } from '../../src/store/entities';
import {
  type AsteriskInstance,
  type RealtimeDb,
  createRealtimeTables,
  startAsterisk,
} from '../harness/asterisk';
import { type MariaDbServer, startMariaDb, testDatabaseName } from '../harness/mariadb';
import {
  TEST_EXTENSION,
  type Sidecar,
  dial,
  insertPeer,
  peerRow,
  sharedSecret,
  startSidecar,
} from './asterisk-fixtures';
import { waitUntil } from '../harness/wait';

jest.setTimeout(120_000);

const CONF = path.resolve(__dirname, '..', '..', 'asterisk-conf');
const STATIC_DIALPLAN = fs.readFileSync(path.join(CONF, 'extensions-realtime.conf'), 'utf8');
const SCHEMA_ADDITIONS = fs.readFileSync(path.join(CONF, 'realtime-iaxfriends.sql'), 'utf8');

let server: MariaDbServer;
let dbA: RealtimeDb;
let dbB: RealtimeDb;
let connA: mysql.Connection;
let A: AsteriskInstance;
let B: AsteriskInstance;
let sa: Sidecar;
let sb: Sidecar;
const secret = sharedSecret();

async function realtimeDb(prefix: string): Promise<RealtimeDb> {
  const database = testDatabaseName(prefix);
  await server.createDatabase(database);
  const db = { host: server.host, port: server.port, user: server.user, password: server.password, database };
  await createRealtimeTables(db);
  const conn = await mysql.createConnection({ ...db, multipleStatements: true });
  await conn.query(SCHEMA_ADDITIONS);
  await conn.end();
  return db;
}

const realtimeOverrides = (db: RealtimeDb) => ({
  asterisk: { stateBackend: 'realtime', realtimeDb: db },
});

beforeAll(async () => {
  server = await startMariaDb();
  [dbA, dbB] = await Promise.all([realtimeDb('rt_a'), realtimeDb('rt_b')]);
  connA = await mysql.createConnection(dbA);
  [A, B] = await Promise.all([
    startAsterisk({ name: 'ra', realtime: dbA, extensionsConf: STATIC_DIALPLAN }),
    startAsterisk({ name: 'rb', realtime: dbB, extensionsConf: STATIC_DIALPLAN }),
  ]);
  [sa, sb] = await Promise.all([
    startSidecar(A, realtimeOverrides(dbA)),
    startSidecar(B, realtimeOverrides(dbB)),
  ]);
});

afterAll(async () => {
  await Promise.allSettled([sa?.stop(), sb?.stop()]);
  await Promise.allSettled([A?.stop(), B?.stop()]);
  await connA?.end().catch(() => undefined);
  for (const db of [dbA, dbB]) if (db) await server.dropDatabase(db.database).catch(() => undefined);
  await server?.stop();
});

type Row = Record<string, unknown>;
const rows = async (sql: string, params: unknown[] = []): Promise<Row[]> =>
  (await connA.query(sql, params))[0] as Row[];
const snapshot = async () => ({
  friends: await rows('SELECT * FROM iaxfriends ORDER BY id'),
  extensions: await rows('SELECT * FROM extensions ORDER BY id'),
});

const callAB = () => dial(sa.ami, `55${TEST_EXTENSION}`);

describe('realtime backend', () => {
  it('makes a peer pair live through rows, and removing the peer makes the call fail', async () => {
    await insertPeer(sa.db, { name: 'a_b', prefix: '55', port: B.iaxPort, secret });
    await insertPeer(sb.db, { name: 'a_b', prefix: '66', port: A.iaxPort, secret });
    await Promise.all([sa.feature.port.syncPeers('test'), sb.feature.port.syncPeers('test')]);
    const a = await peerRow(sa.db, 'a_b');
    expect([a.applyState, a.applyError]).toEqual(['applied', null]);
    expect((await peerRow(sb.db, 'a_b')).applyState).toBe('applied');
    const [friend] = await rows('SELECT * FROM iaxfriends WHERE name = ?', ['a_b']);
    expect(friend).toMatchObject({
      type: 'friend',
      encryption: 'yes',
      forceencryption: 'yes',
      context: 'uuru-federation-in',
    });
    expect(await callAB()).toBe(true);

    await sa.db.getRepository(PeerEntity).delete({ name: 'a_b' });
    await sa.feature.reconcile('test');
    expect(await rows('SELECT * FROM iaxfriends WHERE name = ?', ['a_b'])).toEqual([]);
    expect(await callAB()).toBe(false);

    await insertPeer(sa.db, { name: 'a_b', prefix: '55', port: B.iaxPort, secret });
    await sa.feature.port.syncPeers('test');
    expect(await callAB()).toBe(true);
  });

  it('says plainly that realtime peers are not monitored', async () => {
    expect(sa.feature.port.status().monitoring).toBe('unavailable_realtime');
    await sa.feature.pollMonitor();
    expect((await peerRow(sa.db, 'a_b')).reachability).toBe('unmonitored');
  });

  it('repairs a hand edit of its row and never touches rows it did not create', async () => {
    await connA.query(
      "INSERT INTO iaxfriends (name, type, host, port, secret, context) VALUES ('handwritten', 'friend', '127.0.0.1', 4999, 'handwrittensecret1', 'default')",
    );
    await connA.query(
      "INSERT INTO extensions (context, exten, priority, app, appdata) VALUES ('uuru-local-federation', '_99XXXX', 1, 'Dial', 'IAX2/handwritten/${EXTEN:-4}')",
    );
    // A peer whose name an admin already uses by hand: refused, the admin's row kept.
    await connA.query(
      "INSERT INTO iaxfriends (name, type, host, port, secret, context) VALUES ('taken', 'friend', '127.0.0.1', 4998, 'adminsecret123456', 'default')",
    );
    await insertPeer(sa.db, { name: 'taken', prefix: '56', port: 4998, secret: sharedSecret() });
    const foreignBefore = await rows(
      "SELECT * FROM iaxfriends WHERE name IN ('handwritten', 'taken') ORDER BY name",
    );
    await connA.query("UPDATE iaxfriends SET secret = 'tamperedtampered12', port = 1 WHERE name = 'a_b'");
    await connA.query(
      "UPDATE extensions SET appdata = 'IAX2/handwritten/${EXTEN:-4}' WHERE context = 'uuru-local-federation' AND exten = '_55XXXX'",
    );

    const report = await sa.feature.reconcile('test');
    expect(report?.changes).toEqual(
      expect.arrayContaining([
        { action: 'change', object: 'iax:a_b' },
        { action: 'change', object: 'dialplan:uuru-local-federation|_55XXXX|1' },
      ]),
    );
    const [fixed] = await rows('SELECT secret, port FROM iaxfriends WHERE name = ?', ['a_b']);
    expect(fixed).toEqual({ secret, port: B.iaxPort });
    expect(
      await rows("SELECT * FROM iaxfriends WHERE name IN ('handwritten', 'taken') ORDER BY name"),
    ).toEqual(foreignBefore);
    expect(await rows("SELECT * FROM extensions WHERE exten = '_99XXXX'")).toHaveLength(1);
    const taken = await peerRow(sa.db, 'taken');
    expect(taken.applyState).toBe('failed');
    expect(taken.applyError).toMatch(/did not create/);
    expect(await callAB()).toBe(true);

    // Removing the refused peer must not delete the admin's row of that name.
    await sa.db.getRepository(PeerEntity).delete({ name: 'taken' });
    await sa.feature.reconcile('test');
    expect(
      await rows("SELECT * FROM iaxfriends WHERE name IN ('handwritten', 'taken') ORDER BY name"),
    ).toEqual(foreignBefore);
  });

  it('refuses hostile peer rows and leaves every realtime row unchanged', async () => {
    const before = await snapshot();
    const hostile = [
      { name: 'evil1', prefix: '81', host: '127.0.0.1\n[general]' },
      { name: 'evil2', prefix: '82,1', host: '127.0.0.1' },
      { name: "evil3'", prefix: '83', host: '127.0.0.1' },
      { name: 'evil4', prefix: '84', host: "x'); DROP TABLE iaxfriends; --" },
      { name: 'evil5', prefix: '85', host: '${SHELL}' },
      // Full-width letters are word characters (a v1 partner may use them); the right-to-left override is not.
      { name: 'ｅvil6\u202e', prefix: '86', host: '127.0.0.1' },
    ];
    for (const h of hostile) await insertPeer(sa.db, { ...h, port: 4569, secret });
    const report = await sa.feature.reconcile('test');
    expect(report?.changes).toEqual([]);
    expect(await snapshot()).toEqual(before);
    const evil = (await sa.db.getRepository(PeerEntity).find()).filter((r) => r.prefix.startsWith('8'));
    expect(evil.map((r) => r.applyState)).toEqual(hostile.map(() => 'failed'));
    await sa.db.getRepository(PeerEntity).delete(evil.map((r) => r.id));
  });

  it('on latin1 realtime tables fails only the peer whose name they cannot hold; the others are applied', async () => {
    // Asterisk's tables as a plain CREATE DATABASE on stock MariaDB makes them (its compiled default is
    // latin1). Before the case below converts them to utf8mb4.
    const [cs] = await rows(
      "SELECT CHARACTER_SET_NAME AS cs FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'iaxfriends' AND COLUMN_NAME = 'name'",
    );
    expect(cs).toEqual({ cs: 'latin1' });
    const before = await snapshot();
    // A word-character name stock µURU accepts, with Ω outside latin1; in the same run a new ASCII peer,
    // and a non-ASCII name latin1 does hold (so the check is the column's character set, not ASCII).
    const unicode = 'Grüße_Ωmega';
    const latin = 'Grüße_a';
    await insertPeer(sa.db, { name: unicode, prefix: '58', port: B.iaxPort, secret });
    await insertPeer(sa.db, { name: 'a_c', prefix: '59', port: B.iaxPort, secret });
    await insertPeer(sb.db, { name: 'a_c', prefix: '69', port: A.iaxPort, secret });
    await insertPeer(sa.db, { name: latin, prefix: '60', port: B.iaxPort, secret });
    await insertPeer(sb.db, { name: latin, prefix: '70', port: A.iaxPort, secret });
    try {
      await Promise.all([sa.feature.port.syncPeers('test'), sb.feature.port.syncPeers('test')]);
      // The other peers first: before the fix the Unicode name stalled them all (pending).
      for (const [db, name] of [
        [sa.db, 'a_c'],
        [sa.db, 'a_b'],
        [sb.db, 'a_c'],
        [sa.db, latin],
        [sb.db, latin],
      ] as const) {
        const p = await peerRow(db, name);
        expect([name, p.applyState, p.applyError]).toEqual([name, 'applied', null]);
      }
      const u = await peerRow(sa.db, unicode);
      expect(u.applyState).toBe('failed');
      expect(u.applyError).toMatch(/^ASTERISK_REALTIME_CHARSET: /);
      expect(u.applyError).toContain('latin1');
      expect(u.applyError).toContain(
        'ALTER TABLE `iaxfriends` CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci',
      );
      // Only the rows of a_c and Grüße_a were added; nothing of the Unicode peer, nothing else changed.
      const after = await snapshot();
      const newFriends = after.friends.filter((f) => !before.friends.some((b) => b.id === f.id));
      expect(newFriends.map((f) => f.name).sort()).toEqual([latin, 'a_c'].sort());
      // Peers at one address share its call-number budget (see callNumberBudget): a_b's grows with a_c.
      const budgetless = (fs: Row[]) => fs.map(({ maxcallnumbers: _budget, ...f }) => f);
      expect(budgetless(after.friends.filter((f) => !newFriends.includes(f)))).toEqual(
        budgetless(before.friends),
      );
      const newSteps = after.extensions.filter((e) => !before.extensions.some((b) => b.id === e.id));
      expect(newSteps.map((e) => e.exten).sort()).toEqual(['_59XXXX', '_60XXXX']);
      expect(newSteps.find((e) => e.exten === '_60XXXX')?.appdata).toBe(`IAX2/${latin}/\${EXTEN:-4}`);
      expect(after.extensions.filter((e) => !newSteps.includes(e))).toEqual(before.extensions);
      // Asterisk has the new ASCII peer, and the existing one still carries calls.
      expect(await dial(sa.ami, `59${TEST_EXTENSION}`)).toBe(true);
      expect(await dial(sa.ami, `60${TEST_EXTENSION}`)).toBe(true);
      expect(await callAB()).toBe(true);
      expect(await dial(sa.ami, `58${TEST_EXTENSION}`)).toBe(false);
    } finally {
      for (const s of [sa, sb]) {
        await s.db.getRepository(PeerEntity).delete({ name: unicode });
        await s.db.getRepository(PeerEntity).delete({ name: 'a_c' });
        await s.db.getRepository(PeerEntity).delete({ name: latin });
        await s.feature.reconcile('test');
      }
    }
    expect(await snapshot()).toEqual(before);
    expect((await peerRow(sa.db, 'a_b')).applyState).toBe('applied');
  });

  it('fails only the peer whose name equals a foreign row in the collation (case aside); the others are applied', async () => {
    // The select matches `Collide` for `collide` (a case-insensitive collation), the exact-text match
    // does not, and the unique name key refuses the insert.
    await connA.query(
      "INSERT INTO iaxfriends (name, type, host, port, secret, context) VALUES ('Collide', 'friend', '127.0.0.1', 4997, 'adminsecret654321', 'default')",
    );
    const before = await snapshot();
    await insertPeer(sa.db, { name: 'collide', prefix: '61', port: B.iaxPort, secret });
    await insertPeer(sa.db, { name: 'a_d', prefix: '62', port: B.iaxPort, secret });
    await insertPeer(sb.db, { name: 'a_d', prefix: '72', port: A.iaxPort, secret });
    try {
      await Promise.all([sa.feature.port.syncPeers('test'), sb.feature.port.syncPeers('test')]);
      for (const name of ['a_d', 'a_b']) {
        const p = await peerRow(sa.db, name);
        expect([name, p.applyState, p.applyError]).toEqual([name, 'applied', null]);
      }
      const c = await peerRow(sa.db, 'collide');
      expect(c.applyState).toBe('failed');
      expect(c.applyError).toMatch(/did not create/);
      expect((await snapshot()).friends.filter((f) => /^collide$/i.test(String(f.name)))).toEqual(
        before.friends.filter((f) => f.name === 'Collide'),
      );
      expect(await dial(sa.ami, `62${TEST_EXTENSION}`)).toBe(true);
      expect(await callAB()).toBe(true);
    } finally {
      for (const s of [sa, sb]) {
        await s.db.getRepository(PeerEntity).delete({ name: 'collide' });
        await s.db.getRepository(PeerEntity).delete({ name: 'a_d' });
        await s.feature.reconcile('test');
      }
      await connA.query("DELETE FROM iaxfriends WHERE name = 'Collide'");
    }
    const budgetless = (fs: Row[]) => fs.map(({ maxcallnumbers: _budget, ...f }) => f);
    expect(budgetless((await snapshot()).friends)).toEqual(
      budgetless(before.friends.filter((f) => f.name !== 'Collide')),
    );
  });

  it("carries a v1 partner's Unicode name exactly: its rows, and calls both ways authenticate by it", async () => {
    // Only stock µURU gives such names; IAX2 looks the caller up by the exact name it sends.
    const name = 'Grüße_Ωmega';
    // Asterisk's tables in utf8mb4, as its own migrations make them on a utf8mb4 server. (This run's
    // server defaults to latin1, where such a name cannot be stored at all.)
    for (const db of [dbA, dbB]) {
      const conn = await mysql.createConnection(db);
      try {
        for (const t of ['iaxfriends', 'extensions'])
          await conn.query(`ALTER TABLE ${t} CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci`);
      } finally {
        await conn.end();
      }
    }
    await insertPeer(sa.db, { name, prefix: '57', port: B.iaxPort, secret });
    await insertPeer(sb.db, { name, prefix: '67', port: A.iaxPort, secret });
    try {
      await Promise.all([sa.feature.port.syncPeers('test'), sb.feature.port.syncPeers('test')]);
      for (const db of [sa.db, sb.db]) {
        const p = await peerRow(db, name);
        expect([p.applyState, p.applyError]).toEqual(['applied', null]);
      }
      expect(await rows('SELECT name, username FROM iaxfriends WHERE name = ?', [name])).toEqual([
        { name, username: name },
      ]);
      expect(await rows("SELECT appdata FROM extensions WHERE exten = '_57XXXX'")).toEqual([
        { appdata: `IAX2/${name}/\${EXTEN:-4}` },
      ]);
      expect(await dial(sa.ami, `57${TEST_EXTENSION}`)).toBe(true);
      expect(await dial(sb.ami, `67${TEST_EXTENSION}`)).toBe(true);
    } finally {
      for (const s of [sa, sb]) {
        await s.db.getRepository(PeerEntity).delete({ name });
        await s.feature.reconcile('test');
      }
    }
    expect(await rows('SELECT name FROM iaxfriends WHERE name = ?', [name])).toEqual([]);
  });

  it('verifies every peer again within 5 s of FullyBooted after a restart', async () => {
    let bootedAt = 0;
    const onBoot = () => (bootedAt = Date.now());
    sa.ami.on('FullyBooted', onBoot);
    try {
      const killedAt = Date.now();
      await A.restart();
      await waitUntil(async () => bootedAt > killedAt, { what: 'FullyBooted', timeoutMs: 20000 });
      const report = await waitUntil(
        async () => {
          const r = sa.feature.reconciler.lastReport;
          return r && r.startedAt >= killedAt && r.applied.includes('a_b') ? r : null;
        },
        { what: 'a reconcile after the restart', timeoutMs: 10000, intervalMs: 50 },
      );
      expect(report.finishedAt - bootedAt).toBeLessThan(5000);
      expect(await callAB()).toBe(true);
    } finally {
      sa.ami.off('FullyBooted', onBoot);
    }
  });
});
