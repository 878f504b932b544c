/**
 * v1 → v2 upgrade of a peering (issue 15), end to end on real parts: two
 * sidecars (in-process, each on its own injected ManualClock) with a real
 * Asterisk each (both on IAX2 port 4569 at loopback addresses of their own,
 * since v1 carries no port), once per state backend: files (generated
 * iax-uuru-federation.conf) and realtime (rows in each Asterisk's
 * iaxfriends/extensions tables on one MariaDB, read by res_config_mysql). Each sidecar's federation address
 * is a recording INSPECTION/FAULT proxy (test/harness/http-fault-injector.ts)
 * in front of its listener, so every call between them crosses a proxy that
 * keeps both bodies, and can be made to fail.
 *
 * B starts with uuru-fed/2 switched off (`federation.v2Enabled: false`, a
 * v1-only instance as stock µURU is); A asks it to peer, which therefore
 * goes v1 (the secret travels in clear, as v1 does). A call is set up and
 * held. Then B is restarted with v2 on, the way an operator would flip the
 * setting, and:
 * - forged upgrade proposals (someone who knows A's server name and can
 *   even serve a descriptor under it, but does not hold the v1 secret; and a
 *   key A never published) are refused by B with their codes and change
 *   nothing;
 * - A's v1-upgrade job notices B's descriptor by itself and the upgrade
 *   completes: the same peer (name, prefix, request id) is v2 on both sides;
 * - at every step of the switch (both before it, A after it while B is still
 *   before it, both after it, the v1 secret dropped after the overlap), the
 *   call set up before stays up and new calls both ways are answered, all
 *   encrypted (CHANNEL(secure_media)=1);
 * - no body that crossed the wire from the upgrade on holds the v1 secret or
 *   any secret Asterisk holds after it (while the v1 request before did hold
 *   the v1 secret: the recorder sees the bodies).
 * Then, on the same two nodes: anti-entropy compares the trunk secret epochs
 * (a forced rotation whose answer the fault proxy loses is reported by B and
 * caught up by A's next run, both ending on the same epoch with calls
 * working); and, the upgraded peering torn down, a v2 peering made while B
 * did not offer epochs (a fixed secret) moves onto them by the switch A's job
 * agrees with B, a long call and new calls working at every step.
 * During the switch overlap the files backend's friend holds two secret lines
 * (the v1 one accepted, the epoch one sent); a realtime row holds one secret,
 * so there the v1 secret stays on the `<name>` row and the sent epoch's
 * `<name>-eN` row is a whole friend that the dial plan dials (docs/asterisk.md).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { signRequest } from '../../src/federation/http-signature';
import { rawPublicKey } from '../../src/federation/key-encoding';
import { upgradeBinding, upgradeBindingText } from '../../src/federation/v1-upgrade';
import { createRealtimeTables, ECHO_EXTEN, type RealtimeDb, TEST_CONTEXT } from '../harness/asterisk';
import {
  adminApi as api,
  callsWork as callsWorkBetween,
  type ClockedNode,
  holdLongCall,
  iaxChannels,
  LOCAL,
  peerNamed,
  startClockedNode,
} from '../harness/clocked-sidecars';
import { type HttpFaultInjector, startHttpFaultInjector } from '../harness/http-fault-injector';
import { allOrNone } from '../harness/instance';
import { ManualClock } from '../harness/manual-clock';
import { type MariaDbServer, startMariaDb, testDatabaseName } from '../harness/mariadb';
import { waitUntil } from '../harness/wait';

jest.setTimeout(600_000);

const CONF = path.resolve(__dirname, '..', '..', 'asterisk-conf');

const DAY = 86_400_000;
const EPOCH_MS = 30 * DAY;
const OVERLAP_MS = DAY;
const SWITCH_DELAY_S = 300;
const NAME = 'upg_ab';
const PREFIX_ON_A = '71';
const PREFIX_ON_B = '72';
/** Mid-epoch, so no epoch boundary's overlap meets the switch. */
const T0 = Math.ceil(Date.parse('2026-01-01T00:00:00Z') / EPOCH_MS) * EPOCH_MS + 10 * DAY;

type Backend = 'files' | 'realtime';

interface Node extends ClockedNode {
  /** The recording proxy in front of the listener: the node's public federation address. */
  proxy: HttpFaultInjector;
  /** Realtime: a connection to this Asterisk's realtime database; files: null. */
  rt: mysql.Connection | null;
  /** Restarts the sidecar with uuru-fed/2 on or off (same ports, same data). */
  restartWith(v2Enabled: boolean): Promise<void>;
}

