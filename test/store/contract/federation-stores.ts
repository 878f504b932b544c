/**
 * The contract of the protocol core's store ports (src/federation/ports): one
 * set of cases, run against every implementation (in memory, SQLite,
 * MariaDB) by test/integration/store-contract.test.ts. What the core relies
 * on: the order of lists, refusals of duplicate keys that write nothing,
 * transactions that commit together or roll back together, compare-and-set
 * updates, case-folded partner names, and text outside latin1 read back
 * intact.
 */
import type { FederationStores } from '../../../src/federation/ports';
import { ManualClock } from '../../harness/manual-clock';
import { memoryFederationStores } from '../memory';
import { incomingRow, localKeyRow, outboxRow, outgoingRow, partnerRow, peerRow, WIDE_TEXT } from './rows';

const HEALTH_ROW = {
  serverName: 'beta.example.org',
  consecutiveFailures: 0,
  failingSince: null,
  nextAttemptAt: null,
  lastSuccessAt: 1,
  lastFailureAt: null,
  lastError: null,
  failureDays: 0,
  lastFailureDay: null,
  suspendedAt: null,
  suspendedReason: null,
  lastInboundAt: 1,
  queuePausedAt: null,
  updatedAt: 1,
};

export interface OpenedStores {
  stores: FederationStores;
  clock: ManualClock;
  close(): Promise<void>;
}

/**
 * open() gives empty stores on every call; the stores of one call must refuse
 * a transaction of another store (memoryFederationStores stands for one).
 */
