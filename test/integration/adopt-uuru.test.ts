/**
 * `uuru-fed adopt` against a stock µURU deployment's real databases (issue
 * 17): µURU's application database on a real PostgreSQL (its default) and on
 * MariaDB, its Asterisk database on MariaDB, with schema and rows as µURU's
 * migrations and its create_iax_peer leave them (test/harness/uuru-deployment.ts).
 * The sidecar is a real process; the CLI is the built one, run on the
 * sidecar's own data folder as an operator would.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { cli } from './cli-fixtures';
import { type Instance, LOCAL_CONTEXT, LOCAL_ECHO_EXTENSION, startInstances } from '../harness/instance';
import { waitUntil } from '../harness/wait';
import { externalMariaDbFromEnv, type MariaDbServer } from '../harness/mariadb';
import { startPostgres, type PostgresServer } from '../harness/postgres';
import { createUuruDeployment, type UuruDeploymentFixture, uuruSecret } from '../harness/uuru-deployment';
import {
  adminOk,
  clearSecret,
  countRows,
  destroyAll,
  peerRow,
  startSidecar,
  type Sidecar,
} from '../harness/sidecar';

/** The iaxfriends columns the realtime backend needs (asterisk-conf/realtime-iaxfriends.sql, recipe step 1). */
const REALTIME_COLUMNS = fs
  .readFileSync(path.resolve(__dirname, '..', '..', 'asterisk-conf', 'realtime-iaxfriends.sql'), 'utf8')
  .replace(/--.*$/gm, '')
  .trim()
  .replace(/;$/, '');

let pg: PostgresServer;
let maria: MariaDbServer;

beforeAll(async () => {
  const m = externalMariaDbFromEnv();
  if (!m) throw new Error('needs the integration project MariaDB (UURU_TEST_MARIADB_*)');
  maria = m;
  pg = await startPostgres();
}, 120_000);

afterAll(async () => {
  await pg?.stop();
  await maria?.stop();
});

/** The CLI on the sidecar's host: its data folder and config, and its admin API (adopt asks it to reconcile). */
const sidecarEnv = (s: Sidecar): Record<string, string> => ({
  UURU_DATA_DIR: s.dataDir,
  UURU_CONFIG_FILE: `${s.dataDir}/config.json`,
  UURU_ADMIN_URL: s.adminUrl,
  UURU_ADMIN_TOKEN: s.token,
});

async function claims(s: Sidecar): Promise<string[]> {
  const rows = await s.query<{ tableName: string; rowKey: string }>(
    'SELECT tableName, rowKey FROM {db}.asterisk_realtime_rows ORDER BY tableName, rowKey',
  );
  return rows.map((r) => `${r.tableName} ${r.rowKey}`);
}

/** Everything adopt may write in the sidecar, to show a refused or repeated run wrote nothing. */
async function sidecarDump(s: Sidecar): Promise<unknown> {
  return {
    peers: await s.query('SELECT * FROM {db}.peers ORDER BY name'),
    outgoing: await s.query('SELECT * FROM {db}.outgoing_requests ORDER BY id'),
    incoming: await s.query('SELECT * FROM {db}.incoming_requests ORDER BY id'),
    claims: await s.query('SELECT * FROM {db}.asterisk_realtime_rows ORDER BY tableName, rowKey'),
  };
}

