import { ManualClock } from '../harness/manual-clock';
import { newPeerRow } from '../harness/peer-row';
import { DbJobLeases, DbNodeLease, DbReplicas, NodePeerRunRows, nodeLeaseName } from '../../src/store/ha';
import { PeerEntity } from '../../src/store/entities';
import { PeerRunRows } from '../../src/store/peer-rows';
import { TypeormPeeringStore } from '../../src/store/typeorm';
import { appliedPeers, peerApplyStatesOf } from '../../src/cli/local-adopt';
import { useTempSqlite } from './fixtures/temp-sqlite';
import { DownAmiLink } from './fixtures/down-links';
import { PeerMonitor } from '../../src/asterisk/peer-monitor';
import { Metrics } from '../../src/core/metrics';
import { createLogger } from '../../src/logging/logger';

/**
 * Replicas' upkeep on a real SQLite database (two "replicas" are two sets of
 * stores on one database): the lease of an Asterisk node shared by replicas,
 * the purge of replicas gone for good, and the readers that must take a
 * peer's apply state per node (adopt) or not at all (the generated config).
 * The same with real processes, MariaDB and Asterisk:
 * test/integration/ha-galera.test.ts ("two replicas bound to the same Asterisk node").
 */

const clock = new ManualClock();
const tmp = useTempSqlite('ha-upkeep');
const TTL = 3000;
const BEAT = 1000;

const peer = (name: string, prefix: string) =>
  newPeerRow({
    name,
    prefix,
    partnerUrl: `https://${name}.example`,
    partnerIaxHost: '192.0.2.9',
    partnerIaxPort: 4569,
    codec: 'g722',
    secret: 's'.repeat(32),
    dialect: 'v2',
    role: 'acceptor',
  });

describe("an Asterisk node's lease", () => {
  it('goes to one replica of the node; the holder renews it; the other takes it over only once it expired, with a higher token', async () => {
    const { db } = tmp;
    const a = new DbNodeLease(db, clock, 'replica-a', 'ast-1', TTL, BEAT);
    const b = new DbNodeLease(db, clock, 'replica-b', 'ast-1', TTL, BEAT);
    const gained: string[] = [];
    a.onGained(() => gained.push('a'));
    b.onGained(() => gained.push('b'));
    expect(await a.tick()).toBe(true);
    expect(await b.tick()).toBe(false);
    expect([a.held(), b.held(), b.holder()]).toEqual([true, false, 'replica-a']);
    // Renewals keep it with A, long past one lease time.
    for (let i = 0; i < 5; i++) {
      clock.advance(BEAT);
      expect(await a.tick()).toBe(true);
      expect(await b.tick()).toBe(false);
    }
    const tokenA = await tokenOf('ast-1');
    // A stops renewing (killed): it stops counting the lease as its own a beat before the row expires...
    clock.advance(TTL - BEAT);
    expect(a.held()).toBe(false);
    expect(await b.tick()).toBe(false);
    // ...and B takes it once the row expired.
    clock.advance(BEAT);
    expect(await b.tick()).toBe(true);
    expect(await tokenOf('ast-1')).toBe(tokenA + 1);
    // A comes back: its renewal fails (the token moved on), it stands by.
    expect(await a.tick()).toBe(false);
    expect([a.held(), a.holder(), b.held()]).toEqual([false, 'replica-b', true]);
    expect(gained).toEqual(['a', 'b']);
  });

  it('given back on a clean stop, it is taken at the next tick; another node has a lease of its own', async () => {
    const { db } = tmp;
    const a = new DbNodeLease(db, clock, 'replica-a', 'ast-1', TTL, BEAT);
    const b = new DbNodeLease(db, clock, 'replica-b', 'ast-1', TTL, BEAT);
    const c = new DbNodeLease(db, clock, 'replica-c', 'ast-2', TTL, BEAT);
    expect(await a.tick()).toBe(true);
    expect(await c.tick()).toBe(true);
    await a.release();
    expect(a.held()).toBe(false);
    expect(await b.tick()).toBe(true);
    expect(await c.tick()).toBe(true);
    // A replica restarted under the same name is another holder: it waits like any other.
    const a2 = new DbNodeLease(db, clock, 'replica-b', 'ast-1', TTL, BEAT);
    expect(await a2.tick()).toBe(false);
    // The leases are listed with the job leases, holders by replica name.
    const leases = await new DbJobLeases(db, clock, 'replica-a').list();
    expect(leases.filter((l) => l.job.startsWith('node:')).map((l) => [l.job, l.holder])).toEqual([
      ['node:ast-1', 'replica-b'],
      ['node:ast-2', 'replica-c'],
    ]);
    expect(nodeLeaseName('n'.repeat(120))).toHaveLength(100);
    expect(nodeLeaseName('n'.repeat(120))).not.toBe(nodeLeaseName(`${'n'.repeat(119)}m`));
  });
});

