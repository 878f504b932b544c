import { ManualClock } from '../harness/manual-clock';
import { captureLogger } from '../harness/test-logger';
import type { DataSource } from 'typeorm';
import {
  DbJobLeases,
  DbLoginFailures,
  DbOutboxClaims,
  DbRateLimiter,
  DbSessionStore,
  DbPeerApplyStates,
  DbReplicas,
  NodePeerRunRows,
} from '../../src/store/ha';
import { ensureLeaseRow } from '../../src/store/ha/job-leases';
import { PeerEntity } from '../../src/store/entities';
import { newPeerRow } from '../harness/peer-row';
import {
  isWriteConflict,
  managerOf,
  retryOnConflict,
  TypeormTransactions,
} from '../../src/store/typeorm/transactions';
import { FencedOut, runFenced } from '../../src/core/fence';
import { TypeormOutboxStore } from '../../src/store/typeorm';
import { JobRunner, type JobTimers } from '../../src/jobs/job-runner';
import { LoginThrottle } from '../../src/http/admin/login-throttle';
import { SESSION_IDLE_MS, SESSION_MAX_MS } from '../../src/http/admin/session-store';
import type { OutboxItem } from '../../src/core/records';
import { Metrics } from '../../src/core/metrics';
import { DeliveryWorker } from '../../src/federation/delivery-worker';
import { PartnerHealthService } from '../../src/federation/partner-health';
import type { PartnerCall } from '../../src/federation/partner-call';
import type { PartnerAnswer } from '../../src/federation/partner-transport';
import type { OutboxStore } from '../../src/federation/ports';
import { TypeormPartnerHealthStore } from '../../src/store/typeorm';
import { createLogger } from '../../src/logging/logger';
import { useTempSqlite } from './fixtures/temp-sqlite';

/**
 * The shared state of replicas (src/store/ha, migration 0016) on a real
 * SQLite database: two "replicas" are two sets of stores on one database.
 * The same run on MariaDB with two sidecar processes is
 * test/integration/ha-galera.test.ts.
 */

