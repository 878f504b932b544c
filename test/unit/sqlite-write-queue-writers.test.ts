import { RealtimeRowClaimStore } from '../../src/asterisk/realtime-claims';
import { createAdminUser, deleteAdminUser, listAdminUsers } from '../../src/http/admin/admin-users';
import { ApiTokenVerifier, createApiToken, listApiTokens } from '../../src/http/admin/api-tokens';
import { PeerEntity } from '../../src/store/entities';
import { PeerRunRows } from '../../src/store/peer-rows';
import { atRestKeyOf, secureStore } from '../../src/store/secrets-at-rest';
import { TypeormPeeringStore } from '../../src/store/typeorm/peering-store';
import { TypeormTransactions } from '../../src/store/typeorm/transactions';
import { ManualClock } from '../harness/manual-clock';
import { examplePeerRow } from '../harness/peer-row';
import { useTempSqlite } from './fixtures/temp-sqlite';

/**
 * SQLite has one connection in TypeORM: a statement sent while a transaction
 * sits at an await runs inside it and is rolled back with it. The stores'
 * plain writes wait in the data source's write queue; so must the writes made
 * outside them: admin accounts, API tokens (and their last use), the
 * delete-by-id helper, the Asterisk layer's realtime row claims and peer
 * columns, and the sealing of clear secrets. Each is started here while
 * another transaction is open and then fails; the write must survive.
 */

const clock = new ManualClock();
const tmp = useTempSqlite('write-queue');

/**
 * Starts `write` from outside while a transaction is open (it wrote a row of
 * its own), as another request would, gives it `settleMs` to run as far as it
 * gets, then fails the transaction.
 */
async function duringFailedTransaction(write: () => Promise<unknown>, settleMs = 300): Promise<void> {
  const peerings = new TypeormPeeringStore(tmp.db);
  let opened: () => void = () => undefined;
  const open = new Promise<void>((resolve) => (opened = resolve));
  const failing = new TypeormTransactions(tmp.db).run(async (tx) => {
    await peerings.insertPeer(examplePeerRow('in_tx', '90', {}, clock.now()), tx);
    opened();
    await new Promise((resolve) => setTimeout(resolve, settleMs));
    throw new Error('the transaction fails');
  });
  await open;
  // Not inside the transaction's async context: this is another caller.
  const pending = write();
  await expect(failing).rejects.toThrow('the transaction fails');
  await pending;
  // The transaction's own row went with it.
  expect(await peerings.findPeer({ name: 'in_tx' })).toBeNull();
}

it('admin accounts: created, password replaced and deleted outside the failing transaction', async () => {
  // Hashing a password takes a while: give the write time to reach its statement.
  await duringFailedTransaction(
    () => createAdminUser(tmp.db, clock, { username: 'alice', password: 'a long password 1' }),
    1000,
  );
  const [alice] = await listAdminUsers(tmp.db);
  expect(alice?.username).toBe('alice');
  await duringFailedTransaction(
    () => createAdminUser(tmp.db, clock, { username: 'alice', password: 'a long password 2', replace: true }),
    1000,
  );
  await duringFailedTransaction(() => deleteAdminUser(tmp.db, alice.id));
  expect(await listAdminUsers(tmp.db)).toEqual([]);
});

it('API tokens: created, last use recorded and revoked outside the failing transaction', async () => {
  let token = '';
  await duringFailedTransaction(async () => {
    token = (await createApiToken(tmp.db, clock, 'scripts')).token;
  });
  const [row] = await listApiTokens(tmp.db);
  expect(row?.name).toBe('scripts');
  clock.advance(60_000);
  const verifier = new ApiTokenVerifier(tmp.db, clock, undefined);
  await duringFailedTransaction(() => verifier.verify(token));
  expect((await listApiTokens(tmp.db))[0].lastUsedAt).toBe(clock.now());
});

it("the Asterisk layer's realtime row claims and peer columns outside the failing transaction", async () => {
  const claims = new RealtimeRowClaimStore(tmp.db, clock);
  const key = { table: 'iaxfriends' as const, key: 'to_b' };
  await duringFailedTransaction(() => claims.claim([key]));
  expect(await claims.claimed([key])).toEqual([key]);
  await duringFailedTransaction(() => claims.release([key]));
  expect(await claims.claimed([key])).toEqual([]);

  const p = examplePeerRow('to_b', '71', {}, clock.now());
  await new TypeormPeeringStore(tmp.db).insertPeer(p);
  const rows = new PeerRunRows(tmp.db);
  await duringFailedTransaction(() => rows.patch([p.id], { applyState: 'applied', appliedAt: clock.now() }));
  await duringFailedTransaction(() =>
    rows.recordTestCall(p.id, { at: clock.now(), answered: true, setupMs: 120, error: null }),
  );
  const stored = await tmp.db.getRepository(PeerEntity).findOneByOrFail({ id: p.id });
  expect(stored.applyState).toBe('applied');
  expect(stored.lastTestCall).toMatchObject({ answered: true });
});

it('sealing a secret still stored in clear, outside the failing transaction', async () => {
  const p = examplePeerRow('to_b', '71', {}, clock.now());
  await new TypeormPeeringStore(tmp.db).insertPeer(p);
  await tmp.db.query('UPDATE peers SET secret = ? WHERE id = ?', ['still in clear', p.id]);
  await duringFailedTransaction(() => secureStore(tmp.db, atRestKeyOf(tmp.db)));
  const [{ secret }] = (await tmp.db.query('SELECT secret FROM peers WHERE id = ?', [p.id])) as {
    secret: string;
  }[];
  expect(secret.startsWith('enc:v1:')).toBe(true);
});
