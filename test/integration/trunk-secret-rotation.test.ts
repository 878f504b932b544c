/**
 * Trunk secret epochs (issue 15), end to end on real parts: two sidecars
 * (in-process, so each runs on its own injected ManualClock) with a real
 * Asterisk each, peered in uuru-fed/2 through the admin API
 * with the default epoch (30 days) and overlap (24 h). The clocks are moved
 * across two epoch boundaries, the two sides minutes apart and each side
 * leading once, and at every step of the overlap:
 * - the side's epoch job re-applies Asterisk by itself (the generated file
 *   holds one secret, then two with the sent one last, then one again);
 * - a call set up before the first rotation stays up, encrypted on both ends
 *   (CHANNEL(secure_media));
 * - new calls both ways are answered, and encrypted;
 * and after the overlap the old secret no longer authenticates (a
 * hand-written IAX2 peer carrying it is answered while the partner is still
 * in its overlap, and refused after).
 *
 * Then an admin forces a rotation on A (admin API): B agrees over a signed
 * v2 call to a moment one overlap ahead, a second one is refused while it
 * lasts, and the sides cross that moment minutes apart with the same checks
 * (the long call, new calls both ways, encryption, the old secret accepted in
 * B's overlap and refused after).
 *
 * The whole sequence runs once per state backend: files (generated
 * iax-uuru-federation.conf, module reloads) and realtime (rows in each
 * Asterisk's iaxfriends/extensions tables on MariaDB, read by
 * res_config_mysql). With realtime every inbound call of every peer lands in
 * one shared context that tells peers apart by CHANNEL(peername); the
 * realtime run also checks that a peering's calls count under the peering's
 * name whichever epoch user they came in as, so an overlap never splits the
 * per-peer call limit.
 */
import fs from 'node:fs';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { createRealtimeTables, ECHO_EXTEN, type RealtimeDb, TEST_CONTEXT } from '../harness/asterisk';
import {
  adminApi as api,
  callsWork as callsWorkBetween,
  type ClockedNode,
  holdLongCall,
  peerNamed,
  PROBE_IAX_CONF,
  probeCall,
  startClockedNode,
  writeProbePeer,
} from '../harness/clocked-sidecars';
import { allOrNone } from '../harness/instance';
import { type MariaDbServer, startMariaDb, testDatabaseName } from '../harness/mariadb';
import { ManualClock } from '../harness/manual-clock';
import { waitUntil } from '../harness/wait';

jest.setTimeout(600_000);

const CONF = path.resolve(__dirname, '..', '..', 'asterisk-conf');

const DAY = 86_400_000;
const EPOCH_MS = 30 * DAY;
const OVERLAP_MS = DAY;
/** How far apart the two clocks are. */
const SKEW_MS = 5 * 60_000;
const NAME = 'rot_ab';
const PREFIX_ON_A = '71';
const PREFIX_ON_B = '72';

type Backend = 'files' | 'realtime';

interface Node extends ClockedNode {
  /** Realtime: a connection to this Asterisk's realtime database. */
  rt: mysql.Connection | null;
}

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

async function startNode(name: string, clock: ManualClock, realtime: RealtimeDb | null): Promise<Node> {
  const node = await startClockedNode({
    name,
    clock,
    realtime,
    asterisk: {
      // Realtime: the file an admin adds (static contexts switching to the rows; it ends in the phones'
      // context, which here reaches the test context too). Files: the default phones' context.
      ...(realtime
        ? {
            extensionsConf: `${fs.readFileSync(path.join(CONF, 'extensions-realtime.conf'), 'utf8').trimEnd()}\ninclude => ${TEST_CONTEXT}\n`,
          }
        : {}),
      iaxConf: PROBE_IAX_CONF,
    },
  });
  let rt: mysql.Connection | null = null;
  try {
    rt = realtime ? await mysql.createConnection(realtime) : null;
  } catch (e) {
    await node.stop().catch(() => undefined);
    throw e;
  }
  const stopNode = node.stop;
  return Object.assign(node, {
    rt,
    async stop() {
      await rt?.end().catch(() => undefined);
      await stopNode();
    },
  });
}

interface PeerJson {
  id: string;
  name: string;
  apply_state: string;
  apply_error: string | null;
  trunk_rotation: {
    length_seconds: number;
    epoch: number;
    next_rotation_at: string;
    also_accepted: 'previous' | 'next' | null;
    forced_rotation_at?: string | null;
  } | null;
}

const peerOn = (n: Node): Promise<PeerJson | undefined> => peerNamed<PeerJson>(n, NAME);

