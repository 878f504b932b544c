/**
 * Partners' phonebooks, fetched by instance A from real partners over HTTP:
 * B (a sidecar process, uuru-fed/2, directory from a JSON file) and C (a
 * sidecar process peered in the legacy v1 dialect, directory from the
 * `extension` table of a µURU database on the harness MariaDB). A runs
 * in this process (the federation feature main wires, on its own HTTP
 * listener) so the test can call FederationAdmin.partnerPhonebook() before
 * an admin route exists, and so its clock can be moved past the cache time.
 *
 * A fourth "partner" is a fault-injecting fake (a bare HTTP server in this
 * process, peered by a row written into A's database): it serves hostile,
 * oversized, malformed and stalled phonebooks that no real partner would.
 */
import { typeormFederationStores } from '../../src/store/typeorm';
import { openSideDatabase } from '../../src/store/side-sql';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import express from 'express';
import type { DataSource } from 'typeorm';
import { loadConfig } from '../../src/config/load-config';
import { newPeerRow } from '../harness/peer-row';
import { DisabledAsteriskPort } from '../../src/core/asterisk-port';
import type { FederationAdmin, PartnerPhonebookView } from '../../src/core/federation-admin';
import { Metrics } from '../../src/core/metrics';
import { createFederationFeature, type FederationFeature } from '../../src/federation';
import { errorMiddleware } from '../../src/http/error-middleware';
import { createFederationHttpFeature } from '../../src/http/federation';
import { PeerEntity } from '../../src/store/entities';
import { openDatabase } from '../../src/store/data-source';
import { externalMariaDbFromEnv, type MariaDbServer, testDatabaseName } from '../harness/mariadb';
import { freePort } from '../harness/ports';
import { adminOk, destroyAll, incomingByName, startSidecar, type Sidecar } from '../harness/sidecar';
import { captureLogger } from '../harness/test-logger';
import { waitUntil } from '../harness/wait';

jest.setTimeout(120_000);

/** A's clock: real time plus an offset the test moves (the partners check signature times against theirs). */
const clock = { offset: 0, now: () => Date.now() + clock.offset };

interface InProcessInstance {
  url: string;
  db: DataSource;
  fed: FederationFeature;
  stop(): Promise<void>;
}

async function startInProcess(dataDir: string): Promise<InProcessInstance> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const config = loadConfig({
    env: {},
    overrides: {
      dataDir,
      instance: { publicUrl: url, extensionDigits: 4, iax2Host: '127.0.0.1' },
      database: { type: 'sqlite', sqlitePath: path.join(dataDir, 'a.sqlite') },
      asterisk: { enabled: false },
      federation: { httpTimeoutMs: 1500, outboxRetryBaseMs: 200, outboxRetryMaxMs: 1000 },
      phonebook: { partnerCacheSeconds: 10 },
      jobs: { outboxPollMs: 100 },
      log: { level: 'warn' },
    },
  });
  const db = await openDatabase(config);
  const logger = captureLogger('warn').logger;
  const metrics = new Metrics();
  const fed = createFederationFeature({
    config,
    db,
    clock,
    logger,
    fetch,
    metrics,
    asterisk: new DisabledAsteriskPort(),
    stores: typeormFederationStores(db, clock),
    openSideDatabase,
  });
  await fed.start?.();
  const routes = createFederationHttpFeature(fed.surface, { config, clock, metrics, logger });
  const app = express();
  if (routes.federationRouter) app.use(routes.federationRouter);
  app.use(errorMiddleware(logger));
  const server = await new Promise<http.Server>((resolve) => {
    const s = app.listen(port, '127.0.0.1', () => resolve(s));
  });
  return {
    url,
    db,
    fed,
    async stop() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await fed.stop?.();
      await db.destroy();
    },
  };
}

/** The fault-injecting fake partner: answers every request with whatever `reply` says now. */
type Reply = (req: http.IncomingMessage, res: http.ServerResponse) => void;

function startFakePartner(): Promise<{ url: string; set(r: Reply): void; stop(): Promise<void> }> {
  return new Promise((resolve) => {
    const fake: { url: string; reply: Reply; set(r: Reply): void; stop(): Promise<void> } = {
      url: '',
      reply: (_req, res) => {
        res.end('[]');
      },
      set(r: Reply) {
        fake.reply = r;
      },
      stop: () =>
        new Promise<void>((r) => {
          server.closeAllConnections();
          server.close(() => r());
        }),
    };
    const server = http.createServer((req, res) => fake.reply(req, res));
    server.listen(0, '127.0.0.1', () => {
      fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      resolve(fake);
    });
  });
}