describe.each([
  ['PostgreSQL', 'postgres' as const],
  ['MariaDB', 'mysql' as const],
])('adopt, µURU application database on %s', (_label, engine) => {
  let uuru: UuruDeploymentFixture;
  let b: Sidecar;
  const secret = uuruSecret();
  const outSecret = uuruSecret();
  const inSecret = uuruSecret();
  let peerId: string;
  let outId: string;
  let inId: string;
  let before: Awaited<ReturnType<UuruDeploymentFixture['federationRows']>>;

  const adopt = (...args: string[]) => {
    const where =
      engine === 'postgres'
        ? ['--uuru-env', uuru.envFile]
        : ['--app-db', uuru.appUrl, '--asterisk-db', uuru.asteriskUrl];
    return cli(['adopt', ...where, ...args], sidecarEnv(b));
  };

  beforeAll(async () => {
    uuru = await createUuruDeployment(engine, { maria, pg });
    peerId = await uuru.addPeer({
      name: 'partner_one',
      prefix: '5',
      partnerExtensionLength: 4,
      partnerIaxHost: '127.0.0.2',
      partnerUuruHost: 'http://127.0.0.2:8000',
      secret,
      codec: 'alaw',
    });
    outId = await uuru.addOutgoing({
      name: 'asked_them',
      partnerUuruHost: 'http://127.0.0.3:8000/',
      prefix: '7',
      secret: outSecret,
    });
    inId = await uuru.addIncoming({
      name: 'asked_us',
      partnerUuruHost: 'http://127.0.0.4:8000',
      partnerIaxHost: '127.0.0.4',
      partnerExtensionLength: 3,
      secret: inSecret,
      codec: 'ulaw',
    });
    before = await uuru.federationRows();
    b = await startSidecar({
      name: `adopt_${engine}`,
      db: 'sqlite',
      config: { asterisk: { stateBackend: 'realtime', realtimeDb: uuru.asteriskDb } },
    });
  }, 120_000);

  afterAll(async () => {
    await destroyAll([b]);
    await uuru?.drop();
  });

  it('--dry-run prints each peering and request, the Asterisk rows to take over, and changes nothing', async () => {
    const r = await adopt('--dry-run');
    expect(r.stderr).not.toMatch(/ADOPT_/);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`schema version 69a30a0afb72`);
    expect(r.stdout).toContain(
      'peer partner_one: prefix 5, partner http://127.0.0.2:8000, codec alaw: import as a v1 peer',
    );
    expect(r.stdout).toContain(
      "Asterisk rows taken over as the sidecar's own: iaxfriends partner_one, extensions pjsip_internal|_5XXXX|1",
    );
    expect(r.stdout).toContain(
      `outgoing request asked_them (${outId}): prefix 7, partner http://127.0.0.3:8000`,
    );
    expect(r.stdout).toContain(
      `incoming request asked_us (${inId}): partner http://127.0.0.4:8000, codec ulaw`,
    );
    expect(r.stdout).toContain('3 record(s) to import');
    expect(r.stdout).not.toContain(secret);
    expect(await countRows(b, 'peers')).toBe(0);
    expect(await claims(b)).toEqual([]);
    expect(await uuru.federationRows()).toEqual(before);
  });

  describe('refuses, changing nothing, and says what to fix', () => {
    const refused = async (code: string, fix: RegExp) => {
      const dump = await sidecarDump(b);
      const rows = await uuru.federationRows();
      // Side by side: neither writes anything, and each CLI run costs a process start.
      const [dry, r] = await Promise.all([adopt('--dry-run'), adopt()]);
      expect(dry.code).toBe(1);
      expect(dry.stdout).toContain(`conflict ${code}: `);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`uuru-fed: ${code}: nothing was changed`);
      expect(r.stderr).toMatch(fix);
      expect(await sidecarDump(b)).toEqual(dump);
      expect(await uuru.federationRows()).toEqual(rows);
    };

    it('an unknown µURU schema version', async () => {
      await uuru.app("UPDATE alembic_version SET version_num = 'a1b2c3d4e5f6'");
      try {
        await refused('ADOPT_SCHEMA_UNKNOWN', /schema version \(alembic_version\) is a1b2c3d4e5f6/);
      } finally {
        await uuru.app(`UPDATE alembic_version SET version_num = '69a30a0afb72'`);
      }
    });

    it('an empty prefix', async () => {
      const id = await uuru.addOutgoing({
        name: 'no_prefix',
        partnerUuruHost: 'http://127.0.0.5:8000',
        prefix: '',
        secret: uuruSecret(),
      });
      try {
        await refused('ADOPT_EMPTY_PREFIX', /outgoing request no_prefix has an empty prefix/);
      } finally {
        await uuru.app('DELETE FROM outgoingpeeringrequest WHERE name = ?', ['no_prefix']);
      }
      expect(id).toBeTruthy();
    });

    it('a peer whose Asterisk rows are missing (a half-done change between the two databases)', async () => {
      // µURU committed the peer row, then failed before its Asterisk rows.
      await uuru.app(
        'INSERT INTO peer (id, name, prefix, partner_extension_length, partner_iax_host, partner_uuru_host, secret, codec) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        [
          engine === 'postgres' ? '7d0f5f2e-62a4-4c55-9d8b-3b1d1a0d6a11' : '7d0f5f2e62a44c559d8b3b1d1a0d6a11',
          'half_done',
          '8',
          4,
          '127.0.0.6',
          'http://127.0.0.6:8000',
          uuruSecret(),
          'g722',
        ],
      );
      try {
        await refused('ADOPT_HALF_DONE', /peer half_done has no iaxfriends row/);
      } finally {
        await uuru.app('DELETE FROM peer WHERE name = ?', ['half_done']);
      }
    });

    it('a dial plan row left by a half-done teardown', async () => {
      await uuru.asterisk(
        "INSERT INTO extensions (context, exten, priority, app, appdata) VALUES ('pjsip_internal', '_9XXXX', 1, 'Dial', 'IAX2/gone_peer/${EXTEN:-4}')",
      );
      try {
        await refused('ADOPT_HALF_DONE', /for IAX2 friend 'gone_peer', but no peer of that name/);
      } finally {
        await uuru.asterisk("DELETE FROM extensions WHERE exten = '_9XXXX'");
      }
    });

    /** Leaves the sidecar as the other tests expect it: no peers, no pending incoming requests. */
    const clearSidecar = async () => {
      for (const p of await b.query<{ id: string }>('SELECT id FROM {db}.peers'))
        await b.admin('DELETE', `/federation/peers/${p.id}?local_only=true`);
      for (const r of await b.query<{ id: string }>(
        "SELECT id FROM {db}.incoming_requests WHERE state = 'pending'",
      ))
        await b.admin('POST', `/federation/incoming-requests/${r.id}/decline`, { local_only: true });
      expect(await countRows(b, 'peers')).toBe(0);
    };
    afterAll(clearSidecar);

    it('a name or a prefix the sidecar already uses', async () => {
      // A partner asks the sidecar to peer under the name µURU's peer has; the admin accepts it with prefix 55.
      const post = await fetch(`${b.federationUrl}/api/v1/federation/incoming/request`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          id: crypto.randomUUID(),
          name: 'partner_one',
          partner_uuru_host: 'http://127.0.0.9:8000',
          partner_iax_host: '127.0.0.9',
          partner_extension_length: 4,
          secret: uuruSecret(),
          codec: 'g722',
        }),
      });
      expect(post.status).toBe(200);
      await refused('ADOPT_NAME_CONFLICT', /a pending request of the sidecar is named 'partner_one'/);
      const list = await adminOk<{ requests: { id: string; name: string }[] }>(
        b,
        'GET',
        '/federation/incoming-requests',
        undefined,
        200,
      );
      const req = list.requests.find((x) => x.name === 'partner_one');
      await adminOk(
        b,
        'POST',
        `/federation/incoming-requests/${req?.id}/accept`,
        { prefix: '55', local_only: true },
        200,
      );
      try {
        await refused('ADOPT_NAME_CONFLICT', /the sidecar has a peer named 'partner_one' already/);
      } finally {
        const peer = await peerRow(b, 'partner_one');
        await adminOk(b, 'DELETE', `/federation/peers/${peer?.id}?local_only=true`, undefined, 204);
      }
      // Same prefix region under another name: 5 and 55 overlap.
      const post2 = await fetch(`${b.federationUrl}/api/v1/federation/incoming/request`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          id: crypto.randomUUID(),
          name: 'someone_else',
          partner_uuru_host: 'http://127.0.0.10:8000',
          partner_iax_host: '127.0.0.10',
          partner_extension_length: 4,
          secret: uuruSecret(),
          codec: 'g722',
        }),
      });
      expect(post2.status).toBe(200);
      const list2 = await adminOk<{ requests: { id: string; name: string }[] }>(
        b,
        'GET',
        '/federation/incoming-requests',
        undefined,
        200,
      );
      const req2 = list2.requests.find((x) => x.name === 'someone_else');
      await adminOk(
        b,
        'POST',
        `/federation/incoming-requests/${req2?.id}/accept`,
        { prefix: '55', local_only: true },
        200,
      );
      try {
        await refused(
          'ADOPT_PREFIX_CONFLICT',
          /prefix 5 overlaps the prefix 55 of the sidecar's peer 'someone_else'/,
        );
      } finally {
        const peer = await peerRow(b, 'someone_else');
        await adminOk(b, 'DELETE', `/federation/peers/${peer?.id}?local_only=true`, undefined, 204);
      }
    });
  });

  it('imports the peering and both requests under the same names, prefixes, secrets (sealed) and codecs, and takes the rows over', async () => {
    const r = await adopt();
    expect(r.stderr).not.toMatch(/ADOPT_|Error/);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('imported peer partner_one');
    expect(r.stdout).toContain('taken over: iaxfriends partner_one');
    const peer = await peerRow(b, 'partner_one');
    expect(peer).toMatchObject({
      id: peerId,
      prefix: '5',
      dialect: 'v1',
      partnerIaxHost: '127.0.0.2',
      partnerIaxPort: 4569,
      partnerExtensionLength: 4,
      partnerServerName: '127.0.0.2:8000',
      secret,
    });
    const [raw] = await b.query<{ secret: string; codec: string }>(
      'SELECT secret, codec FROM {db}.peers WHERE name = ?',
      ['partner_one'],
    );
    expect(raw.codec).toBe('alaw');
    expect(raw.secret).not.toContain(secret);
    const [out] = await b.query<{
      id: string;
      prefix: string;
      secret: string;
      state: string;
      partnerUrl: string;
      dialect: string;
    }>('SELECT * FROM {db}.outgoing_requests');
    expect(out).toMatchObject({
      id: outId,
      prefix: '7',
      state: 'pending',
      partnerUrl: 'http://127.0.0.3:8000',
      dialect: 'v1',
    });
    expect(out.secret).not.toContain(outSecret);
    expect(clearSecret(b, 'outgoing_requests', out.secret)).toBe(outSecret);
    const [inc] = await b.query<{
      requestId: string;
      secret: string;
      codec: string;
      partnerExtensionLength: number;
    }>('SELECT * FROM {db}.incoming_requests');
    expect(inc).toMatchObject({ requestId: inId, codec: 'ulaw', partnerExtensionLength: 3 });
    expect(clearSecret(b, 'incoming_requests', inc.secret)).toBe(inSecret);
    expect(await claims(b)).toEqual(['extensions pjsip_internal|_5XXXX|1', 'iaxfriends partner_one']);
    // Nothing in µURU's databases was touched by the import itself.
    expect(await uuru.federationRows()).toEqual(before);
  });

  it('a second adopt changes nothing', async () => {
    const dump = await sidecarDump(b);
    const r = await adopt();
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(
      'partner_one: prefix 5, partner http://127.0.0.2:8000, codec alaw: already adopted, unchanged',
    );
    expect(r.stdout).toContain('nothing to change');
    expect(r.stdout).not.toContain('imported');
    expect(await sidecarDump(b)).toEqual(dump);
  });

  it('--undo gives the rows back as µURU wrote them and forgets the adopted records', async () => {
    // What the realtime backend makes of a taken-over peer: its friend options, and its own dial plan row in place of µURU's.
    await uuru.asterisk(
      "UPDATE iaxfriends SET context = 'uuru-federation-in', port = 4569, qualify = 'yes', requirecalltoken = 'yes', transfer = 'no' WHERE name = 'partner_one'",
    );
    await uuru.asterisk("DELETE FROM extensions WHERE context = 'pjsip_internal' AND exten = '_5XXXX'");
    await b.query('SELECT 1');
    const r = await adopt('--undo');
    expect(r.stderr).not.toMatch(/ADOPT_|Error/);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('given back to µURU: iaxfriends partner_one');
    expect(r.stdout).toContain('peer partner_one: removed from the sidecar');
    expect(await uuru.federationRows()).toEqual(before);
    expect(await countRows(b, 'peers')).toBe(0);
    expect(await countRows(b, 'outgoing_requests')).toBe(0);
    expect(await countRows(b, 'incoming_requests')).toBe(0);
    expect(await claims(b)).toEqual([]);
    const again = await adopt('--undo');
    expect(again.stdout).toContain('nothing to undo');
  });
});