/** Sidecar settings that switch v2 on or off. */
const v2Setting = (v2Enabled: boolean) => ({ federation: { v2Enabled } });

/** A realtime database for one Asterisk: its stock tables and the columns the sidecar needs added. */
async function realtimeDb(server: MariaDbServer, prefix: string): Promise<RealtimeDb> {
  const database = testDatabaseName(prefix);
  await server.createDatabase(database);
  const db = { host: server.host, port: server.port, user: server.user, password: server.password, database };
  await createRealtimeTables(db);
  const conn = await mysql.createConnection({ ...db, multipleStatements: true });
  await conn.query(fs.readFileSync(path.join(CONF, 'realtime-iaxfriends.sql'), 'utf8'));
  await conn.end();
  return db;
}

async function startNode(
  name: string,
  clock: ManualClock,
  v2Enabled: boolean,
  realtime: RealtimeDb | null,
): Promise<Node> {
  const proxy = await startHttpFaultInjector();
  let node: ClockedNode | null = null;
  let rt: mysql.Connection | null = null;
  try {
    node = await startClockedNode({
      name,
      clock,
      asterisk: {
        standardIaxPort: true,
        // Realtime: the file an admin adds (static contexts switching to the rows), reaching the test context too.
        ...(realtime
          ? {
              extensionsConf: `${fs.readFileSync(path.join(CONF, 'extensions-realtime.conf'), 'utf8').trimEnd()}\ninclude => ${TEST_CONTEXT}\n`,
            }
          : {}),
      },
      realtime,
      publicUrl: (listenerUrl) => {
        proxy.setTarget(listenerUrl);
        return proxy.url;
      },
      config: {
        jobs: { v1UpgradePollMs: 1000 },
        federation: {
          v2Enabled,
          upgradeSwitchDelaySeconds: SWITCH_DELAY_S,
          // The clocks stand still between steps, so rate limits would never refill: out of the way.
          rateLimitPerIpPerMinute: 1_000_000,
          rateLimitPerOriginPerMinute: 1_000_000,
        },
      },
    });
    rt = realtime ? await mysql.createConnection(realtime) : null;
  } catch (e) {
    await node?.stop().catch(() => undefined);
    await proxy.close().catch(() => undefined);
    throw e;
  }
  const started = node;
  const stopNode = started.stop;
  return Object.assign(started, {
    proxy,
    rt,
    restartWith: (v2: boolean) => started.restart(v2Setting(v2)),
    async stop() {
      await proxy.close().catch(() => undefined);
      await rt?.end().catch(() => undefined);
      await stopNode();
    },
  });
}

interface PeerJson {
  id: string;
  name: string;
  prefix: string;
  dialect: string;
  request_id?: string;
  apply_state: string;
  apply_error: string | null;
  partner_error: string | null;
  trunk_rotation: {
    length_seconds: number;
    epoch: number;
    sends: string;
    switch_at: string | null;
    forced_rotation_at: string | null;
  } | null;
}

const peerOn = (n: Node, name = NAME): Promise<PeerJson | undefined> => peerNamed<PeerJson>(n, name);

/**
 * What a side holds for the peering, from the generated file or the realtime
 * rows: the IAX2 peer its outbound dial plan step dials, the username and
 * the secret that one sends, and the secrets each object of the peering
 * accepts, by the name a caller sends (the friend `<name>`, the epoch
 * objects `<name>-e0`/`-e1`); `form` is the backend's own shape (files: the
 * friend's secret lines; realtime: each row's type, and whether it has a host).
 */
interface Trunk {
  dials: string;
  username: string | undefined;
  sends: string | undefined;
  accepts: Record<string, string[]>;
  form: Record<string, string[]>;
}