const json =
  (body: unknown): Reply =>
  (_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(body));
  };

/** µURU's `extension` table as SQLModel creates it on MySQL/MariaDB (the user foreign key left out). */
const UURU_EXTENSION_TABLE = `CREATE TABLE extension (
  extension VARCHAR(255) NOT NULL,
  name VARCHAR(255) NOT NULL,
  location_name VARCHAR(255) NULL,
  lat INTEGER NULL,
  lon INTEGER NULL,
  type VARCHAR(255) NOT NULL,
  token VARCHAR(255) NOT NULL,
  password VARCHAR(255) NOT NULL,
  info VARCHAR(255) NOT NULL,
  public BOOL NOT NULL,
  user_id CHAR(32) NULL,
  extra_fields JSON NULL,
  PRIMARY KEY (extension)
)`;

describe('partners’ phonebooks', () => {
  let tmp: string;
  let a: InProcessInstance;
  let admin: FederationAdmin;
  let b: Sidecar;
  let c: Sidecar;
  let fake: Awaited<ReturnType<typeof startFakePartner>>;
  let mariadb: MariaDbServer;
  let uuruDb: string;
  let bBook: string;
  const peerIds: Record<'b' | 'c' | 'fake', string> = { b: '', c: '', fake: '' };

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'uuru-partner-phonebooks-'));
    bBook = path.join(tmp, 'b-phonebook.json');
    fs.writeFileSync(
      bBook,
      JSON.stringify([
        { extension: '2001', name: 'Kitchen' },
        { extension: '2002', name: 'Hidden', public: false },
        { extension: '3001', name: 'Reserved on B' },
        { extension: '2003', name: 'Bar' },
      ]),
    );
    const found = externalMariaDbFromEnv();
    if (!found)
      throw new Error('needs the harness MariaDB (UURU_TEST_MARIADB_*): run through the integration project');
    mariadb = found;
    uuruDb = testDatabaseName('uuru_pb');
    await mariadb.createDatabase(uuruDb);
    await mariadb.query(
      UURU_EXTENSION_TABLE.replace('CREATE TABLE extension', `CREATE TABLE \`${uuruDb}\`.extension`),
    );
    const row = (
      ext: string,
      name: string,
      pub: boolean,
      extra: Partial<Record<'loc' | 'lat' | 'lon', unknown>> = {},
    ) => [
      ext,
      name,
      extra.loc ?? null,
      extra.lat ?? null,
      extra.lon ?? null,
      'SIP',
      crypto.randomBytes(8).toString('hex'),
      'extension-sip-password',
      'private info',
      pub,
      null,
      '{}',
    ];
    for (const r of [
      row('4001', 'Info desk', true, { loc: 'Hangar', lat: 524_000_000, lon: 134_000_000 }),
      row('4002', 'Private line', false),
      row('4110', 'Fire watch', true),
      row('4003', 'Bar', true),
    ]) {
      await mariadb.query(
        `INSERT INTO \`${uuruDb}\`.extension (extension, name, location_name, lat, lon, type, token, password, info, public, user_id, extra_fields) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`,
        r,
      );
    }

    const sidecarConfig = {
      jobs: { outboxPollMs: 100 },
      federation: { outboxRetryBaseMs: 200, outboxRetryMaxMs: 1000 },
    };
    [b, c, fake] = await Promise.all([
      startSidecar({
        name: 'pb_b',
        config: sidecarConfig,
        env: { UURU_PHONEBOOK_FILE: bBook, UURU_RESERVED_EXTENSIONS: '3001' },
      }),
      startSidecar({
        name: 'pb_c',
        config: sidecarConfig,
        env: {
          UURU_RESERVED_EXTENSIONS: '411*',
          UURU_PHONEBOOK_DATABASE_SERVER: mariadb.host,
          UURU_PHONEBOOK_DATABASE_PORT: String(mariadb.port),
          UURU_PHONEBOOK_DATABASE_USER: mariadb.user,
          UURU_PHONEBOOK_DATABASE_PASSWORD: mariadb.password,
          UURU_PHONEBOOK_DATABASE_DB: uuruDb,
        },
      }),
      startFakePartner(),
    ]);
    a = await startInProcess(tmp);
    admin = a.fed.admin;

    // A ↔ B in uuru-fed/2, A ↔ C in µURU's v1: both requested by A, accepted on the partner.
    await admin.createOutgoingRequest({
      name: 'to_b',
      partner_url: b.federationUrl,
      prefix: '71',
      codec: 'g722',
    });
    await admin.createOutgoingRequest({
      name: 'to_c',
      partner_url: c.federationUrl,
      prefix: '72',
      codec: 'g722',
      dialect: 'v1',
    });
    for (const [partner, name] of [
      [b, 'to_b'],
      [c, 'to_c'],
    ] as const) {
      const inc = await waitUntil(() => incomingByName(partner, name), {
        what: `request ${name} on ${partner.name}`,
      });
      await adminOk(partner, 'POST', `/federation/incoming-requests/${inc.id}/accept`, { prefix: '81' }, 200);
    }
    const peers = await waitUntil(
      async () => {
        const list = await admin.listPeers();
        return list.length === 2 ? list : undefined;
      },
      { what: 'both peers on A' },
    );
    peerIds.b = peers.find((p) => p.name === 'to_b')?.id ?? '';
    peerIds.c = peers.find((p) => p.name === 'to_c')?.id ?? '';
    expect(peers.map((p) => [p.name, p.dialect]).sort()).toEqual([
      ['to_b', 'v2'],
      ['to_c', 'v1'],
    ]);

    // The fake partner: a v1 peer as the federation layer would store it.
    const fakePeer = newPeerRow({
      name: 'to_fake',
      prefix: '73',
      partnerUrl: fake.url,
      partnerServerName: new URL(fake.url).host,
      partnerIaxHost: '127.0.0.1',
      partnerIaxPort: 4569,
      codec: 'g722',
      secret: 'fakepartnersecret0123456789abcde',
      dialect: 'v1',
      role: 'requester',
    });
    await a.db.getRepository(PeerEntity).insert(fakePeer);
    peerIds.fake = fakePeer.id;
  }, 120_000);

  afterAll(async () => {
    await a?.stop().catch(() => undefined);
    await destroyAll([b, c]);
    await fake?.stop().catch(() => undefined);
    if (uuruDb) await mariadb?.dropDatabase(uuruDb).catch(() => undefined);
    await mariadb?.stop().catch(() => undefined);
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  const book = (id: string, refresh = false): Promise<PartnerPhonebookView> => {
    if (!admin.partnerPhonebook) throw new Error('FederationAdmin.partnerPhonebook is not implemented');
    return admin.partnerPhonebook(id, { refresh });
  };
  const dials = (v: PartnerPhonebookView) => v.entries.map((e) => [e.dial, e.extension, e.name]);

  it('shows a v2 partner’s public, federable numbers with our prefix in front', async () => {
    const v = await book(peerIds.b);
    expect(v.error).toBeNull();
    expect(v.peer).toEqual({ id: peerIds.b, name: 'to_b', prefix: '71', dialect: 'v2' });
    expect(dials(v)).toEqual([
      ['712001', '2001', 'Kitchen'],
      ['712003', '2003', 'Bar'],
    ]);
    expect(Math.abs(Date.parse(v.fetched_at ?? '') - clock.now())).toBeLessThan(10_000);
  });

  it('reads a v1 partner whose directory is a µURU database: public rows only, never its unfederated numbers', async () => {
    const direct = await fetch(`${c.federationUrl}/api/v1/extension/phonebook`);
    expect(direct.status).toBe(200);
    expect(await direct.json()).toEqual([
      {
        extension: '4001',
        name: 'Info desk',
        type: 'SIP',
        public: true,
        location_name: 'Hangar',
        lat: 524_000_000,
        lon: 134_000_000,
      },
      {
        extension: '4003',
        name: 'Bar',
        type: 'SIP',
        public: true,
        location_name: null,
        lat: null,
        lon: null,
      },
    ]);
    const v = await book(peerIds.c);
    expect(v.error).toBeNull();
    expect(dials(v)).toEqual([
      ['724001', '4001', 'Info desk'],
      ['724003', '4003', 'Bar'],
    ]);
  });

  it('keeps a fetched phonebook for the cache time, then fetches again; refresh fetches at once', async () => {
    const first = await book(peerIds.b);
    fs.writeFileSync(
      bBook,
      JSON.stringify([
        { extension: '2001', name: 'Kitchen' },
        { extension: '2004', name: 'Stage' },
      ]),
    );
    const cached = await book(peerIds.b);
    expect(cached.fetched_at).toBe(first.fetched_at);
    expect(dials(cached).map((d) => d[1])).toEqual(['2001', '2003']);

    clock.offset += 11_000; // partnerCacheSeconds is 10
    try {
      const again = await book(peerIds.b);
      expect(again.fetched_at).not.toBe(first.fetched_at);
      expect(dials(again).map((d) => d[1])).toEqual(['2001', '2004']);
    } finally {
      clock.offset = 0;
    }
    fs.writeFileSync(bBook, JSON.stringify([{ extension: '2005', name: 'Gate' }]));
    expect(dials(await book(peerIds.b, true))).toEqual([['712005', '2005', 'Gate']]);
  });

  it('validates what a partner sends: wrong-length, non-digit and duplicate extensions skipped, names cleaned and cut', async () => {
    fake.set(
      json([
        { extension: '5001', name: 'Evil\u0007\r\nName\u202e\u200b  here' },
        { extension: '5002', name: 'x'.repeat(500) },
        { extension: '12345', name: 'too long' },
        { extension: '501', name: 'too short' },
        { extension: 5003, name: 'a number, not a string' },
        { extension: '５００４', name: 'full-width digits' },
        { extension: '50 5', name: 'a space' },
        { extension: '5001', name: 'duplicate' },
        { extension: '5006', name: { html: '<b>' } },
        { extension: '5007', name: 'not public', public: false },
        'not an object',
        null,
        { extension: '5008' },
      ]),
    );
    const v = await book(peerIds.fake, true);
    expect(v.error).toBeNull();
    expect(dials(v)).toEqual([
      ['735001', '5001', 'Evil Name here'],
      ['735002', '5002', 'x'.repeat(64)],
      ['735008', '5008', ''],
    ]);
    expect(v.skipped).toBe(10);
  });

  it('a broken partner phonebook gives an error on its own view, keeps the last good entries and breaks nothing else', async () => {
    const good = await book(peerIds.fake, true);
    expect(good.entries.length).toBe(3);
    const broken: Array<[string, Reply, RegExp]> = [
      ['not an array', json({ entries: [] }), /not a JSON array/],
      ['not JSON', (_q, r) => r.end('<html>hello</html>'), /not valid JSON/],
      [
        'too many entries',
        json(
          Array.from({ length: 10_001 }, (_, i) => ({
            extension: String(i % 10_000).padStart(4, '0'),
            name: 'n',
          })),
        ),
        /more than the 10000/,
      ],
      ['too large', (_q, r) => r.end(`["${'x'.repeat(2 * 1024 * 1024)}"]`), /larger than/],
      [
        'an HTTP error',
        (_q, r) => {
          r.statusCode = 500;
          r.end('{"detail":"boom"}');
        },
        /HTTP 500: boom/,
      ],
      ['no answer (timeout)', () => undefined, /timed? ?out|aborted/i],
    ];
    for (const [what, reply, message] of broken) {
      fake.set(reply);
      const v = await book(peerIds.fake, true);
      expect({ what, error: v.error }).toEqual({ what, error: expect.stringMatching(message) });
      expect(v.entries).toEqual(good.entries);
      expect(v.fetched_at).toBe(good.fetched_at);
    }
    // The others are untouched, and A still serves its own federation endpoints.
    const all = admin.partnerPhonebooks ? await admin.partnerPhonebooks() : [];
    expect(all.map((x) => [x.peer.name, x.error === null])).toEqual([
      ['to_b', true],
      ['to_c', true],
      ['to_fake', false],
    ]);
    expect((await fetch(`${a.url}/.well-known/uuru-federation`)).status).toBe(200);
    await expect(book(crypto.randomUUID())).rejects.toMatchObject({ code: 'FED_UNKNOWN_PEER', status: 404 });
  });
});