describe("the µURU phonebook source on µURU's default engine", () => {
  let s: Sidecar;
  const db = `uuru_pb_${crypto.randomUUID().replace(/-/g, '').slice(0, 12)}`;

  beforeAll(async () => {
    await pg.createDatabase(db);
    // µURU's `extension` table as SQLModel creates it on PostgreSQL (the user foreign key left out).
    await pg.query(
      `CREATE TABLE extension (extension VARCHAR NOT NULL, name VARCHAR NOT NULL, location_name VARCHAR,
         lat INTEGER, lon INTEGER, type VARCHAR NOT NULL, token VARCHAR NOT NULL, password VARCHAR NOT NULL,
         info VARCHAR NOT NULL, public BOOLEAN NOT NULL, user_id UUID, extra_fields JSON, PRIMARY KEY (extension))`,
      [],
      db,
    );
    for (const [ext, name, pub, loc, lat] of [
      ['4001', 'Info desk', true, 'Hangar', 524_000_000],
      ['4002', 'Private line', false, null, null],
      ['4003', 'Bar', true, null, null],
    ] as const)
      await pg.query(
        `INSERT INTO extension (extension, name, location_name, lat, lon, type, token, password, info, public, extra_fields)
           VALUES ($1, $2, $3, $4, NULL, 'SIP', 'tok', 'sip-password', 'private info', $5, '{}')`,
        [ext, name, loc, lat, pub],
        db,
      );
    s = await startSidecar({
      name: 'adopt_pb_pg',
      db: 'sqlite',
      env: {
        UURU_PHONEBOOK_DATABASE_TYPE: 'postgres',
        UURU_PHONEBOOK_DATABASE_SERVER: pg.host,
        UURU_PHONEBOOK_DATABASE_PORT: String(pg.port),
        UURU_PHONEBOOK_DATABASE_USER: pg.user,
        UURU_PHONEBOOK_DATABASE_PASSWORD: pg.password,
        UURU_PHONEBOOK_DATABASE_DB: db,
      },
    });
  }, 120_000);

  afterAll(async () => {
    await destroyAll([s]);
    await pg.dropDatabase(db).catch(() => undefined);
  });

  it("serves the public rows of µURU's extension table on PostgreSQL, never the private ones", async () => {
    const res = await fetch(`${s.federationUrl}/api/v1/extension/phonebook`);
    expect(res.status).toBe(200);
    const book = (await res.json()) as {
      extension: string;
      name: string;
      public: boolean;
      lat: number | null;
    }[];
    expect(book.map((e) => e.extension)).toEqual(['4001', '4003']);
    expect(book[0]).toMatchObject({ name: 'Info desk', public: true, lat: 524_000_000 });
    expect(JSON.stringify(book)).not.toContain('sip-password');
  });
});