async function tokenOf(node: string): Promise<number> {
  const rows: { token: number | string }[] = await tmp.db.query(
    'SELECT token FROM job_leases WHERE name = ?',
    [nodeLeaseName(node)],
  );
  return Number(rows[0].token);
}

describe('replicas gone for good', () => {
  it('lose their row and the leases they held after ha.replicaPurgeMs; live ones keep theirs', async () => {
    const { db } = tmp;
    const live = new DbReplicas(db, clock, 'replica-live', 'ast-1', '1.0.0', BEAT);
    const dead = new DbReplicas(db, clock, 'replica-dead', 'ast-2', '1.0.0', BEAT);
    await Promise.all([live.beat(), dead.beat()]);
    // The dead one held a node lease, a job's period it had not finished and one it had.
    const node = new DbNodeLease(db, clock, 'replica-dead', 'ast-2', TTL, BEAT);
    expect(await node.tick()).toBe(true);
    const jobs = new DbJobLeases(db, clock, 'replica-dead');
    const unfinished = await jobs.acquire('key-rotation', 5, 86_400_000);
    const finished = await jobs.acquire('audit-retention', 5, 86_400_000);
    await finished?.release(true);
    const liveJobs = new DbJobLeases(db, clock, 'replica-live');
    expect(unfinished).not.toBeNull();

    clock.advance(50_000);
    await live.beat();
    expect(await live.purgeGone(60_000)).toEqual([]);
    clock.advance(20_000);
    await live.beat();
    expect(await live.purgeGone(60_000)).toEqual(['replica-dead']);
    expect((await live.list()).replicas.map((r) => r.replicaId)).toEqual(['replica-live']);
    const holders = (await liveJobs.list()).map((l) => [l.job, l.holder]);
    expect(holders).toEqual([
      ['audit-retention', null],
      ['key-rotation', null],
      ['node:ast-2', null],
    ]);
    // The unfinished period is taken over at once (its lease had a day to run), the finished one not again.
    expect(await liveJobs.acquire('key-rotation', 5, 60_000)).not.toBeNull();
    expect(await liveJobs.acquire('audit-retention', 5, 60_000)).toBeNull();
    expect(await new DbNodeLease(db, clock, 'replica-live', 'ast-2', TTL, BEAT).tick()).toBe(true);
  });
});

describe('Asterisk nodes no replica is bound to any more', () => {
  it('lose their apply states after ha.replicaPurgeMs; a node with a replica row, or written lately, keeps them', async () => {
    const { db } = tmp;
    const bound = new DbReplicas(db, clock, 'replica-bound', 'ast-bound', '1.0.0', BEAT);
    await bound.beat();
    const p = peer('purged_states', '73');
    await db.getRepository(PeerEntity).insert(p);
    const applied = { applyState: 'applied' as const, applyError: null, appliedAt: clock.now() };
    for (const node of ['ast-bound', 'ast-retired', 'ast-fresh'])
      await new NodePeerRunRows(db, node, clock).patch([p.id], applied);
    const nodes = async () =>
      (
        (await db.query('SELECT DISTINCT node FROM peer_node_states ORDER BY node')) as { node: string }[]
      ).map((r) => r.node);
    clock.advance(50_000);
    await new NodePeerRunRows(db, 'ast-fresh', clock).patch([p.id], applied);
    // Not yet: the retired node's states were written 50 s ago.
    expect(await bound.purgeUnboundNodes(60_000)).toEqual([]);
    clock.advance(20_000);
    expect(await bound.purgeUnboundNodes(60_000)).toEqual(['ast-retired']);
    expect(await nodes()).toEqual(['ast-bound', 'ast-fresh']);
    clock.advance(60_000);
    expect(await bound.purgeUnboundNodes(60_000)).toEqual(['ast-fresh']);
    // The bound node's replica has not beaten for two minutes (not live), but its row still names the node.
    expect(await nodes()).toEqual(['ast-bound']);
  });
});

describe("the monitor of an Asterisk node's trunks", () => {
  it('samples on the holder of the node lease only', async () => {
    const { db } = tmp;
    const p = peer('sampled', '74');
    await db.getRepository(PeerEntity).insert(p);
    const holder = new DbNodeLease(db, clock, 'replica-a', 'ast-sampled', TTL, BEAT);
    const standby = new DbNodeLease(db, clock, 'replica-b', 'ast-sampled', TTL, BEAT);
    expect(await holder.tick()).toBe(true);
    expect(await standby.tick()).toBe(false);
    const monitorOn = (lease: DbNodeLease) =>
      new PeerMonitor({
        rows: new NodePeerRunRows(db, 'ast-sampled', clock),
        ami: new DownAmiLink(),
        clock,
        logger: createLogger({ level: 'error', format: 'json', silent: true }),
        metrics: new Metrics(),
        pollMs: 60_000,
        monitorable: true,
        sampling: () => lease.held(),
      });
    const linkError = async () =>
      (await db.getRepository(PeerEntity).findOneByOrFail({ id: p.id })).linkError;
    await monitorOn(standby).pollOnce();
    expect(await linkError()).toBeNull();
    await monitorOn(holder).pollOnce();
    expect(await linkError()).toBe('Asterisk is not connected');
  });
});