describe('state replicas share through the database', () => {
  const clock = new ManualClock();
  const tmp = useTempSqlite('ha');

  it("a lease row made by two replicas at once: the loser's INSERT failing certification (1213) is run again and finds the winner's row", async () => {
    const { db } = tmp;
    // Fault injected on purpose (Galera produces it, but not on demand): the first INSERT of the lease row
    // through this data source loses to another replica's, which lands first, and fails with 1213.
    let injected = 0;
    const losing = new Proxy(db, {
      get(target, prop, receiver) {
        if (prop !== 'createQueryRunner') return Reflect.get(target, prop, receiver) as unknown;
        return () => {
          const qr = target.createQueryRunner();
          const query = qr.query.bind(qr);
          qr.query = async (sql: string, params?: unknown[], raw?: boolean) => {
            if (injected === 0 && sql.startsWith('INSERT INTO `job_leases`')) {
              injected++;
              await ensureLeaseRow(target, clock, 'made-twice');
              throw Object.assign(new Error('Deadlock found when trying to get lock'), {
                errno: 1213,
                code: 'ER_LOCK_DEADLOCK',
              });
            }
            return query(sql, params, raw as true);
          };
          return qr;
        };
      },
    }) as DataSource;
    await ensureLeaseRow(losing, clock, 'made-twice');
    expect(injected).toBe(1);
    const rows = (await new DbJobLeases(db, clock, 'x').list()).filter((l) => l.job === 'made-twice');
    expect(rows).toHaveLength(1);
  });

  it('a job lease goes to one replica per period, with a growing fencing token; a failed or expired run is taken over', async () => {
    const { db } = tmp;
    const a = new DbJobLeases(db, clock, 'replica-a');
    const b = new DbJobLeases(db, clock, 'replica-b');
    const la = await a.acquire('anti-entropy', 100, 60_000);
    expect(la).not.toBeNull();
    expect(await b.acquire('anti-entropy', 100, 60_000)).toBeNull();
    await la!.release(true);
    // Done for the period: nobody runs it again in it, even after the lease time.
    clock.advance(120_000);
    expect(await b.acquire('anti-entropy', 100, 60_000)).toBeNull();
    const lb = await b.acquire('anti-entropy', 101, 60_000);
    expect(lb!.token).toBe(la!.token + 1);
    expect(await a.acquire('anti-entropy', 101, 60_000)).toBeNull();
    // A failed run leaves its period to the next taker at once.
    await lb!.release(false);
    const la2 = await a.acquire('anti-entropy', 101, 60_000);
    expect(la2!.token).toBe(lb!.token + 1);
    // A holder that died: its period is taken over only after the lease expired.
    const lb2 = await b.acquire('key-rotation', 7, 60_000);
    expect(lb2).not.toBeNull();
    expect(await a.acquire('key-rotation', 7, 60_000)).toBeNull();
    clock.advance(60_000);
    expect(await a.acquire('key-rotation', 7, 60_000)).not.toBeNull();
    // The stale holder's release does not touch the new holder's lease (fenced by the token).
    await lb2!.release(true);
    const rows = await a.list();
    expect(rows.find((r) => r.job === 'key-rotation')).toMatchObject({ holder: 'replica-a', done: false });
  });

  it('two job runners on one database run a cluster job once per period, a replica job on both', async () => {
    const { db } = tmp;
    const timers: JobTimers = { after: () => () => undefined, cron: () => () => undefined };
    const logger = captureLogger();
    const runs: string[] = [];
    const runner = (name: string) => {
      const r = new JobRunner({ logger: logger.logger, timers, now: () => clock.now() });
      r.useLeases(new DbJobLeases(db, clock, name));
      r.add({
        name: 'shared',
        schedule: { everyMs: 60_000 },
        runAtStart: true,
        scope: 'cluster',
        run: async () => runs.push(`shared@${name}`),
      });
      r.add({
        name: 'own',
        schedule: { everyMs: 60_000 },
        runAtStart: true,
        run: async () => runs.push(`own@${name}`),
      });
      return r;
    };
    const ra = runner('a');
    const rb = runner('b');
    ra.start();
    rb.start();
    for (let i = 0; i < 100 && runs.length < 3; i++) await new Promise((r) => setTimeout(r, 20));
    // Time for a second run of the shared job, were the lease not to stop it.
    await new Promise((r) => setTimeout(r, 200));
    await ra.stop();
    await rb.stop();
    expect(runs.filter((r) => r.startsWith('shared@'))).toHaveLength(1);
    expect(runs.filter((r) => r.startsWith('own@')).sort()).toEqual(['own@a', 'own@b']);
    // A trigger is not leased: it answers something that happened on that replica.
    await rb.trigger('shared');
    expect(runs.filter((r) => r.startsWith('shared@'))).toHaveLength(2);
  });

  it("a cluster job run paused past its lease writes nothing once another replica took the lease over (fencing token); the new holder's writes pass", async () => {
    const { db } = tmp;
    const timers: JobTimers = { after: () => () => undefined, cron: () => () => undefined };
    const logger = captureLogger();
    const tx = new TypeormTransactions(db);
    const peerInput = {
      partnerUrl: 'https://fenced.example',
      partnerIaxHost: '192.0.2.8',
      partnerIaxPort: 4569,
      codec: 'g722',
      secret: 's'.repeat(32),
      dialect: 'v2',
      role: 'acceptor',
    } as const;
    const write = (name: string, prefix: string) =>
      tx.run((t) =>
        managerOf(db, t)
          .getRepository(PeerEntity)
          .save(newPeerRow({ ...peerInput, name, prefix }, clock.now())),
      );
    let resume = (): void => undefined;
    const paused = new Promise<void>((r) => (resume = r));
    let started = false;
    const runner = (name: string, run: () => Promise<unknown>) => {
      const r = new JobRunner({ logger: logger.logger, timers, now: () => clock.now() });
      r.useLeases(new DbJobLeases(db, clock, name));
      r.add({ name: 'fenced', schedule: { everyMs: 60_000 }, runAtStart: true, scope: 'cluster', run });
      return r;
    };
    // A wins the period and stalls before its write (as a replica stopped by SIGSTOP or a long GC).
    const ra = runner('replica-a', async () => {
      started = true;
      await paused;
      await write('fenced_a', '71');
    });
    ra.start();
    for (let i = 0; i < 100 && !started; i++) await new Promise((r) => setTimeout(r, 10));
    expect(started).toBe(true);
    // Its lease expires (60 s for a 60 s period); B takes the period over and writes.
    clock.advance(60_000);
    let bDone = false;
    const rb = runner('replica-b', async () => {
      await write('fenced_b', '72');
      bDone = true;
    });
    rb.start();
    for (let i = 0; i < 100 && !bDone; i++) await new Promise((r) => setTimeout(r, 10));
    expect(bDone).toBe(true);
    // A wakes up: its write is refused in its transaction, nothing of it is stored, the refusal is logged.
    resume();
    await ra.stop();
    await rb.stop();
    const names = (await db.getRepository(PeerEntity).find()).map((p) => p.name);
    expect(names).toContain('fenced_b');
    expect(names).not.toContain('fenced_a');
    expect(logger.text()).toContain('cluster job run fenced off: another replica took its lease over');
    const leases = await new DbJobLeases(db, clock, 'x').list();
    const lease = leases.find((l) => l.job === 'fenced');
    expect(lease?.holder).toBe('replica-b');
    // The same check on its own: the stale token is refused, the lease's current one passes.
    await expect(
      runFenced({ lease: 'fenced', token: lease!.token - 1 }, () => write('fenced_c', '73')),
    ).rejects.toBeInstanceOf(FencedOut);
    await runFenced({ lease: 'fenced', token: lease!.token }, () => write('fenced_d', '74'));
    // Work a run started (a worker it kicked) and that writes once the run is over is not the run's: not fenced.
    let go = (): void => undefined;
    const gate = new Promise<void>((r) => (go = r));
    let background: Promise<unknown> = Promise.resolve();
    await runFenced({ lease: 'fenced', token: lease!.token - 1 }, async () => {
      background = gate.then(() => write('fenced_e', '75'));
    });
    go();
    await background;
    const after = (await db.getRepository(PeerEntity).find()).map((p) => p.name);
    expect(after).toEqual(expect.arrayContaining(['fenced_d', 'fenced_e']));
    expect(after).not.toContain('fenced_c');
  });

  it('an outbox item is claimed by one replica; a delivered one by none; an expired claim is taken over', async () => {
    const { db } = tmp;
    const store = new TypeormOutboxStore(db);
    const now = clock.now();
    const item: OutboxItem = {
      id: '00000000-0000-4000-8000-000000000001',
      kind: 'accept',
      dialect: 'v2',
      peerName: 'p',
      requestId: 'r1',
      method: 'POST',
      url: 'https://partner.example/federation/v2/x',
      body: {},
      state: 'pending',
      attempts: 0,
      nextAttemptAt: now,
      expiresAt: now + 86_400_000,
      lastError: null,
      createdAt: now,
      updatedAt: now,
    };
    await store.insert(item);
    const a = new DbOutboxClaims(db, clock, 'a', 60_000);
    const b = new DbOutboxClaims(db, clock, 'b', 60_000);
    const ta = await a.claim(item.id);
    expect(ta).not.toBeNull();
    expect(await b.claim(item.id)).toBeNull();
    clock.advance(60_000);
    const tb = await b.claim(item.id);
    expect(tb).not.toBeNull();
    // A's late release does not free B's claim.
    await a.release(item.id, ta!);
    expect(await a.claim(item.id)).toBeNull();
    // B restarts under its name: the claim of its previous life is given back at once (not after claimMs); A's are not.
    const b2 = new DbOutboxClaims(db, clock, 'b', 60_000);
    expect(await a.releaseOwn()).toBe(0);
    expect(await a.claim(item.id)).toBeNull();
    expect(await b2.releaseOwn()).toBe(1);
    const ta2 = await a.claim(item.id);
    expect(ta2).not.toBeNull();
    await a.release(item.id, ta2!);
    await store.update(item.id, { state: 'delivered', updatedAt: clock.now() });
    await b.release(item.id, tb!);
    expect(await a.claim(item.id)).toBeNull();
  });

  const outboxItem = (now: number): OutboxItem => ({
    id: '00000000-0000-4000-8000-000000000002',
    kind: 'accept',
    dialect: 'v2',
    peerName: 'p',
    requestId: 'r2',
    method: 'POST',
    url: 'https://partner.example/federation/v2/x',
    body: {},
    state: 'pending',
    attempts: 0,
    nextAttemptAt: now,
    expiresAt: now + 86_400_000,
    lastError: null,
    createdAt: now,
    updatedAt: now,
  });

  /** A replica's delivery worker on the shared database; `holder` null: one without claims (a single sidecar). */
  function worker(
    holder: string | null,
    send: (call: PartnerCall) => Promise<PartnerAnswer>,
    store: OutboxStore = new TypeormOutboxStore(tmp.db),
  ): DeliveryWorker {
    const { db } = tmp;
    const logger = createLogger({ level: 'error', format: 'json', silent: true });
    const retry = { baseMs: 1000, maxMs: 3_600_000 };
    const health = new PartnerHealthService({
      store: new TypeormPartnerHealthStore(db),
      clock,
      logger,
      retry,
      suspendAfterDays: 7,
      random: () => 1,
    });
    return new DeliveryWorker({
      store,
      clock,
      logger,
      metrics: new Metrics(),
      send,
      health,
      retry,
      pollMs: 1000,
      random: () => 1,
      claims: holder === null ? undefined : new DbOutboxClaims(db, clock, holder, 60_000),
    });
  }

  it('a claim is refused for an item whose next attempt is ahead (a purge may still take it)', async () => {
    const { db } = tmp;
    const store = new TypeormOutboxStore(db);
    const item = { ...outboxItem(clock.now()), nextAttemptAt: clock.now() + 1000 };
    await store.insert(item);
    const a = new DbOutboxClaims(db, clock, 'a', 60_000);
    expect(await a.claim(item.id)).toBeNull();
    const t = await a.claim(item.id, { evenIfNotDue: true });
    expect(t).not.toBeNull();
    await a.release(item.id, t!);
    clock.advance(1000);
    expect(await a.claim(item.id)).not.toBeNull();
  });

  it('a replica with a stale list neither re-sends an item another just tried nor writes back a lower attempt count', async () => {
    const { db } = tmp;
    const store = new TypeormOutboxStore(db);
    await store.insert(outboxItem(clock.now()));
    const sent: string[] = [];
    const b = worker('b', async () => {
      sent.push('b');
      return { status: 503, json: null };
    });
    // Fault injection (named so): replica A's list is read, then replica B runs a whole pass before A goes on.
    const staleListStore: OutboxStore = Object.assign(Object.create(store) as OutboxStore, {
      listPending: async (filter?: { requestIds?: string[] }) => {
        const listed = await store.listPending(filter);
        await b.runOnce();
        return listed;
      },
    });
    const a = worker(
      'a',
      async () => {
        sent.push('a');
        return { status: 503, json: null };
      },
      staleListStore,
    );
    expect(await a.runOnce()).toEqual([]);
    expect(sent).toEqual(['b']);
    expect(await store.get(outboxItem(0).id)).toMatchObject({ state: 'pending', attempts: 1 });
    await a.stop();
    await b.stop();
  });

  it('a purge leaves an item another replica is sending to it, and a purged item never turns delivered', async () => {
    const { db } = tmp;
    const store = new TypeormOutboxStore(db);
    const item = outboxItem(clock.now());
    await store.insert(item);
    let answer!: (a: PartnerAnswer) => void;
    let sending!: () => void;
    const inFlight = new Promise<void>((r) => (sending = r));
    const a = worker('a', () => {
      sending();
      return new Promise<PartnerAnswer>((r) => (answer = r));
    });
    const b = worker('b', async () => ({ status: 200, json: {} }));
    const single = worker(null, async () => ({ status: 200, json: {} }));
    const pass = a.runOnce();
    await inFlight;
    // B sees A's live claim and leaves the item to A's attempt.
    expect(await b.purgePartner('partner.example')).toBe(0);
    expect(await store.get(item.id)).toMatchObject({ state: 'pending' });
    // A purge that does not look at claims (the single-process path) marks it failed while A's send is out...
    expect(await single.purgePartner('partner.example')).toBe(1);
    answer({ status: 200, json: {} });
    await pass;
    // ...and A's late success does not turn the purged item into a delivered one.
    expect(await store.get(item.id)).toMatchObject({ state: 'failed', lastError: 'purged by an admin' });
    for (const w of [a, b, single]) await w.stop();
  });

  it('a rate limit counts the hits of both replicas in one window', async () => {
    const { db } = tmp;
    const a = new DbRateLimiter(db, clock, 'origin', 3, 60_000);
    const b = new DbRateLimiter(db, clock, 'origin', 3, 60_000);
    expect(await a.take('partner.example')).toEqual({ ok: true });
    expect(await b.take('partner.example')).toEqual({ ok: true });
    clock.advance(10_000);
    expect(await a.take('partner.example')).toEqual({ ok: true });
    expect(await b.take('partner.example')).toEqual({ ok: false, retryAfterS: 50 });
    expect(await b.take('other.example')).toEqual({ ok: true });
    clock.advance(50_000);
    expect(await b.take('partner.example')).toEqual({ ok: true });
  });

  it('a session made on one replica is valid on the other until it ends, with its flash', async () => {
    const { db } = tmp;
    const limits = { idleMs: SESSION_IDLE_MS, maxMs: SESSION_MAX_MS };
    const a = new DbSessionStore(db, clock, limits);
    const b = new DbSessionStore(db, clock, limits);
    const { id, session } = await a.create('alice');
    expect((await b.get(id))?.csrfToken).toBe(session.csrfToken);
    await b.setFlash(id, { kind: 'ok', text: 'saved' });
    expect((await a.get(id))?.flash).toEqual({ kind: 'ok', text: 'saved' });
    expect(await b.get(id + 'x')).toBeNull();
    await a.destroy(id);
    expect(await b.get(id)).toBeNull();
    const s2 = await a.create('bob');
    clock.advance(SESSION_IDLE_MS + 1);
    expect(await b.get(s2.id)).toBeNull();
    const s3 = await a.create('carol');
    await b.destroyUser('carol');
    expect(await a.get(s3.id)).toBeNull();
    // Stored as a hash: the cookie value is nowhere in the table.
    const rows: unknown = await db.query('SELECT * FROM admin_sessions');
    expect(JSON.stringify(rows)).not.toContain(s3.id);
  });

  it('failed logins on one replica throttle the account on the other', async () => {
    const { db } = tmp;
    const limits = { windowMs: 60_000, perUsername: 2, perAddress: 10 };
    const a = new LoginThrottle(clock, limits, new DbLoginFailures(db, clock));
    const b = new LoginThrottle(clock, limits, new DbLoginFailures(db, clock));
    await a.recordFailure('dave', '10.0.0.1');
    await b.recordFailure('dave', '10.0.0.2');
    await expect(a.check('dave', '10.0.0.3')).rejects.toMatchObject({ code: 'LOGIN_THROTTLED' });
    await a.recordSuccess('dave');
    await expect(b.check('dave', '10.0.0.3')).resolves.toBeUndefined();
  });

  it('each replica records the apply state of its own Asterisk node; a peer is applied when applied on every live node', async () => {
    const { db } = tmp;
    const ra = new DbReplicas(db, clock, 'replica-a', 'ast-a', '1.0.0', 1000);
    const rb = new DbReplicas(db, clock, 'replica-b', 'ast-b', '1.0.0', 1000);
    await Promise.all([ra.beat(), rb.beat()]);
    const peer = newPeerRow({
      name: 'berlin',
      prefix: '70',
      partnerUrl: 'https://berlin.example',
      partnerIaxHost: '192.0.2.7',
      partnerIaxPort: 4569,
      codec: 'g722',
      secret: 's'.repeat(32),
      dialect: 'v2',
      role: 'acceptor',
    });
    await db.getRepository(PeerEntity).insert(peer);
    const onA = new NodePeerRunRows(db, 'ast-a', clock);
    const onB = new NodePeerRunRows(db, 'ast-b', clock);
    const states = new DbPeerApplyStates(db, ra);
    const stateOn = async (rows: NodePeerRunRows) => (await rows.readAll())[0].applyState;
    expect([await stateOn(onA), await stateOn(onB)]).toEqual(['pending', 'pending']);

    await onA.patch([peer.id], { applyState: 'applied', applyError: null, appliedAt: clock.now() });
    expect([await stateOn(onA), await stateOn(onB)]).toEqual(['applied', 'pending']);
    // Not the peer row's shared column: the other replica's Asterisk has not got it.
    expect((await db.getRepository(PeerEntity).findOneByOrFail({ id: peer.id })).applyState).toBe('pending');
    let s = (await states.summarize([peer.id])).get(peer.id);
    expect(s?.applyState).toBe('pending');
    expect(s?.nodes.map((n) => [n.node, n.applyState])).toEqual([
      ['ast-a', 'applied'],
      ['ast-b', 'pending'],
    ]);

    await onB.patch([peer.id], { applyState: 'applied', applyError: null, appliedAt: clock.now() });
    expect((await states.summarize([peer.id])).get(peer.id)?.applyState).toBe('applied');
    await onB.patch([peer.id], { applyState: 'failed', applyError: 'reload refused' });
    s = (await states.summarize([peer.id])).get(peer.id);
    expect([s?.applyState, s?.applyError]).toEqual(['failed', 'ast-b: reload refused']);
    expect((await onB.findForTestCall('berlin'))?.applyState).toBe('failed');
    expect((await onA.findForTestCall('berlin'))?.applyState).toBe('applied');

    // The link's columns stay on the peer row (the monitor), not in a node's state.
    await onA.patch([peer.id], { reachability: 'reachable', latencyMs: 12 });
    expect((await db.getRepository(PeerEntity).findOneByOrFail({ id: peer.id })).reachability).toBe(
      'reachable',
    );

    // B stops beating: after three beats only A's node counts.
    clock.advance(3001);
    await ra.beat();
    expect((await states.summarize([peer.id])).get(peer.id)?.applyState).toBe('applied');
    const listed = await ra.list();
    expect(listed.replicas.map((r) => [r.replicaId, r.asteriskNode, r.live])).toEqual([
      ['replica-a', 'ast-a', true],
      ['replica-b', 'ast-b', false],
    ]);
    await rb.leave();
    expect((await ra.list()).replicas.map((r) => r.replicaId)).toEqual(['replica-a']);

    // The peer goes: each node's own read deletes its row.
    await db.getRepository(PeerEntity).delete({ id: peer.id });
    await onA.readAll();
    const left = await db.query('SELECT node FROM peer_node_states');
    expect(left).toEqual([{ node: 'ast-b' }]);
  });
});

describe('a transaction that loses a write conflict (1213)', () => {
  /** A fake of the driver's error: a single database cannot be made to lose certification on demand. */
  const fakeConflict = () =>
    Object.assign(new Error('Deadlock found when trying to get lock'), {
      errno: 1213,
      code: 'ER_LOCK_DEADLOCK',
    });

  it('is run again as a whole, up to its attempts; other errors are not retried', async () => {
    let calls = 0;
    const result = await retryOnConflict(async () => {
      calls++;
      if (calls < 3) throw fakeConflict();
      return 'done';
    });
    expect(result).toBe('done');
    expect(calls).toBe(3);
    calls = 0;
    await expect(
      retryOnConflict(async () => {
        calls++;
        throw fakeConflict();
      }),
    ).rejects.toMatchObject({ errno: 1213 });
    expect(calls).toBe(5);
    calls = 0;
    await expect(
      retryOnConflict(async () => {
        calls++;
        throw Object.assign(new Error('duplicate'), { errno: 1062 });
      }),
    ).rejects.toThrow('duplicate');
    expect(calls).toBe(1);
    expect(isWriteConflict(fakeConflict())).toBe(true);
  });
});