export function describeStoreContract(
  name: string,
  open: (clock: ManualClock) => Promise<OpenedStores>,
): void {
  describe(`store contract: ${name}`, () => {
    let s: FederationStores;
    let clock: ManualClock;
    let opened: OpenedStores;

    beforeEach(async () => {
      clock = new ManualClock();
      opened = await open(clock);
      s = opened.stores;
    });
    afterEach(async () => {
      await opened.close();
    });

    describe('peerings', () => {
      it("lists every peer's map columns (partner, states), no secret", async () => {
        const up = peerRow({
          partnerServerName: 'up.example.org',
          reachability: 'reachable',
          applyState: 'applied',
        });
        const gone = peerRow({ partnerServerName: null, state: 'partner_missing' });
        for (const p of [up, gone]) await s.peerings.insertPeer(p);
        const rows = await s.peerings.listPeerMapRows();
        const pick = (p: typeof up) => ({
          partnerServerName: p.partnerServerName,
          partnerUrl: p.partnerUrl,
          state: p.state,
          applyState: p.applyState,
          reachability: p.reachability,
        });
        const byUrl = (a: { partnerUrl: string }, b: { partnerUrl: string }) =>
          a.partnerUrl.localeCompare(b.partnerUrl);
        expect(rows.map((r) => pick(r as typeof up)).sort(byUrl)).toEqual([pick(up), pick(gone)].sort(byUrl));
        for (const r of rows) expect((r as Partial<typeof up>).secret).toBeUndefined();
      });

      it('lists oldest first (created_at, then id) whatever the insert order, and filters by dialect', async () => {
        const b = peerRow({ id: 'peer-b', createdAt: 500 });
        const a = peerRow({ id: 'peer-a', createdAt: 500 });
        const old = peerRow({ id: 'peer-z', createdAt: 100, dialect: 'v1' });
        for (const p of [b, old, a]) await s.peerings.insertPeer(p);
        expect((await s.peerings.listPeers()).map((p) => p.id)).toEqual(['peer-z', 'peer-a', 'peer-b']);
        expect((await s.peerings.listPeers({ dialect: 'v2' })).map((p) => p.id)).toEqual([
          'peer-a',
          'peer-b',
        ]);
        const outs = [
          outgoingRow({ createdAt: 30 }),
          outgoingRow({ createdAt: 10 }),
          outgoingRow({ createdAt: 20 }),
        ];
        for (const o of outs) await s.peerings.insertOutgoing(o);
        expect((await s.peerings.listOutgoing()).map((o) => o.createdAt)).toEqual([10, 20, 30]);
      });

      it('finds a peer by each of its keys and reads back every column as written', async () => {
        const p = peerRow({ role: 'acceptor', partnerError: WIDE_TEXT, partnerErrorAt: 123 });
        await s.peerings.insertPeer(p);
        expect(await s.peerings.findPeer({ id: p.id })).toEqual(p);
        expect(await s.peerings.findPeer({ name: p.name })).toEqual(p);
        expect(await s.peerings.findPeer({ requestId: p.requestId, role: 'acceptor' })).toEqual(p);
        expect(await s.peerings.findPeer({ requestId: p.requestId, role: 'requester' })).toBeNull();
        expect(
          await s.peerings.findPeer({ partnerServerName: p.partnerServerName ?? '', dialect: 'v2' }),
        ).toEqual(p);
        expect(await s.peerings.findPeer({ name: 'nobody' })).toBeNull();
        expect(await s.peerings.findPeerHolding({ name: 'other', prefix: p.prefix })).toEqual(p);
        expect(await s.peerings.findPeerHolding({ name: 'other', prefix: '0000' })).toBeNull();
      });

      it("answers a request id's peer partner alone: the name, null for a peer without one, undefined for no peer", async () => {
        const named = peerRow({ partnerServerName: 'named.example.org' });
        const unnamed = peerRow({ partnerServerName: null });
        await s.peerings.insertPeer(named);
        await s.peerings.insertPeer(unnamed);
        expect(await s.peerings.peerPartnerOfRequest(named.requestId)).toBe('named.example.org');
        expect(await s.peerings.peerPartnerOfRequest(unnamed.requestId)).toBeNull();
        expect(await s.peerings.peerPartnerOfRequest('no-such-request')).toBeUndefined();
      });

      it("answers a request id's peer epochs alone: partner, dialect and the epoch columns as written, null for no peer", async () => {
        const fixed = peerRow({ partnerServerName: null, secretEpochSeconds: null });
        const shifted = peerRow({
          partnerServerName: 'epochs.example.org',
          secretEpochSeconds: 86_400,
          secretEpochOffset: 3,
          secretShiftAt: 1_767_225_600_123,
        });
        await s.peerings.insertPeer(fixed);
        await s.peerings.insertPeer(shifted);
        expect(await s.peerings.peerEpochsOfRequest(shifted.requestId)).toEqual({
          partnerServerName: 'epochs.example.org',
          dialect: shifted.dialect,
          secretEpochSeconds: 86_400,
          secretEpochOffset: 3,
          secretShiftAt: 1_767_225_600_123,
        });
        expect(await s.peerings.peerEpochsOfRequest(fixed.requestId)).toEqual({
          partnerServerName: null,
          dialect: fixed.dialect,
          secretEpochSeconds: null,
          secretEpochOffset: fixed.secretEpochOffset,
          secretShiftAt: fixed.secretShiftAt,
        });
        expect(await s.peerings.peerEpochsOfRequest('no-such-request')).toBeNull();
      });

      it('refuses a second peer with a taken name or prefix and writes nothing', async () => {
        const p = peerRow();
        await s.peerings.insertPeer(p);
        await expect(s.peerings.insertPeer(peerRow({ name: p.name }))).rejects.toThrow();
        await expect(s.peerings.insertPeer(peerRow({ prefix: p.prefix }))).rejects.toThrow();
        expect(await s.peerings.listPeers()).toEqual([p]);
        const inc = incomingRow();
        await s.peerings.insertIncoming(inc);
        await expect(s.peerings.insertIncoming(incomingRow({ requestId: inc.requestId }))).rejects.toThrow();
        expect(await s.peerings.listIncoming()).toEqual([inc]);
      });

      it('updates and deletes only while pending when asked (compare-and-set), and says whether it did', async () => {
        const o = outgoingRow();
        await s.peerings.insertOutgoing(o);
        expect(
          await s.peerings.updateOutgoing(
            o.id,
            { state: 'declined', declineReason: WIDE_TEXT },
            { onlyIfPending: true },
          ),
        ).toBe(true);
        expect(await s.peerings.updateOutgoing(o.id, { state: 'failed' }, { onlyIfPending: true })).toBe(
          false,
        );
        expect(await s.peerings.deleteOutgoing(o.id, { onlyIfPending: true })).toBe(false);
        expect(await s.peerings.findOutgoing(o.id)).toMatchObject({
          state: 'declined',
          declineReason: WIDE_TEXT,
        });
        expect(await s.peerings.deleteOutgoing(o.id)).toBe(true);
        expect(await s.peerings.deleteOutgoing(o.id)).toBe(false);
        expect(await s.peerings.updatePeer('missing', { state: 'partner_missing' })).toBe(false);
        const i = incomingRow();
        await s.peerings.insertIncoming(i);
        expect(await s.peerings.deleteIncoming(i.id, { onlyIfPending: true })).toBe(true);
        expect(await s.peerings.findIncoming({ requestId: i.requestId })).toBeNull();
      });

      it('writes a forced rotation only over the one read (compare-and-set on secretShiftAt)', async () => {
        const p = peerRow();
        await s.peerings.insertPeer(p);
        const T = 1_767_225_600_000;
        expect(await s.peerings.updatePeerIfShiftAt(p.id, T, { secretShiftAt: T + 1 })).toBe(false);
        expect(
          await s.peerings.updatePeerIfShiftAt(p.id, null, { secretEpochOffset: 2, secretShiftAt: T }),
        ).toBe(true);
        expect(await s.peerings.updatePeerIfShiftAt(p.id, null, { secretShiftAt: T + 1 })).toBe(false);
        expect(await s.peerings.updatePeerIfShiftAt(p.id, T, { secretShiftAt: T - 1 })).toBe(true);
        expect(await s.peerings.updatePeerIfShiftAt('missing', null, { secretShiftAt: T })).toBe(false);
        expect(await s.peerings.findPeer({ id: p.id })).toMatchObject({
          secretEpochOffset: 2,
          secretShiftAt: T - 1,
        });
      });

      it("lists a partner's recent pending incoming requests (created after, exclusive), at most limit", async () => {
        const from = 'budget.example.org';
        const rows = [10, 20, 30, 40].map((t) => incomingRow({ partnerServerName: from, createdAt: t }));
        rows.push(incomingRow({ partnerServerName: from, createdAt: 50, state: 'declined' }));
        rows.push(incomingRow({ partnerServerName: 'other.example.org', createdAt: 60 }));
        for (const r of rows) await s.peerings.insertIncoming(r);
        const got = await s.peerings.listIncoming({
          partnerServerName: from,
          state: 'pending',
          createdAfter: 10,
          limit: 2,
        });
        expect(got.map((r) => r.createdAt)).toEqual([20, 30]);
      });

      it('knows whether a peer or request in any state names a partner (names stored lower case)', async () => {
        await s.peerings.insertOutgoing(
          outgoingRow({ partnerServerName: 'known.example.org', state: 'failed' }),
        );
        expect(await s.peerings.refersToPartner('KNOWN.example.org')).toBe(true);
        expect(await s.peerings.refersToPartner('unknown.example.org')).toBe(false);
      });
    });

    describe('transactions', () => {
      it('commits every write of a transaction together', async () => {
        const p = peerRow();
        const item = outboxRow({ requestId: p.requestId });
        await s.transactions.run(async (tx) => {
          await s.peerings.insertPeer(p, tx);
          await s.outbox.insert(item, tx);
        });
        expect(await s.peerings.findPeer({ id: p.id })).toEqual(p);
        expect(await s.outbox.latest(p.requestId, 'accept')).toEqual(item);
      });

      it('rolls back every write of a transaction that throws, across tables', async () => {
        const o = outgoingRow();
        await s.peerings.insertOutgoing(o);
        const p = peerRow();
        await expect(
          s.transactions.run(async (tx) => {
            expect(await s.peerings.deleteOutgoing(o.id, { onlyIfPending: true }, tx)).toBe(true);
            await s.peerings.insertPeer(p, tx);
            await s.outbox.insert(outboxRow({ requestId: p.requestId }), tx);
            await s.partners.insert(partnerRow(), tx);
            await s.settings.put('policy', { mode: 'open' }, 1, tx);
            throw new Error('refused after writing');
          }),
        ).rejects.toThrow('refused after writing');
        expect(await s.peerings.findOutgoing(o.id)).toEqual(o);
        expect(await s.peerings.listPeers()).toEqual([]);
        expect(await s.outbox.countPending()).toBe(0);
        expect(await s.settings.get('policy')).toBeNull();
      });

      it('rolls back when a duplicate key refuses the last write', async () => {
        const p = peerRow();
        await s.peerings.insertPeer(p);
        const o = outgoingRow();
        await expect(
          s.transactions.run(async (tx) => {
            await s.peerings.insertOutgoing(o, tx);
            await s.peerings.insertPeer(peerRow({ name: p.name }), tx);
          }),
        ).rejects.toThrow();
        expect(await s.peerings.findOutgoing(o.id)).toBeNull();
      });

      it('runs transactions one after another: the second sees what the first committed', async () => {
        const order: string[] = [];
        const first = s.transactions.run(async (tx) => {
          order.push('first:start');
          await s.peerings.insertOutgoing(outgoingRow({ id: 'out-serial' }), tx);
          await new Promise((r) => setTimeout(r, 50));
          order.push('first:end');
        });
        const second = s.transactions.run(async (tx) => {
          order.push('second:start');
          return s.peerings.findOutgoing('out-serial', tx);
        });
        await first;
        expect(await second).not.toBeNull();
        expect(order).toEqual(['first:start', 'first:end', 'second:start']);
      });

      it('a write outside a transaction, made as one opens, is kept and leaves that transaction whole', async () => {
        // A store write outside Transactions.run must not open a transaction of its own: on SQLite's one
        // connection it nested with the protocol's transaction, so the protocol's rollback took the write
        // with it, or the two commits crossed ("Transaction is not started yet"). Each round starts the
        // transaction a few more microtasks after the write, so the rounds cover every interleaving.
        for (let round = 0; round < 24; round++) {
          for (const refused of [true, false]) {
            const key = `setting-${round}-${refused}`;
            const server = `p${round}-${refused}.example.org`;
            const id = `out-${round}-${refused}`;
            const setting = s.settings.put(key, { round }, round);
            const health = s.partnerHealth.put({ ...HEALTH_ROW, serverName: server });
            for (let i = 0; i < round; i++) await Promise.resolve();
            const tx = s.transactions.run(async (t) => {
              await s.peerings.insertOutgoing(outgoingRow({ id }), t);
              await new Promise((r) => setTimeout(r, 2));
              if (refused) throw new Error('refused on purpose');
            });
            const [put, healthPut, run] = await Promise.allSettled([setting, health, tx]);
            expect([round, put.status, healthPut.status]).toEqual([round, 'fulfilled', 'fulfilled']);
            if (refused) await expect(tx).rejects.toThrow('refused on purpose');
            else expect([round, run.status]).toEqual([round, 'fulfilled']);
            expect([round, await s.settings.get(key)]).toEqual([round, { round }]);
            expect([round, (await s.partnerHealth.get(server))?.serverName]).toEqual([round, server]);
            expect([round, (await s.peerings.findOutgoing(id)) !== null]).toEqual([round, !refused]);
          }
        }
      });

      it('a write outside a transaction, made while one sits at an await, outlives its rollback', async () => {
        // On SQLite's one connection such a write used to run inside the open transaction and vanish
        // with its rollback: a reserved nonce disappeared, so its signed request could be replayed.
        const until = clock.now() + 1000;
        let opened!: () => void;
        const atAwait = new Promise<void>((r) => (opened = r));
        const tx = s.transactions.run(async (t) => {
          await s.peerings.insertOutgoing(outgoingRow({ id: 'out-rolled-back' }), t);
          opened();
          await new Promise((r) => setTimeout(r, 30));
          throw new Error('refused on purpose');
        });
        await atAwait;
        const reserved = s.nonces.reserve('a#k1', 'n-during', until);
        const put = s.settings.put('during', { kept: true }, 1);
        await expect(tx).rejects.toThrow('refused on purpose');
        expect(await reserved).toBe(true);
        await put;
        expect(await s.peerings.findOutgoing('out-rolled-back')).toBeNull();
        expect(await s.nonces.reserve('a#k1', 'n-during', until)).toBe(false);
        expect(await s.settings.get('during')).toEqual({ kept: true });
      });

      it('a store called without its tx inside a transaction body does not wait for itself', async () => {
        await s.transactions.run(async (t) => {
          await s.peerings.insertOutgoing(outgoingRow({ id: 'out-reentry' }), t);
          await s.settings.put('inside', 1, 1);
          expect(await s.nonces.reserve('a#k1', 'n-inside', clock.now() + 1000)).toBe(true);
        });
        expect(await s.settings.get('inside')).toBe(1);
      });

      it('refuses a transaction opened by another store', async () => {
        const other = memoryFederationStores(new ManualClock());
        await expect(other.transactions.run((tx) => s.peerings.insertPeer(peerRow(), tx))).rejects.toThrow(
          /another store/,
        );
        expect(await s.peerings.listPeers()).toEqual([]);
      });
    });

    describe('outbox', () => {
      it('lists pending oldest first, failed by last update (newest first, at most limit), and the latest of a kind', async () => {
        const r = 'req-outbox';
        const items = [
          outboxRow({ id: 'ob-3', requestId: r, createdAt: 30 }),
          outboxRow({ id: 'ob-1', requestId: r, createdAt: 10, kind: 'teardown' }),
          outboxRow({ id: 'ob-2', requestId: 'req-other', createdAt: 20 }),
          outboxRow({ id: 'ob-f1', state: 'failed', updatedAt: 100 }),
          outboxRow({ id: 'ob-f2', state: 'failed', updatedAt: 300 }),
          outboxRow({ id: 'ob-f3', state: 'failed', updatedAt: 200 }),
          outboxRow({ id: 'ob-d', state: 'delivered', requestId: r, createdAt: 40 }),
        ];
        for (const i of items) await s.outbox.insert(i);
        expect((await s.outbox.listPending()).map((i) => i.id)).toEqual(['ob-1', 'ob-2', 'ob-3']);
        expect((await s.outbox.listPending({ requestIds: [r] })).map((i) => i.id)).toEqual(['ob-1', 'ob-3']);
        expect(await s.outbox.listPending({ requestIds: [] })).toEqual([]);
        expect((await s.outbox.listFailed(2)).map((i) => i.id)).toEqual(['ob-f2', 'ob-f3']);
        expect(await s.outbox.countPending()).toBe(3);
        expect((await s.outbox.latest(r, 'accept'))?.id).toBe('ob-d');
        expect(await s.outbox.latest(r, 'decline')).toBeNull();
        expect(await s.outbox.get('ob-f1')).toEqual(items[3]);
        expect(await s.outbox.get('ob-missing')).toBeNull();
      });

      it("patches pending items of one request only, or all pending, and keeps a body's text intact", async () => {
        const body = { note: WIDE_TEXT, nested: { list: [1, 'two'] } };
        await s.outbox.insert(
          outboxRow({
            id: 'ob-a',
            requestId: 'r1',
            body,
            url: `https://x.example/${encodeURIComponent(WIDE_TEXT)}`,
          }),
        );
        await s.outbox.insert(outboxRow({ id: 'ob-b', requestId: 'r1', state: 'delivered' }));
        await s.outbox.insert(outboxRow({ id: 'ob-c', requestId: 'r2' }));
        expect(
          await s.outbox.updatePending({ state: 'failed', lastError: WIDE_TEXT }, { requestId: 'r1' }),
        ).toBe(1);
        expect(await s.outbox.listFailed(10)).toMatchObject([{ id: 'ob-a', body, lastError: WIDE_TEXT }]);
        expect(await s.outbox.updatePending({ nextAttemptAt: 7 })).toBe(1);
        expect(await s.outbox.listPending()).toMatchObject([{ id: 'ob-c', nextAttemptAt: 7 }]);
        // One item by id, only while pending (a delivery's outcome never overwrites a purge).
        expect(await s.outbox.updatePending({ attempts: 2 }, { id: 'ob-b' })).toBe(0);
        expect(await s.outbox.updatePending({ attempts: 2 }, { id: 'ob-c' })).toBe(1);
        expect(await s.outbox.get('ob-c')).toMatchObject({ attempts: 2, state: 'pending' });
        await s.outbox.update('ob-c', { attempts: 3, state: 'delivered' });
        expect(await s.outbox.countPending()).toBe(0);
      });
    });

    describe('nonces', () => {
      it('reserves a nonce once until it expires, then again; purges expired ones', async () => {
        const until = clock.now() + 1000;
        expect(await s.nonces.reserve('a#k1', 'n1', until)).toBe(true);
        expect(await s.nonces.reserve('a#k1', 'n1', until)).toBe(false);
        expect(await s.nonces.reserve('a#k2', 'n1', until)).toBe(true);
        const racing = await Promise.all(
          Array.from({ length: 5 }, () => s.nonces.reserve('a#k1', 'n2', until)),
        );
        expect(racing.filter(Boolean)).toHaveLength(1);
        clock.advance(1000);
        expect(await s.nonces.reserve('a#k1', 'n1', clock.now() + 1000)).toBe(true);
        expect(await s.nonces.purgeExpired()).toBe(2);
        expect(await s.nonces.reserve('a#k1', 'n1', clock.now() + 1000)).toBe(false);
      });
    });

    describe('partners', () => {
      it('keys partners by lower-case server name and refuses a duplicate in another case', async () => {
        const p = partnerRow({ serverName: 'Mixed.Example.org', descriptor: { note: WIDE_TEXT } });
        await s.partners.insert(p);
        const stored = { ...p, serverName: 'mixed.example.org' };
        expect(await s.partners.get('MIXED.example.ORG')).toEqual(stored);
        await expect(s.partners.insert(partnerRow({ serverName: 'mixed.EXAMPLE.org' }))).rejects.toThrow();
        await s.partners.update('Mixed.example.org', {
          heldKeys: [{ kid: 'k2', alg: 'ed25519', publicKey: 'CC' }],
          fetchFailures: 2,
        });
        expect(await s.partners.get('mixed.example.org')).toMatchObject({
          fetchFailures: 2,
          heldKeys: [{ kid: 'k2' }],
        });
        expect(await s.partners.signingKeysOf('MIXED.example.org')).toEqual({
          signingKeys: p.signingKeys,
          heldKeys: [{ kid: 'k2', alg: 'ed25519', publicKey: 'CC' }],
          fetchFailures: 2,
        });
        await s.partners.delete('MIXED.example.org');
        expect(await s.partners.get('mixed.example.org')).toBeNull();
        expect(await s.partners.signingKeysOf('mixed.example.org')).toBeNull();
      });
    });

    describe('partner health', () => {
      it('keys rows by lower-case server name, replaces a row on put, reads every column back, lists by name', async () => {
        const row = {
          serverName: 'Beta.example.org:8443',
          consecutiveFailures: 3,
          failingSince: 1_767_225_600_000,
          nextAttemptAt: 1_767_229_200_000,
          lastSuccessAt: null,
          lastFailureAt: 1_767_225_700_000,
          lastError: 'ECONNREFUSED',
          failureDays: 2,
          lastFailureDay: 20_454,
          suspendedAt: null,
          suspendedReason: null,
          lastInboundAt: 1_767_225_000_000,
          queuePausedAt: null,
          updatedAt: 1_767_225_700_000,
        };
        await s.partnerHealth.put(row);
        expect(await s.partnerHealth.get('beta.EXAMPLE.org:8443')).toEqual({
          ...row,
          serverName: 'beta.example.org:8443',
        });
        await s.partnerHealth.put({
          ...row,
          serverName: 'beta.example.org:8443',
          consecutiveFailures: 0,
          suspendedAt: 5,
          suspendedReason: 'no answer on 7 distinct days since … ünïcode',
        });
        await s.partnerHealth.put({ ...row, serverName: 'alpha.example.org' });
        const all = await s.partnerHealth.list();
        expect(all.map((r) => r.serverName)).toEqual(['alpha.example.org', 'beta.example.org:8443']);
        expect(all[1]).toMatchObject({
          consecutiveFailures: 0,
          suspendedAt: 5,
          suspendedReason: 'no answer on 7 distinct days since … ünïcode',
        });
        expect(await s.partnerHealth.get('gamma.example.org')).toBeNull();
      });
    });

    describe('local keys', () => {
      it('lists by not_before (then kid) either way, filtered by algorithm, status and expiry', async () => {
        const rows = [
          localKeyRow({ kid: 'kb', notBefore: 200, status: 'active', expiresAt: 900 }),
          localKeyRow({ kid: 'ka', notBefore: 200, status: 'active', expiresAt: 900 }),
          localKeyRow({ kid: 'kc', notBefore: 100, status: 'retiring', expiresAt: 500 }),
          localKeyRow({ kid: 'xa', notBefore: 150, alg: 'x25519', status: 'next', expiresAt: 900 }),
        ];
        for (const r of rows) await s.localKeys.insert(r);
        expect((await s.localKeys.list({}, 'asc')).map((k) => k.kid)).toEqual(['kc', 'xa', 'ka', 'kb']);
        expect((await s.localKeys.list({}, 'desc')).map((k) => k.kid)).toEqual(['kb', 'ka', 'xa', 'kc']);
        expect(
          (await s.localKeys.list({ alg: 'ed25519', status: ['active', 'next'] }, 'asc')).map((k) => k.kid),
        ).toEqual(['ka', 'kb']);
        expect(
          (await s.localKeys.list({ status: ['retiring'], expiresAtOrBefore: 500 }, 'asc')).map((k) => k.kid),
        ).toEqual(['kc']);
        expect(await s.localKeys.list({ status: ['retiring'], expiresAtOrBefore: 499 }, 'asc')).toEqual([]);
        await expect(s.localKeys.insert(localKeyRow({ kid: 'ka' }))).rejects.toThrow();
      });

      it('changes a key only while it has the expected status', async () => {
        const k = localKeyRow({ status: 'active', endorsement: { kid: 'k0', sig: 'sig' } });
        await s.localKeys.insert(k);
        expect(await s.localKeys.update(k.kid, { status: 'retiring' }, { onlyIfStatus: 'next' })).toBe(false);
        expect(await s.localKeys.update(k.kid, { status: 'retiring' }, { onlyIfStatus: 'active' })).toBe(
          true,
        );
        expect(await s.localKeys.get(k.kid)).toEqual({ ...k, status: 'retiring' });
        expect(await s.localKeys.update('missing', { status: 'retired' })).toBe(false);
      });
    });

    describe('settings', () => {
      it('stores a JSON value under a key, replaces it, and reads null for a missing key', async () => {
        expect(await s.settings.get('policy')).toBeNull();
        await s.settings.put('policy', { mode: 'open', list: [WIDE_TEXT] }, 1);
        await s.settings.put('policy', { mode: 'closed', list: [WIDE_TEXT, 'b'] }, 2);
        expect(await s.settings.get('policy')).toEqual({ mode: 'closed', list: [WIDE_TEXT, 'b'] });
      });
    });
  });
}