describe('readers of the apply state', () => {
  it("adopt's wait for live peers takes the per-node states with replicas, the peer row's without", async () => {
    const { db } = tmp;
    const replica = new DbReplicas(db, clock, 'replica-a', 'ast-1', '1.0.0', BEAT);
    await replica.beat();
    const p = peer('adopted', '71');
    await db.getRepository(PeerEntity).insert(p);
    const peerings = new TypeormPeeringStore(db);
    await new NodePeerRunRows(db, 'ast-1', clock).patch([p.id], {
      applyState: 'applied',
      applyError: null,
      appliedAt: clock.now(),
    });
    const ha = { ha: { ...tmp.config.ha, enabled: true, heartbeatMs: BEAT } };
    // The sidecar's clock is the system's: the replica's beat must be recent on it.
    await db.query('UPDATE replicas SET lastSeenAt = ?', [Date.now()]);
    expect(await appliedPeers(['adopted', 'unknown'], peerings, peerApplyStatesOf(db, ha))).toEqual([
      'adopted',
    ]);
    // The peer row's own column kept its insert value: one sidecar reads it.
    expect(await appliedPeers(['adopted'], peerings, peerApplyStatesOf(db, tmp.config))).toEqual([]);
    await db.getRepository(PeerEntity).update({ id: p.id }, { applyState: 'applied' });
    expect(await appliedPeers(['adopted'], peerings, peerApplyStatesOf(db, tmp.config))).toEqual(['adopted']);
    // With replicas, a node not live any more applies nothing.
    await db.query('UPDATE replicas SET lastSeenAt = ?', [Date.now() - 10 * BEAT]);
    expect(await appliedPeers(['adopted'], peerings, peerApplyStatesOf(db, ha))).toEqual([]);
  });

  it('the generated config reads the rendered columns only, no apply state', async () => {
    const { db } = tmp;
    await db.getRepository(PeerEntity).insert(peer('rendered', '72'));
    const [row] = await new PeerRunRows(db).readRendered();
    expect(row).toMatchObject({ name: 'rendered', prefix: '72', secret: 's'.repeat(32) });
    expect(Object.keys(row).filter((k) => /apply/i.test(k))).toEqual([]);
  });

  it('a reconcile run reads the rendered columns and the apply state, the secret opened', async () => {
    const { db } = tmp;
    await db.getRepository(PeerEntity).insert([peer('waits', '73'), peer('runs', '74')]);
    const rows = new PeerRunRows(db);
    const [rendered] = await rows.readRendered();
    const runsId = (await rows.readAll()).find((r) => r.name === 'runs')?.id ?? '';
    await rows.patch([runsId], { applyState: 'failed', applyError: 'not loaded' });
    const byName = new Map((await rows.readAll()).map((r) => [r.name, r]));
    const runs = byName.get('runs');
    expect(byName.get('waits')).toMatchObject({ applyState: 'pending', applyError: null, appliedAt: null });
    expect(runs).toMatchObject({ applyState: 'failed', applyError: 'not loaded', secret: 's'.repeat(32) });
    // The same rendered columns as readRendered's, numbers as numbers, and the three apply columns besides.
    expect(Object.keys(runs ?? {}).sort()).toEqual(
      [...Object.keys(rendered), 'applyState', 'applyError', 'appliedAt'].sort(),
    );
    expect(typeof runs?.partnerIaxPort).toBe('number');
  });

  it("a monitor poll reads each peer's link columns as the entity has them, numbers as numbers", async () => {
    const { db } = tmp;
    await db.getRepository(PeerEntity).insert([peer('seen', '75'), peer('never', '76')]);
    const rows = new PeerRunRows(db);
    const seenId = (await rows.readAll()).find((r) => r.name === 'seen')?.id ?? '';
    await rows.patch([seenId], {
      reachability: 'lagged',
      latencyMs: 412,
      linkError: 'slow answers',
      lastSeen: 1_700_000_000_123,
    });
    const links = await rows.readLinks();
    const byName = new Map(links.map((l) => [l.name, l]));
    expect(byName.get('seen')).toEqual({
      id: seenId,
      name: 'seen',
      reachability: 'lagged',
      latencyMs: 412,
      linkError: 'slow answers',
      lastSeen: 1_700_000_000_123,
    });
    expect(byName.get('never')).toMatchObject({ latencyMs: null, linkError: null, lastSeen: null });
    // What TypeORM's own mapping of the same columns gives (the reader it replaced).
    const mapped = await db.getRepository(PeerEntity).find({
      select: { id: true, name: true, reachability: true, latencyMs: true, linkError: true, lastSeen: true },
    });
    expect(links.map((l) => ({ ...l })).sort((a, b) => a.name.localeCompare(b.name))).toEqual(
      mapped.map((m) => ({ ...m })).sort((a, b) => String(a.name).localeCompare(String(b.name))),
    );
  });
});