const UURU_CONTEXT = 'pjsip_internal';
/** µURU's Asterisk dial plan plus what the recipe adds (docs/operations.md, step 2). */
const uuruDialplan = (realtimeBackend: boolean): string =>
  [
    '',
    `[${UURU_CONTEXT}]`,
    `exten => ${LOCAL_ECHO_EXTENSION},1,Answer()`,
    ' same => n,Echo()',
    ' same => n,Hangup()',
    'switch => Realtime/',
    `include => ${UURU_CONTEXT}-federation`,
    '',
    // The realtime backend's two contexts (the files backend's are in its generated file).
    ...(realtimeBackend
      ? [
          `[${UURU_CONTEXT}-federation]`,
          'switch => Realtime/',
          '',
          '[uuru-federation-in]',
          'switch => Realtime/',
          '',
        ]
      : []),
  ].join('\n');

/** A phone of `inst` in `context` calls `number`; resolves when answered (held `holdSec`) or failed. */
const call = async (inst: Instance, context: string, number: string, holdSec = 1): Promise<boolean> => {
  try {
    const r = await inst.ami.action(
      {
        Action: 'Originate',
        Channel: `Local/${number}@${context}/n`,
        Application: 'Wait',
        Data: String(holdSec),
        Timeout: '10000',
        Async: 'false',
      },
      { timeoutMs: 20_000 },
    );
    return (r.response ?? '').toLowerCase() === 'success';
  } catch (e) {
    // Asterisk answers a call that was not answered with an error response.
    if (e instanceof Error && /Originate failed/.test(e.message)) return false;
    throw e;
  }
};