async function trunkOf(n: Node, name = NAME): Promise<Trunk> {
  if (n.rt) {
    const [rows] = await n.rt.query(
      'SELECT name, type, host, username, secret FROM iaxfriends WHERE name = ? OR name LIKE ?',
      [name, `${name}-e%`],
    );
    const objects = rows as {
      name: string;
      type: string;
      host: string | null;
      username: string | null;
      secret: string;
    }[];
    const [steps] = await n.rt.query('SELECT appdata FROM extensions WHERE context = ? AND appdata LIKE ?', [
      `${LOCAL}-federation`,
      `IAX2/${name}%`,
    ]);
    const dialStep = (steps as { appdata: string }[])[0]?.appdata ?? '';
    const dials = dialStep.slice('IAX2/'.length, dialStep.indexOf('/', 'IAX2/'.length));
    const dialled = objects.find((o) => o.name === dials);
    return {
      dials,
      username: dialled?.username ?? undefined,
      sends: dialled?.secret,
      accepts: Object.fromEntries(objects.map((o) => [o.name, [o.secret]])),
      form: Object.fromEntries(objects.map((o) => [o.name, [o.type, o.host === null ? 'no host' : 'host']])),
    };
  }
  const file = path.join(n.ast.configDir, 'iax-uuru-federation.conf');
  const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  const sections = text.split(/^\[/m);
  const lines = (section: string, key: string) =>
    section
      .split('\n')
      .filter((l) => l.startsWith(`${key}=`))
      .map((l) => l.slice(key.length + 1));
  const ours = sections
    .filter((sec) => sec.startsWith(`${name}]`) || sec.startsWith(`${name}-e`))
    .map((sec) => ({ name: sec.slice(0, sec.indexOf(']')), secrets: lines(sec, 'secret'), sec }));
  const friend = ours.find((o) => o.name === name);
  return {
    // The files backend always dials the friend (its outbound step is `IAX2/<name>/...`).
    dials: name,
    username: friend && lines(friend.sec, 'username')[0],
    sends: friend?.secrets.at(-1),
    accepts: Object.fromEntries(ours.map((o) => [o.name, o.secrets])),
    form: { friendSecretLines: friend?.secrets ?? [] },
  };
}

describe.each<Backend>(['files', 'realtime'])(
  'a v1 peering between two sidecars upgrades to uuru-fed/2 when one turns v2 on (%s backend)',
  (backend) => {
    let A: Node;
    let B: Node;
    let longOnA: string;
    let longOnB: string;
    let v1Secret: string;
    /** The v1 peering's request id (A's outgoing request). */
    let requestId: string;
    /** Exchanges recorded by each proxy before the upgrade could start. */
    let markA = 0;
    let markB = 0;
    let switchAt = 0;
    /** The epoch user of the upgraded trunk (`<name>-e0` or `-e1`) and its secret (no boundary is crossed here). */
    let epochUser = '';
    let epochSecret = '';
    /** Every secret Asterisk held for the trunk after the upgrade (epoch secrets). */
    const newSecrets = new Set<string>();

    let server: MariaDbServer | null = null;
    const databases: RealtimeDb[] = [];

    beforeAll(async () => {
      if (backend === 'realtime') {
        server = await startMariaDb();
        databases.push(await realtimeDb(server, 'upg_a'), await realtimeDb(server, 'upg_b'));
      }
      [A, B] = await allOrNone(
        [
          startNode(`upg${backend[0]}a`, new ManualClock(T0), true, databases[0] ?? null),
          startNode(`upg${backend[0]}b`, new ManualClock(T0), false, databases[1] ?? null),
        ],
        (n) => n.stop(),
      );
    }, 240_000);

    afterAll(async () => {
      await Promise.allSettled([A?.stop(), B?.stop()]);
      for (const db of databases) await server?.dropDatabase(db.database).catch(() => undefined);
      await server?.stop();
    });

    async function applied(n: Node, check: (t: Trunk) => boolean, what: string) {
      await waitUntil(async () => check(await trunkOf(n)) || undefined, {
        what: `${what} on ${n.name}`,
        timeoutMs: 15_000,
      });
      // The run that wrote the file is done; a reconcile now returns once Asterisk has re-read it.
      await api(n, 'POST', '/reconcile', {});
    }

    /** New calls each way answered and encrypted on both ends; the long call still up and encrypted. */
    async function callsWork(moment: string): Promise<void> {
      await callsWorkBetween(
        {
          a: A,
          b: B,
          numberFromA: `${PREFIX_ON_A}${ECHO_EXTEN}`,
          numberFromB: `${PREFIX_ON_B}${ECHO_EXTEN}`,
          longOnA,
          longOnB,
        },
        moment,
      );
    }

    it('peers in v1 with B on v1 only (no descriptor), and a call is set up and held', async () => {
      expect((await fetch(`${B.federationUrl}/.well-known/uuru-federation`)).status).toBe(404);
      await api(
        A,
        'POST',
        '/federation/outgoing-requests',
        { name: NAME, partner_url: B.federationUrl, prefix: PREFIX_ON_A, codec: 'ulaw' },
        201,
      );
      const incoming = await waitUntil(
        async () =>
          (
            await api<{ requests: { id: string; request_id: string; name: string; dialect: string }[] }>(
              B,
              'GET',
              '/federation/incoming-requests',
            )
          ).requests.find((r) => r.name === NAME),
        { what: 'the request on B' },
      );
      expect(incoming.dialect).toBe('v1');
      requestId = incoming.request_id;
      await api(B, 'POST', `/federation/incoming-requests/${incoming.id}/accept`, { prefix: PREFIX_ON_B });
      for (const n of [A, B]) {
        const p = await waitUntil(
          async () => {
            const v = await peerOn(n);
            if (v?.apply_state === 'failed') throw new Error(`apply failed on ${n.name}: ${v.apply_error}`);
            return v?.apply_state === 'applied' ? v : undefined;
          },
          { what: `peer applied on ${n.name}`, timeoutMs: 20_000 },
        );
        expect(p).toMatchObject({ dialect: 'v1', trunk_rotation: null });
      }
      const ta = await trunkOf(A);
      v1Secret = ta.sends ?? '';
      expect(v1Secret).toMatch(/^[A-Za-z0-9]{32}$/);
      for (const t of [ta, await trunkOf(B)])
        expect(t).toMatchObject({
          dials: NAME,
          username: NAME,
          sends: v1Secret,
          accepts: { [NAME]: [v1Secret] },
        });
      // v1 sends the secret in clear: the recorder sees it in the request's body.
      expect(
        A.proxy
          .exchanges()
          .concat(B.proxy.exchanges())
          .some((e) => e.requestBody.includes(v1Secret)),
      ).toBe(true);

      ({ longOnA, longOnB } = await holdLongCall(A, B, `${PREFIX_ON_A}${ECHO_EXTEN}`, 30_000));
      await callsWork('v1, before the upgrade');
    });

    it('B turns v2 on (restart); forged proposals are refused and change nothing', async () => {
      markA = A.proxy.exchanges().length;
      markB = B.proxy.exchanges().length;
      // Hold A's own proposals back for this test (its job runs every second): they get 503 at B's door.
      B.proxy.setFault({
        method: 'POST',
        path: /\/federation\/v2\/peers\/[^/]+\/upgrade$/,
        status: 503,
        body: {},
      });
      await B.restartWith(true);
      expect((await fetch(`${B.federationUrl}/.well-known/uuru-federation`)).status).toBe(200);
      await waitUntil(() => (B.proxy.injected() > 0 ? true : undefined), {
        what: "A's first proposal (held back)",
      });
      await callsWork('B restarted with v2 on, not upgraded yet');

      /** What the upgrade would change on B's peer. */
      const essentials = async () => {
        const p = await peerOn(B);
        return (
          p && {
            id: p.id,
            name: p.name,
            prefix: p.prefix,
            dialect: p.dialect,
            trunk_rotation: p.trunk_rotation,
          }
        );
      };
      const peerB = await essentials();
      expect(peerB).toMatchObject({ dialect: 'v1' });
      const aServer = new URL(A.federationUrl).host;
      const bServer = new URL(B.federationUrl).host;
      const signing = crypto.generateKeyPairSync('ed25519');
      const agreement = crypto.generateKeyPairSync('x25519');
      const aDescriptor = (await (
        await fetch(`${A.federationUrl}/.well-known/uuru-federation`)
      ).json()) as Record<string, unknown>;
      const switchIso = new Date(B.clock.now() + SWITCH_DELAY_S * 1000).toISOString();
      const forge = async (kid: string, secretGuess: string) => {
        const agreementPublic = rawPublicKey(agreement.publicKey);
        const body = JSON.stringify({
          request_id: requestId,
          base_url: A.federationUrl,
          iax2: { host: A.ast.iaxHost, port: A.ast.iaxPort },
          extension_length: ECHO_EXTEN.length,
          agreement_kid: 'evil-x',
          secret_epoch_seconds: EPOCH_MS / 1000,
          switch_at: switchIso,
          binding: upgradeBinding(
            secretGuess,
            upgradeBindingText({
              step: 'propose',
              name: NAME,
              requestId,
              proposer: aServer,
              acceptor: bServer,
              agreementKid: 'evil-x',
              agreementPublicKey: agreementPublic,
              secretEpochSeconds: EPOCH_MS / 1000,
              switchAt: switchIso,
            }),
          ),
        });
        // Signed for B's public address, sent straight to B's listener (the proxy holds upgrade calls back).
        const url = `${B.federationUrl}/federation/v2/peers/${NAME}/upgrade`;
        const headers = signRequest({
          method: 'POST',
          url,
          body,
          key: { keyId: `${aServer}#${kid}`, privateKey: signing.privateKey },
          now: B.clock.now(),
        });
        const res = await fetch(`${B.listenerUrl}/federation/v2/peers/${NAME}/upgrade`, {
          method: 'POST',
          headers,
          body,
        });
        return { status: res.status, json: (await res.json()) as Record<string, unknown> };
      };

      // B fetches a stranger's descriptor at most every 30 s (its clock): step both clocks past that between tries.
      const after30s = () => {
        for (const n of [A, B]) n.clock.advance(31_000);
      };
      // 1. A key A never published, under A's name: refused at the signature.
      after30s();
      const unknownKey = await forge('evil-k', 'x'.repeat(32));
      expect(unknownKey.status).toBe(401);
      expect(unknownKey.json.error).toBe('FED_UNKNOWN_KEY');

      // 2. Someone who controls what answers under A's name (serves a descriptor with its own keys there)
      //    but does not hold the v1 secret: the signature verifies, the binding does not.
      A.proxy.setFault({
        method: 'GET',
        path: /^\/\.well-known\/uuru-federation$/,
        status: 200,
        body: {
          ...aDescriptor,
          signing_keys: [
            {
              kid: 'evil-k2',
              alg: 'ed25519',
              public_key: rawPublicKey(signing.publicKey),
              status: 'active',
              not_before: new Date(B.clock.now() - DAY).toISOString(),
              expires_at: new Date(B.clock.now() + 30 * DAY).toISOString(),
            },
          ],
          agreement_keys: [
            {
              kid: 'evil-x',
              alg: 'x25519',
              public_key: rawPublicKey(agreement.publicKey),
              expires_at: new Date(B.clock.now() + 30 * DAY).toISOString(),
            },
          ],
        },
      });
      after30s();
      const wrongBinding = await forge('evil-k2', 'x'.repeat(32));
      A.proxy.setFault(null);
      // So that B fetches A's real descriptor again when A's own proposal names a kid the forged one lacked.
      after30s();
      expect(wrongBinding.status).toBe(403);
      expect(wrongBinding.json.error).toBe('FED_UPGRADE_BINDING_INVALID');

      // Nothing changed: still the same v1 peer, the same trunk file, calls as before.
      expect(await essentials()).toEqual(peerB);
      expect(await trunkOf(B)).toMatchObject({
        dials: NAME,
        sends: v1Secret,
        accepts: { [NAME]: [v1Secret] },
      });
      await callsWork('after the forged proposals');
    });

    it('A notices B’s descriptor by itself and the upgrade completes: same peer, now v2 on both sides', async () => {
      B.proxy.setFault(null);
      for (const n of [A, B]) {
        const p = await waitUntil(
          async () => {
            const v = await peerOn(n);
            return v?.dialect === 'v2' && v.apply_state === 'applied' ? v : undefined;
          },
          { what: `the peer upgraded on ${n.name}`, timeoutMs: 30_000 },
        );
        expect(p).toMatchObject({
          name: NAME,
          prefix: n === A ? PREFIX_ON_A : PREFIX_ON_B,
          trunk_rotation: { length_seconds: EPOCH_MS / 1000, epoch: Math.floor(T0 / EPOCH_MS) },
        });
      }
      const proposals = B.proxy.exchanges().filter((e) => e.method === 'POST' && e.url.endsWith('/upgrade'));
      const answered = proposals.filter((e) => e.status === 200);
      expect(answered).toHaveLength(1);
      const answer = JSON.parse(answered[0].answerBody) as { switch_at: string; state: string };
      expect(answer.state).toBe('upgraded');
      switchAt = Date.parse(answer.switch_at);
      expect(switchAt).toBeGreaterThan(T0);

      // Before the switch: both still send the v1 secret under the peering name; each accepts the v2 one too.
      for (const n of [A, B])
        await applied(n, (t) => Object.keys(t.accepts).length === 2, 'the v2 epoch user');
      const ta = await trunkOf(A);
      epochUser = Object.keys(ta.accepts).find((k) => k !== NAME) ?? '';
      expect(epochUser).toMatch(new RegExp(`^${NAME}-e[01]$`));
      epochSecret = ta.accepts[epochUser][0];
      expect(ta).toMatchObject({
        dials: NAME,
        username: NAME,
        sends: v1Secret,
        accepts: { [NAME]: [v1Secret], [epochUser]: [epochSecret] },
      });
      expect(await trunkOf(B)).toEqual(ta);
      // The view says so too: the v1 secret is sent until the switch.
      for (const n of [A, B])
        expect((await peerOn(n))?.trunk_rotation).toMatchObject({
          sends: 'v1',
          switch_at: new Date(switchAt).toISOString(),
        });
      expect(epochSecret).not.toBe(v1Secret);
      newSecrets.add(epochSecret);
      await callsWork('upgraded, both before the switch');
    });

    it('calls keep working across the switch, A switching first, and after the v1 secret is dropped', async () => {
      // A past the switch (sends the v2 secret), B not yet (sends the v1 one).
      A.clock.set(switchAt + 1000);
      B.clock.set(switchAt - 30_000);
      await applied(A, (t) => t.sends === epochSecret, 'the switch');
      const before: Trunk = {
        dials: NAME,
        username: NAME,
        sends: v1Secret,
        accepts: { [NAME]: [v1Secret], [epochUser]: [epochSecret] },
        form:
          backend === 'files'
            ? { friendSecretLines: [v1Secret] }
            : { [NAME]: ['friend', 'host'], [epochUser]: ['user', 'no host'] },
      };
      // After the switch, in its overlap: the epoch secret sent under the epoch user's name, the v1 one still
      // accepted under the peering name. Files: the friend's two secret lines (v1 first). Realtime (one secret a
      // row): the v1 secret stays on the <name> friend, the epoch row is a whole friend and is dialled.
      const switched: Trunk =
        backend === 'files'
          ? {
              dials: NAME,
              username: epochUser,
              sends: epochSecret,
              accepts: { [NAME]: [v1Secret, epochSecret], [epochUser]: [epochSecret] },
              form: { friendSecretLines: [v1Secret, epochSecret] },
            }
          : {
              dials: epochUser,
              username: epochUser,
              sends: epochSecret,
              accepts: { [NAME]: [v1Secret], [epochUser]: [epochSecret] },
              form: { [NAME]: ['friend', 'host'], [epochUser]: ['friend', 'host'] },
            };
      expect(await trunkOf(A)).toEqual(switched);
      expect(await trunkOf(B)).toEqual(before);
      await callsWork('A after the switch, B before it');

      // Both past the switch.
      B.clock.set(switchAt + 2000);
      await applied(B, (t) => t.sends === epochSecret, 'the switch');
      expect(await trunkOf(B)).toEqual(switched);
      await callsWork('both after the switch');

      // Past the overlap: the v1 secret is gone from Asterisk, and from the rows (the job forgets it); the
      // friend <name> sends the epoch secret and is dialled again (realtime: the epoch row is a user again).
      for (const n of [A, B]) n.clock.set(switchAt + OVERLAP_MS + 5000);
      const done: Trunk = {
        dials: NAME,
        username: epochUser,
        sends: epochSecret,
        accepts: { [NAME]: [epochSecret], [epochUser]: [epochSecret] },
        form:
          backend === 'files'
            ? { friendSecretLines: [epochSecret] }
            : { [NAME]: ['friend', 'host'], [epochUser]: ['user', 'no host'] },
      };
      for (const n of [A, B]) await applied(n, (t) => !JSON.stringify(t).includes(v1Secret), 'v1 dropped');
      for (const n of [A, B]) expect(await trunkOf(n)).toEqual(done);
      for (const v of Object.values((await trunkOf(A)).accepts).flat()) newSecrets.add(v);
      await callsWork('the v1 secret dropped');
    });

    it('anti-entropy: a forced rotation whose answer was lost is reported by the partner and caught up', async () => {
      const idOnA = (await peerOn(A))?.id ?? '';
      // A forces a rotation; B agrees and stores it, but its answer is lost on the way back.
      B.proxy.setFault({ method: 'POST', path: /\/secret-rotation$/, status: 503, body: {}, forward: true });
      const res = await fetch(`${A.adminUrl}/api/admin/federation/peers/${idOnA}/secret-rotation`, {
        method: 'POST',
        headers: { authorization: `Bearer ${A.token}`, 'content-type': 'application/json' },
        body: '{}',
      });
      B.proxy.setFault(null);
      expect(res.status).toBeGreaterThanOrEqual(400);
      const agreedAt = (await peerOn(B))?.trunk_rotation?.forced_rotation_at ?? null;
      expect(agreedAt).toEqual(expect.any(String));
      expect((await peerOn(A))?.trunk_rotation?.forced_rotation_at).toBeNull();

      // B's anti-entropy sees A one rotation behind: reported on B's peer (A catches up by itself).
      await B.app.jobs.trigger('anti-entropy');
      expect((await peerOn(B))?.partner_error).toMatch(
        /^the trunk secret epochs differ from the partner’s: /,
      );
      // A's anti-entropy sees B one ahead: it proposes again and takes the moment B stored.
      await A.app.jobs.trigger('anti-entropy');
      expect((await peerOn(A))?.trunk_rotation?.forced_rotation_at).toBe(agreedAt);
      expect((await peerOn(A))?.partner_error).toBeNull();
      await B.app.jobs.trigger('anti-entropy');
      expect((await peerOn(B))?.partner_error).toBeNull();

      // Both past the rotation and its overlap: on the same new epoch, calls work.
      for (const n of [A, B]) n.clock.set(Date.parse(agreedAt ?? '') + OVERLAP_MS + 5000);
      for (const n of [A, B])
        await applied(n, (t) => t.sends !== epochSecret && Object.keys(t.accepts).length === 2, 'rotated');
      expect(await trunkOf(A)).toEqual(await trunkOf(B));
      for (const v of Object.values((await trunkOf(A)).accepts).flat()) newSecrets.add(v);
      await callsWork('after the forced rotation caught up by anti-entropy');
    });

    it('a v2 peering made before epochs (a fixed secret) moves onto them by an agreed switch, calls working throughout', async () => {
      const FIXED = 'fix_ab';
      const numbers = { numberFromA: `73${ECHO_EXTEN}`, numberFromB: `74${ECHO_EXTEN}` };
      let fixedLong = { longOnA: '', longOnB: '' };
      const fixedCallsWork = (moment: string) =>
        callsWorkBetween({ a: A, b: B, ...numbers, ...fixedLong }, `${FIXED}: ${moment}`);
      // One peering per pair of instances: the upgraded one ends first (its long call hung up).
      await A.ami.action({ Action: 'Hangup', Channel: longOnA });
      await api(A, 'DELETE', `/federation/peers/${(await peerOn(A))?.id ?? ''}`, undefined, 204);
      for (const n of [A, B])
        await waitUntil(async () => ((await peerOn(n)) === undefined ? true : undefined), {
          what: `the upgraded peering gone on ${n.name}`,
          timeoutMs: 15_000,
        });
      // B's descriptor without the epoch offer (as a sidecar before epochs published it): the peering A
      // requests gets a fixed secret.
      const offer = (await (await fetch(`${B.listenerUrl}/.well-known/uuru-federation`)).json()) as Record<
        string,
        unknown
      >;
      const { secret_epoch_seconds: offered, ...withoutEpochs } = offer;
      expect(offered).toBe(EPOCH_MS / 1000);
      B.proxy.setFault({
        method: 'GET',
        path: /^\/\.well-known\/uuru-federation$/,
        status: 200,
        body: withoutEpochs,
      });
      for (const n of [A, B]) n.clock.advance(301_000);
      await api(
        A,
        'POST',
        '/federation/outgoing-requests',
        {
          name: FIXED,
          partner_url: B.federationUrl,
          prefix: '73',
          codec: 'ulaw',
        },
        201,
      );
      const incoming = await waitUntil(
        async () =>
          (
            await api<{ requests: { id: string; name: string }[] }>(B, 'GET', '/federation/incoming-requests')
          ).requests.find((r) => r.name === FIXED),
        { what: 'the fixed-secret request on B' },
      );
      await api(B, 'POST', `/federation/incoming-requests/${incoming.id}/accept`, { prefix: '74' });
      for (const n of [A, B])
        await waitUntil(
          async () => {
            const v = await peerOn(n, FIXED);
            return v?.apply_state === 'applied' && v.dialect === 'v2' && v.trunk_rotation === null
              ? v
              : undefined;
          },
          { what: `the fixed-secret peer applied on ${n.name}`, timeoutMs: 20_000 },
        );
      const fixedSecret = (await trunkOf(A, FIXED)).sends ?? '';
      expect(fixedSecret).toHaveLength(40);
      expect(Object.keys((await trunkOf(A, FIXED)).accepts)).toEqual([FIXED]);
      await waitUntil(
        async () => ((await iaxChannels(A)).length === 0 && (await iaxChannels(B)).length === 0) || undefined,
        { what: 'no call up on either side' },
      );
      fixedLong = await holdLongCall(A, B, numbers.numberFromA, 30_000);
      await fixedCallsWork('fixed secret');

      // B offers epochs again; A's job (v1-upgrade, every second) proposes a switch onto them, B agrees.
      B.proxy.setFault(null);
      for (const n of [A, B]) n.clock.advance(301_000);
      const views = await Promise.all(
        [A, B].map((n) =>
          waitUntil(
            async () => {
              const v = await peerOn(n, FIXED);
              return v?.trunk_rotation?.switch_at ? v : undefined;
            },
            { what: `the switch onto epochs agreed on ${n.name}`, timeoutMs: 20_000 },
          ),
        ),
      );
      const fixedSwitchAt = Date.parse(views[0].trunk_rotation?.switch_at ?? '');
      expect(views[1].trunk_rotation).toMatchObject({ length_seconds: EPOCH_MS / 1000, sends: 'v1' });
      expect(views[1].trunk_rotation?.switch_at).toBe(views[0].trunk_rotation?.switch_at);
      for (const n of [A, B]) {
        await waitUntil(
          async () => {
            const t = await trunkOf(n, FIXED);
            return Object.keys(t.accepts).length === 2 && t.sends === fixedSecret ? true : undefined;
          },
          { what: `the epoch user on ${n.name}`, timeoutMs: 15_000 },
        );
        await api(n, 'POST', '/reconcile', {});
      }
      await fixedCallsWork('agreed, both before the switch');

      A.clock.set(fixedSwitchAt + 1000);
      B.clock.set(fixedSwitchAt - 30_000);
      const onEpochs = async (n: Node) => {
        const t = await trunkOf(n, FIXED);
        return t.sends !== undefined && t.sends !== fixedSecret;
      };
      await waitUntil(async () => (await onEpochs(A)) || undefined, {
        what: 'A switched',
        timeoutMs: 15_000,
      });
      await api(A, 'POST', '/reconcile', {});
      await fixedCallsWork('A after the switch, B before it');
      B.clock.set(fixedSwitchAt + 2000);
      await waitUntil(async () => (await onEpochs(B)) || undefined, {
        what: 'B switched',
        timeoutMs: 15_000,
      });
      await api(B, 'POST', '/reconcile', {});
      await fixedCallsWork('both after the switch');

      // After the overlap the fixed secret is gone from Asterisk on both sides.
      for (const n of [A, B]) n.clock.set(fixedSwitchAt + OVERLAP_MS + 5000);
      for (const n of [A, B])
        await waitUntil(
          async () => (!JSON.stringify(await trunkOf(n, FIXED)).includes(fixedSecret) ? true : undefined),
          { what: `the fixed secret dropped on ${n.name}`, timeoutMs: 15_000 },
        );
      expect(await trunkOf(A, FIXED)).toEqual(await trunkOf(B, FIXED));
      await fixedCallsWork('the fixed secret dropped');
    });

    it('no secret crossed the wire from the upgrade on', () => {
      const after = [...A.proxy.exchanges().slice(markA), ...B.proxy.exchanges().slice(markB)];
      // The upgrade's calls are among them (the recorder saw the bodies that matter).
      expect(
        after.some(
          (e) => e.url.endsWith('/upgrade') && e.status === 200 && e.requestBody.includes('binding'),
        ),
      ).toBe(true);
      expect(newSecrets.size).toBeGreaterThanOrEqual(1);
      for (const secret of [v1Secret, ...newSecrets]) {
        const seen = after.filter(
          (e) => e.requestBody.includes(secret) || e.answerBody.includes(secret) || e.url.includes(secret),
        );
        expect({
          secret: secret === v1Secret ? 'v1' : 'v2',
          seen: seen.map((e) => `${e.method} ${e.url}`),
        }).toEqual({
          secret: secret === v1Secret ? 'v1' : 'v2',
          seen: [],
        });
      }
    });
  },
);