/** The peering's IAX2 objects on a side: the friend and its epoch users, with their secrets. */
async function trunkObjects(n: Node): Promise<{ name: string; secret: string }[]> {
  if (n.rt) {
    const [rows] = await n.rt.query('SELECT name, secret FROM iaxfriends WHERE name = ? OR name LIKE ?', [
      NAME,
      `${NAME}-e%`,
    ]);
    return (rows as { name: string; secret: string | null }[]).map((r) => ({
      name: r.name,
      secret: r.secret ?? '',
    }));
  }
  const file = path.join(n.ast.configDir, 'iax-uuru-federation.conf');
  const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  return text
    .split(/^\[/m)
    .filter((s) => s.startsWith(`${NAME}]`) || s.startsWith(`${NAME}-e`))
    .map((s) => ({
      name: s.slice(0, s.indexOf(']')),
      secret: (s.split('\n').find((l) => l.startsWith('secret=')) ?? '').slice('secret='.length),
    }));
}

/**
 * What a side holds for the peering (generated file or realtime rows): the
 * secrets its epoch users accept, the one the friend sends last. One entry per
 * accepted epoch (at most two: the sent one and a neighbour).
 */
async function secretLines(n: Node): Promise<string[]> {
  const objects = await trunkObjects(n);
  const sent = objects.find((o) => o.name === NAME)?.secret;
  const users = objects.filter((o) => o.name !== NAME).map((o) => o.secret);
  return sent === undefined ? users : [...users.filter((u) => u !== sent), sent];
}

/** The call-limit group of each inbound federation channel up on a node (GROUP(uuru_fed), set by the inbound context). */
async function callGroups(n: ClockedNode): Promise<string[]> {
  const out = await n.ami.command('group show channels');
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((cols) => cols.length === 3 && cols[0].startsWith('IAX2/') && cols[2] === 'uuru_fed')
    .map((cols) => cols[1]);
}

describe.each<Backend>(['files', 'realtime'])(
  'trunk secret epochs on two real Asterisks (%s backend)',
  (backend) => {
    let A: Node;
    let B: Node;
    let server: MariaDbServer | null = null;
    const databases: RealtimeDb[] = [];
    /** The long call's IAX2 channel on each side. */
    let longOnA: string;
    let longOnB: string;

    beforeAll(async () => {
      const t0 = Date.parse('2026-01-01T00:00:00Z');
      if (backend === 'realtime') {
        server = await startMariaDb();
        const mariadb = server;
        databases.push(...(await Promise.all([realtimeDb(mariadb, 'rot_a'), realtimeDb(mariadb, 'rot_b')])));
      }
      [A, B] = await allOrNone(
        [
          startNode(`rot${backend[0]}a`, new ManualClock(t0), databases[0] ?? null),
          startNode(`rot${backend[0]}b`, new ManualClock(t0), databases[1] ?? null),
        ],
        (n) => n.stop(),
      );
    }, 180_000);

    afterAll(async () => {
      await Promise.allSettled([A?.stop(), B?.stop()]);
      for (const db of databases) await server?.dropDatabase(db.database).catch(() => undefined);
      await server?.stop();
    });

    /** The first epoch boundary after the start. */
    const firstBoundary = () => Math.ceil(Date.parse('2026-01-01T00:00:00Z') / EPOCH_MS) * EPOCH_MS;

    /** Sets the clocks to `t` (the lagging side) and `t + SKEW` (the leading side). */
    function setClocks(lead: Node, lag: Node, t: number): void {
      lead.clock.set(t + SKEW_MS);
      lag.clock.set(t);
    }

    /** Waits until each side's epoch job has put the expected number of secret lines in its file, then until Asterisk has it. */
    async function applied(expected: [Node, number][]): Promise<void> {
      for (const [n, count] of expected) {
        await waitUntil(async () => (await secretLines(n)).length === count || undefined, {
          what: `${count} secret line(s) on ${n.name}`,
          timeoutMs: 15_000,
        });
      }
      // The job's run has written the file; a reconcile now returns once Asterisk has re-read it.
      for (const [n] of expected) await api(n, 'POST', '/reconcile', {});
    }

    /**
     * A new call each way is answered, and encrypted on both ends; the long call is still up and encrypted.
     * While a new call is up: every inbound call of the peering counts under its name, whichever epoch's
     * user it came in as (the long call A→B is inbound on B): an overlap never splits the per-peer call limit.
     */
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
        async ({ to }) => {
          expect({ moment, on: to.name, groups: await callGroups(to) }).toEqual({
            moment,
            on: to.name,
            groups: to === B ? [NAME, NAME] : [NAME],
          });
        },
      );
    }

    it('peers in uuru-fed/2 with the default epoch length agreed in the handshake and shown in the descriptor', async () => {
      const d = (await (await fetch(`${B.federationUrl}/.well-known/uuru-federation`)).json()) as Record<
        string,
        unknown
      >;
      expect(d.secret_epoch_seconds).toBe(EPOCH_MS / 1000);

      // Start three days before the first boundary, both clocks equal for the handshake.
      const t = firstBoundary() - 3 * DAY;
      setClocks(A, B, t);
      A.clock.set(t);
      await api(
        A,
        'POST',
        '/federation/outgoing-requests',
        {
          name: NAME,
          partner_url: B.federationUrl,
          prefix: PREFIX_ON_A,
          codec: 'ulaw',
          dialect: 'v2',
        },
        201,
      );
      const incoming = await waitUntil(
        async () =>
          (
            await api<{ requests: { id: string; name: string }[] }>(B, 'GET', '/federation/incoming-requests')
          ).requests.find((r) => r.name === NAME),
        { what: 'the request on B' },
      );
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
        expect(p.trunk_rotation).toEqual({
          length_seconds: EPOCH_MS / 1000,
          epoch: Math.floor(t / EPOCH_MS),
          next_rotation_at: new Date(firstBoundary()).toISOString(),
          also_accepted: null,
          forced_rotation_at: null,
          sends: 'epoch',
          switch_at: null,
        });
      }
      // One secret, the same on both sides, and not the root the handshake derived (which never reaches a file).
      expect(await secretLines(A)).toHaveLength(1);
      expect(await secretLines(B)).toEqual(await secretLines(A));
    });

    it('a call up before the rotation stays up, and new calls work at every step, A leading by minutes', async () => {
      // The trunk is qualified both ways before the long call.
      ({ longOnA, longOnB } = await holdLongCall(A, B, `${PREFIX_ON_A}${ECHO_EXTEN}`, 20_000));
      const [old] = await secretLines(A);
      const boundary = firstBoundary();
      await callsWork('before any overlap');

      // A enters the overlap, B not yet: A accepts the next secret too, both still send the old one.
      setClocks(A, B, boundary - OVERLAP_MS - SKEW_MS / 2);
      await applied([
        [A, 2],
        [B, 1],
      ]);
      const [next] = await secretLines(A);
      expect(await secretLines(A)).toEqual([next, old]);
      expect(await secretLines(B)).toEqual([old]);
      expect(next).not.toBe(old);
      await callsWork('A in the overlap, B not yet');

      // Both in the overlap before the boundary.
      setClocks(A, B, boundary - OVERLAP_MS / 2);
      await applied([
        [A, 2],
        [B, 2],
      ]);
      expect(await secretLines(B)).toEqual([next, old]);
      expect((await peerOn(A))?.trunk_rotation?.also_accepted).toBe('next');
      await callsWork('both in the overlap before the boundary');

      // A past the boundary sends the new secret (last line), B still sends the old one.
      setClocks(A, B, boundary - SKEW_MS / 2);
      await waitUntil(async () => ((await secretLines(A))[1] === next ? true : undefined), {
        what: 'A sends the new secret',
      });
      await applied([
        [A, 2],
        [B, 2],
      ]);
      expect(await secretLines(A)).toEqual([old, next]);
      expect(await secretLines(B)).toEqual([next, old]);
      await callsWork('A rotated, B not yet');

      // Both past the boundary.
      setClocks(A, B, boundary + OVERLAP_MS / 2);
      await waitUntil(async () => ((await secretLines(B))[1] === next ? true : undefined), {
        what: 'B sends the new secret',
      });
      await applied([
        [A, 2],
        [B, 2],
      ]);
      const onA = await peerOn(A);
      expect(onA?.trunk_rotation).toMatchObject({
        epoch: boundary / EPOCH_MS,
        also_accepted: 'previous',
        next_rotation_at: new Date(boundary + EPOCH_MS).toISOString(),
      });
      await callsWork('both rotated, in the overlap after the boundary');

      // A past the overlap drops the old secret; B, minutes behind, still accepts it.
      setClocks(A, B, boundary + OVERLAP_MS - SKEW_MS / 2);
      await applied([
        [A, 1],
        [B, 2],
      ]);
      expect(await secretLines(A)).toEqual([next]);
      await callsWork('A past the overlap, B not yet');
      // The old secret still authenticates on B (its overlap), from a hand-written peer on A that carries it.
      // It calls as the old epoch's user, as A did before the boundary.
      await writeProbePeer(A, B, `${NAME}-e${(boundary / EPOCH_MS - 1) % 2}`, old);
      expect(await probeCall(A, B)).toEqual({
        answered: true,
        reason: null,
      });

      // Both past the overlap: the old secret no longer authenticates anywhere.
      setClocks(A, B, boundary + OVERLAP_MS + SKEW_MS);
      await applied([
        [A, 1],
        [B, 1],
      ]);
      expect(await secretLines(B)).toEqual([next]);
      const refused = await probeCall(A, B);
      expect(refused.answered).toBe(false);
      await callsWork('both past the overlap');
    });

    it('the next boundary with B leading by minutes: the long call still stays up and calls keep working', async () => {
      const boundary = firstBoundary() + EPOCH_MS;
      const [old] = await secretLines(A);
      const steps: [string, number, [number, number]][] = [
        ['B in the overlap, A not yet', boundary - OVERLAP_MS - SKEW_MS / 2, [1, 2]],
        ['both in the overlap', boundary - OVERLAP_MS / 2, [2, 2]],
        ['B rotated, A not yet', boundary - SKEW_MS / 2, [2, 2]],
        ['both rotated', boundary + OVERLAP_MS / 2, [2, 2]],
        ['B past the overlap, A not yet', boundary + OVERLAP_MS - SKEW_MS / 2, [2, 1]],
        ['both past the overlap', boundary + OVERLAP_MS + SKEW_MS, [1, 1]],
      ];
      for (const [moment, t, [onA, onB]] of steps) {
        setClocks(B, A, t);
        await applied([
          [A, onA],
          [B, onB],
        ]);
        await callsWork(moment);
      }
      expect(await secretLines(A)).toEqual(await secretLines(B));
      expect(await secretLines(A)).not.toEqual([old]);
    });

    it('an admin forces a rotation on A: agreed with B over a signed call, the usual overlap, no call dropped', async () => {
      const before = await peerOn(A);
      const epoch = before?.trunk_rotation?.epoch ?? -1;
      expect(before?.trunk_rotation?.forced_rotation_at).toBeNull();
      const [old] = await secretLines(A);
      // A signed call is refused beyond the signature's clock tolerance (FED_CLOCK_SKEW), less than the
      // minutes the two clocks are apart here: they agree while the admin asks, and part again after.
      A.clock.set(B.clock.now());
      const forced = await api<PeerJson>(
        A,
        'POST',
        `/federation/peers/${before?.id ?? ''}/secret-rotation`,
        {},
      );
      const at = forced.trunk_rotation?.forced_rotation_at ?? '';
      const T = Date.parse(at);
      // One overlap from A's clock; B agreed to the same moment.
      expect(T).toBe(A.clock.now() + OVERLAP_MS);
      expect(forced.trunk_rotation).toMatchObject({ epoch, next_rotation_at: at, also_accepted: 'next' });
      expect((await peerOn(B))?.trunk_rotation).toMatchObject({ epoch, forced_rotation_at: at });
      // A second one while this one is under way is refused, on either side, and changes nothing.
      const again = await fetch(
        `${B.adminUrl}/api/admin/federation/peers/${(await peerOn(B))?.id ?? ''}/secret-rotation`,
        {
          method: 'POST',
          headers: { authorization: `Bearer ${B.token}`, 'content-type': 'application/json' },
          body: '{}',
        },
      );
      expect([again.status, ((await again.json()) as { error?: string }).error]).toEqual([
        409,
        'FED_ROTATION_PENDING',
      ]);

      // Agreed: both accept the next secret at once and still send the old one.
      await applied([
        [A, 2],
        [B, 2],
      ]);
      const [next] = await secretLines(A);
      expect(await secretLines(A)).toEqual([next, old]);
      expect(await secretLines(B)).toEqual([next, old]);
      await callsWork('forced rotation agreed');

      const steps: [string, number, [number, number]][] = [
        ['A past the forced moment, B not yet', T - SKEW_MS / 2, [2, 2]],
        ['both past the forced moment', T + OVERLAP_MS / 2, [2, 2]],
        ['A past the overlap, B not yet', T + OVERLAP_MS - SKEW_MS / 2, [1, 2]],
      ];
      for (const [moment, t, [onA, onB]] of steps) {
        setClocks(A, B, t);
        await applied([
          [A, onA],
          [B, onB],
        ]);
        await callsWork(moment);
      }
      expect(await secretLines(A)).toEqual([next]);
      expect((await peerOn(A))?.trunk_rotation?.epoch).toBe(epoch + 1);
      await writeProbePeer(A, B, `${NAME}-e${epoch % 2}`, old);
      expect(await probeCall(A, B)).toEqual({
        answered: true,
        reason: null,
      });

      setClocks(A, B, T + OVERLAP_MS + SKEW_MS);
      await applied([
        [A, 1],
        [B, 1],
      ]);
      expect(await secretLines(B)).toEqual([next]);
      expect((await probeCall(A, B)).answered).toBe(false);
      await callsWork('both past the forced overlap');
      expect((await peerOn(B))?.trunk_rotation).toMatchObject({ epoch: epoch + 1, forced_rotation_at: null });
    });
  },
);