const iaxChannels = async (inst: Instance): Promise<string[]> =>
  (await inst.channels())
    .filter((c) => c.channel.startsWith('IAX2/') && c.state === 'Up')
    .map((c) => c.channel)
    .sort();

/** µURU's side of a peering the partner accepted: the partner posts the request µURU's admin made, accepts it locally. */
const peerWithPartner = async (
  uuru: UuruDeploymentFixture,
  u: Instance,
  partner: Sidecar,
  o: { name: string; uuruPrefix: string; partnerPrefix: string; secret: string; partnerIax: string },
) => {
  const id = crypto.randomUUID();
  const post = await fetch(`${partner.federationUrl}/api/v1/federation/incoming/request`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      id,
      name: o.name,
      partner_uuru_host: u.sidecar.federationUrl,
      partner_iax_host: u.asterisk.iaxHost,
      partner_extension_length: LOCAL_ECHO_EXTENSION.length,
      secret: o.secret,
      codec: 'alaw',
    }),
  });
  expect(post.status).toBe(200);
  const list = await adminOk<{ requests: { id: string; name: string }[] }>(
    partner,
    'GET',
    '/federation/incoming-requests',
    undefined,
    200,
  );
  const req = list.requests.find((x) => x.name === o.name);
  await adminOk(
    partner,
    'POST',
    `/federation/incoming-requests/${req?.id}/accept`,
    { prefix: o.partnerPrefix, local_only: true },
    200,
  );
  // What µURU wrote when the partner's status update came in: the peer row, then its Asterisk rows.
  await uuru.addPeer({
    name: o.name,
    prefix: o.uuruPrefix,
    partnerExtensionLength: LOCAL_ECHO_EXTENSION.length,
    partnerIaxHost: o.partnerIax,
    partnerUuruHost: partner.federationUrl,
    secret: o.secret,
    codec: 'alaw',
  });
};

/**
 * The Asterisk end of adopt: µURU's Asterisk (realtime, its `[pjsip_internal]`
 * with `switch => Realtime/`, the recipe's additions) with a call up through
 * a µURU trunk to a partner that speaks v1 like stock µURU (a sidecar with its
 * own Asterisk, which never hears of the move: it keeps talking v1 to µURU's
 * web address, the sidecar's v1 API from the start here). A second partner
 * (no Asterisk) holds the peering the sidecar tears down from its side.
 */
describe('adopt with a call up: a realtime Asterisk and partners speaking v1', () => {
  let uuru: UuruDeploymentFixture;
  let u: Instance;
  let p: Instance;
  let p2: Sidecar;
  const secret = uuruSecret();
  const secret2 = uuruSecret();

  beforeAll(async () => {
    uuru = await createUuruDeployment('postgres', { maria, pg });
    // Recipe step 1: the columns for the options the sidecar sets.
    await uuru.asterisk(REALTIME_COLUMNS);
    [u, p] = await startInstances([
      {
        name: 'adopt_u',
        standardIaxPort: true,
        extensionsConf: uuruDialplan(true),
        asterisk: { realtime: uuru.asteriskDb },
        config: {
          asterisk: {
            stateBackend: 'realtime',
            realtimeDb: uuru.asteriskDb,
            localContext: UURU_CONTEXT,
            inboundTargetContext: UURU_CONTEXT,
          },
        },
      },
      { name: 'adopt_p', standardIaxPort: true },
    ]);
    p2 = await startSidecar({ name: 'adopt_p2', db: 'sqlite' });
    await peerWithPartner(uuru, u, p.sidecar, {
      name: 'partner_one',
      uuruPrefix: '5',
      partnerPrefix: '6',
      secret,
      partnerIax: p.asterisk.iaxHost,
    });
    await peerWithPartner(uuru, u, p2, {
      name: 'partner_two',
      uuruPrefix: '7',
      partnerPrefix: '8',
      secret: secret2,
      partnerIax: '127.0.0.1',
    });
    await waitUntil(async () => (await peerRow(p.sidecar, 'partner_one'))?.applyState === 'applied', {
      what: "the partner's trunk applied",
      timeoutMs: 30_000,
    });
  }, 240_000);

  afterAll(async () => {
    await Promise.allSettled([u?.stop(), p?.stop(), p2?.destroy()]);
    await uuru?.drop();
  });

  let held: { u: string[]; p: string[] };

  it("before adopt: µURU's trunk carries calls both ways, and one stays up", async () => {
    expect(await call(u, UURU_CONTEXT, `5${LOCAL_ECHO_EXTENSION}`)).toBe(true);
    expect(await call(p, LOCAL_CONTEXT, `6${LOCAL_ECHO_EXTENSION}`)).toBe(true);
    const started = await u.ami.action({
      Action: 'Originate',
      Channel: `Local/5${LOCAL_ECHO_EXTENSION}@${UURU_CONTEXT}/n`,
      Application: 'Wait',
      Data: '600',
      Timeout: '10000',
      Async: 'true',
    });
    expect(started.response).toBe('Success');
    await waitUntil(async () => (await iaxChannels(u)).length === 1 && (await iaxChannels(p)).length === 1, {
      what: 'the held call up on both sides',
      timeoutMs: 15_000,
    });
    held = { u: await iaxChannels(u), p: await iaxChannels(p) };
    expect(held.u[0]).toMatch(/^IAX2\/partner_one-/);
  }, 60_000);

  it('adopt keeps the call up, rewrites the rows in place, and new calls go both ways through the sidecar', async () => {
    const r = await cli(['adopt', '--uuru-env', uuru.envFile], sidecarEnv(u.sidecar));
    expect(r.stderr).not.toMatch(/ADOPT_|Error|could not ask/);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('taken over: iaxfriends partner_one');
    // The running sidecar was asked to reconcile: it rewrites the friend in place and moves the dial plan row.
    await waitUntil(
      async () => {
        const [f] = await uuru.asterisk<{ context: string }>(
          "SELECT context FROM iaxfriends WHERE name = 'partner_one'",
        );
        const old = await uuru.asterisk(
          "SELECT id FROM extensions WHERE context = 'pjsip_internal' AND exten = '_5XXXX'",
        );
        return f?.context === 'uuru-federation-in' && old.length === 0;
      },
      { what: "the sidecar's rows in place of µURU's", timeoutMs: 30_000 },
    );
    const [mine] = await uuru.asterisk<{ appdata: string }>(
      `SELECT appdata FROM extensions WHERE context = '${UURU_CONTEXT}-federation' AND exten = '_5XXXX'`,
    );
    expect(mine?.appdata).toContain('IAX2/partner_one/');
    expect((await peerRow(u.sidecar, 'partner_one'))?.applyState).toBe('applied');
    // The call is still up on both sides, the same channels, a while after the rewrite (and its prune).
    await new Promise((res) => setTimeout(res, 3000));
    expect({ u: await iaxChannels(u), p: await iaxChannels(p) }).toEqual(held);
    // The realtime backend prunes a friend it rewrote (a cached peer keeps its old settings); with a call
    // up on that friend, the prune drops nothing (docs/asterisk.md).
    // µURU's iax.conf has no rtcachefriends: the friend is read from the table on each call, never cached,
    // so there is nothing to prune.
    expect(await u.asterisk.cli('iax2 prune realtime partner_one')).toContain('not found in the cache');
    await new Promise((res) => setTimeout(res, 1000));
    expect({ u: await iaxChannels(u), p: await iaxChannels(p) }).toEqual(held);
    // New calls both ways, through the sidecar's trunk (µURU's dial plan row is gone).
    expect(await call(u, UURU_CONTEXT, `5${LOCAL_ECHO_EXTENSION}`)).toBe(true);
    expect(await call(p, LOCAL_CONTEXT, `6${LOCAL_ECHO_EXTENSION}`)).toBe(true);
    // Those two hang up; the held call goes on.
    await waitUntil(
      async () =>
        JSON.stringify({ u: await iaxChannels(u), p: await iaxChannels(p) }) === JSON.stringify(held),
      { what: 'only the held call left up', timeoutMs: 15_000 },
    );
  }, 120_000);

  it('teardown from our side (admin API) tells the partner over v1 and removes the Asterisk rows', async () => {
    const two = await peerRow(u.sidecar, 'partner_two');
    await adminOk(u.sidecar, 'DELETE', `/federation/peers/${two?.id}`, undefined, 204);
    await waitUntil(async () => (await peerRow(p2, 'partner_two')) === undefined, {
      what: "the partner's peer gone after our v1 teardown",
      timeoutMs: 30_000,
    });
    await waitUntil(
      async () =>
        (await uuru.asterisk("SELECT id FROM iaxfriends WHERE name = 'partner_two'")).length === 0 &&
        (await uuru.asterisk("SELECT id FROM extensions WHERE appdata LIKE 'IAX2/partner_two/%'")).length ===
          0,
      { what: "partner_two's Asterisk rows gone", timeoutMs: 30_000 },
    );
  }, 60_000);

  it("teardown from their side (v1, to µURU's web address) removes the peer and its Asterisk rows", async () => {
    const one = await peerRow(p.sidecar, 'partner_one');
    await adminOk(p.sidecar, 'DELETE', `/federation/peers/${one?.id}`, undefined, 204);
    await waitUntil(async () => (await peerRow(u.sidecar, 'partner_one')) === undefined, {
      what: 'our peer gone after their v1 teardown',
      timeoutMs: 30_000,
    });
    await waitUntil(
      async () =>
        (await uuru.asterisk("SELECT id FROM iaxfriends WHERE name = 'partner_one'")).length === 0 &&
        (await uuru.asterisk("SELECT id FROM extensions WHERE appdata LIKE 'IAX2/partner_one/%'")).length ===
          0,
      { what: "partner_one's Asterisk rows gone", timeoutMs: 30_000 },
    );
    expect(await call(u, UURU_CONTEXT, `5${LOCAL_ECHO_EXTENSION}`)).toBe(false);
    expect(await uuru.federationRows()).toEqual({
      friends: [],
      dialplan: [expect.objectContaining({ exten: '_XXXX' })],
    });
  }, 90_000);
});

/**
 * The calls below go back to back, some 20 call setups a second both ways. Each holds a call number at
 * the partner's address until 60 s after it ends, and the sidecar's friend sets that address's budget
 * (`maxcallnumbers`: 2 × maxCallsPerPeer + a minute's qualify probes, docs/asterisk.md), sized for a
 * trunk's traffic: at the default (125 here) a few seconds of this used it up, and from then on calls
 * both ways were refused ("maxcallnumber limit of 125 ... has been reached!") for up to a minute, also
 * after the sidecar's friend was gone again (the address keeps its limit). So both sidecars get room.
 */
const CALL_STORM = 500;

/**
 * The files backend's takeover on a real Asterisk that reads µURU's realtime
 * rows: the sidecar writes its files and makes them live, and only then are
 * µURU's rows deleted; calls placed all through the takeover (and through
 * `--undo`) are answered, and a call up stays up.
 */
describe('adopt on the files backend: every peer reachable at every moment', () => {
  let uuru: UuruDeploymentFixture;
  let u: Instance;
  let p: Instance;
  const secret = uuruSecret();
  let before: Awaited<ReturnType<UuruDeploymentFixture['federationRows']>>;
  let held: { u: string[]; p: string[] };

  beforeAll(async () => {
    uuru = await createUuruDeployment('mysql', { maria });
    [u, p] = await startInstances([
      {
        name: 'adopt_fu',
        standardIaxPort: true,
        extensionsConf: uuruDialplan(false),
        // µURU's Asterisk reads its friends and dial plan from its database; the sidecar writes files.
        asterisk: { realtime: uuru.asteriskDb },
        config: {
          asterisk: {
            localContext: UURU_CONTEXT,
            inboundTargetContext: UURU_CONTEXT,
            maxCallsPerPeer: CALL_STORM,
          },
        },
      },
      { name: 'adopt_fp', standardIaxPort: true, config: { asterisk: { maxCallsPerPeer: CALL_STORM } } },
    ]);
    await peerWithPartner(uuru, u, p.sidecar, {
      name: 'partner_f',
      uuruPrefix: '5',
      partnerPrefix: '6',
      secret,
      partnerIax: p.asterisk.iaxHost,
    });
    await waitUntil(async () => (await peerRow(p.sidecar, 'partner_f'))?.applyState === 'applied', {
      what: "the partner's trunk applied",
      timeoutMs: 30_000,
    });
    before = await uuru.federationRows();
  }, 240_000);

  afterAll(async () => {
    await Promise.allSettled([u?.stop(), p?.stop()]);
    await uuru?.drop();
  });

  /** How often `inst`'s Asterisk has reloaded chan_iax2 so far (its log). */
  const iaxReloads = (inst: Instance): number =>
    (fs.readFileSync(inst.asterisk.logFile, 'utf8').match(/Reloading module 'chan_iax2\.so'/g) ?? []).length;

  type Placed = { way: 'out' | 'in'; ok: boolean };
  /** Calls both ways, one after the other (ours out to the partner, the partner's in), until `done` says stop. */
  const callWhile = async (done: () => boolean): Promise<Placed[]> => {
    const results: Placed[] = [];
    while (!done()) {
      results.push({ way: 'out', ok: await call(u, UURU_CONTEXT, `5${LOCAL_ECHO_EXTENSION}`) });
      results.push({ way: 'in', ok: await call(p, LOCAL_CONTEXT, `6${LOCAL_ECHO_EXTENSION}`) });
    }
    return results;
  };

  /**
   * Runs `step` (an adopt or an undo) while calls go back to back both ways; its result, every call, and
   * how often U's Asterisk reloaded chan_iax2 meanwhile.
   */
  const callsDuring = async <T>(
    step: () => Promise<T>,
  ): Promise<{ result: T; calls: Placed[]; reloads: number }> => {
    const reloadsBefore = iaxReloads(u);
    let finished = false;
    const running = step().finally(() => (finished = true));
    const calls = await callWhile(() => finished);
    const result = await running;
    expect(calls.length).toBeGreaterThan(0);
    return { result, calls, reloads: iaxReloads(u) - reloadsBefore };
  };

  /**
   * Every call answered, with two bounded exceptions seen on real Asterisks (docs/asterisk.md "files
   * (default)"). A partner's call whose setup meets a chan_iax2 reload on U can be refused: at most one
   * per reload. Ours go out through µURU's realtime dial plan row until it is deleted (Asterisk consults
   * a context's `switch` before its `include`s); pbx_realtime looks the row up again between matching
   * and running the step, so a call that matched just before the deletion finds no row and fails with
   * nothing logged (one outgoing call in one CI run of ours): at most one such call for the one deletion.
   */
  const expectAnswered = (calls: Placed[], reloads: number): void => {
    expect(calls.filter((c) => c.way === 'out' && !c.ok).length).toBeLessThanOrEqual(1);
    expect(calls.filter((c) => c.way === 'in' && !c.ok).length).toBeLessThanOrEqual(reloads);
    expect(calls.filter((c) => c.ok).length).toBeGreaterThan(calls.length / 2);
  };

  it("a call through µURU's rows is up before", async () => {
    expect(await call(u, UURU_CONTEXT, `5${LOCAL_ECHO_EXTENSION}`)).toBe(true);
    expect(await call(p, LOCAL_CONTEXT, `6${LOCAL_ECHO_EXTENSION}`)).toBe(true);
    const started = await u.ami.action({
      Action: 'Originate',
      Channel: `Local/5${LOCAL_ECHO_EXTENSION}@${UURU_CONTEXT}/n`,
      Application: 'Wait',
      Data: '600',
      Timeout: '10000',
      Async: 'true',
    });
    expect(started.response).toBe('Success');
    await waitUntil(async () => (await iaxChannels(u)).length === 1 && (await iaxChannels(p)).length === 1, {
      what: 'the held call up on both sides',
      timeoutMs: 15_000,
    });
    held = { u: await iaxChannels(u), p: await iaxChannels(p) };
  }, 60_000);

  it("writes its files, makes them live, then deletes µURU's rows; calls during it are answered", async () => {
    const {
      result: r,
      calls,
      reloads,
    } = await callsDuring(() =>
      cli(
        ['adopt', '--app-db', uuru.appUrl, '--asterisk-db', uuru.asteriskUrl, '--wait', '60'],
        sidecarEnv(u.sidecar),
      ),
    );
    expect(r.stderr).not.toMatch(/ADOPT_|Error|could not ask|not live/);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("removed from µURU's Asterisk database: iaxfriends partner_f");
    expect(r.stdout).toContain("removed from µURU's Asterisk database: extensions pjsip_internal|_5XXXX|1");
    // The sidecar's friend went live through a reload of chan_iax2.
    expect(reloads).toBeGreaterThan(0);
    expectAnswered(calls, reloads);
    // µURU's federation rows are gone (its local fallback stays); the trunk is the sidecar's file now.
    expect(await uuru.federationRows()).toEqual({
      friends: [],
      dialplan: [expect.objectContaining({ exten: '_XXXX' })],
    });
    expect(u.generatedConfig()).toContain('[partner_f]');
    expect(await call(u, UURU_CONTEXT, `5${LOCAL_ECHO_EXTENSION}`)).toBe(true);
    expect(await call(p, LOCAL_CONTEXT, `6${LOCAL_ECHO_EXTENSION}`)).toBe(true);
    await waitUntil(
      async () =>
        JSON.stringify({ u: await iaxChannels(u), p: await iaxChannels(p) }) === JSON.stringify(held),
      { what: 'the held call still up, alone', timeoutMs: 15_000 },
    );
  }, 150_000);

  it('--undo gives µURU its rows back before the sidecar lets go; calls during it are answered', async () => {
    const reloadsAtUndo = iaxReloads(u);
    const { result: r, calls: during } = await callsDuring(() =>
      cli(
        ['adopt', '--app-db', uuru.appUrl, '--asterisk-db', uuru.asteriskUrl, '--undo'],
        sidecarEnv(u.sidecar),
      ),
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('given back to µURU: iaxfriends partner_f');
    expect(await uuru.federationRows()).toEqual(before);
    // The sidecar forgets the peer and drops it from its files; µURU's rows carry the calls again.
    await waitUntil(async () => !u.generatedConfig().includes('[partner_f]'), {
      what: "partner_f gone from the sidecar's files",
      timeoutMs: 30_000,
    });
    // Counted from the undo's start to here: the sidecar's reload that drops the friend comes after the CLI ends.
    const reloads = iaxReloads(u) - reloadsAtUndo;
    let rounds = 0;
    const after = await callWhile(() => rounds++ >= 2);
    expectAnswered(during, reloads);
    expect(after.filter((c) => !c.ok)).toEqual([]);
    expect(await peerRow(u.sidecar, 'partner_f')).toBeUndefined();
  }, 150_000);
});
