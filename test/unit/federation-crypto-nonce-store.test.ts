import { ManualClock } from '../harness/manual-clock';
import { TypeormNonceStore as NonceStore } from '../../src/store/typeorm';
import { NonceEntity } from '../../src/store/entities';
import { sqliteConnection } from '../../src/store/typeorm/prepared-sql';
import { exclusive } from '../../src/store/typeorm/transactions';
import { tempDb, type TempDb } from './federation-keys-fixtures';

/** Nonces in the real database: reserved once per keyid, shared by replicas, purged after expiry. */

const clock = new ManualClock(Date.parse('2026-06-01T00:00:00Z'));
let tmp: TempDb;

beforeEach(async () => {
  tmp = await tempDb();
});
afterEach(async () => {
  await tmp?.close();
});

it('reserves a nonce once per keyid', async () => {
  const store = new NonceStore(tmp.db, clock);
  const until = clock.now() + 300_000;
  expect(await store.reserve('a.example#k1', 'nonce-aaaaaaaaaaaaaaaa', until)).toBe(true);
  expect(await store.reserve('a.example#k1', 'nonce-aaaaaaaaaaaaaaaa', until)).toBe(false);
  // Another key may use the same nonce.
  expect(await store.reserve('a.example#k2', 'nonce-aaaaaaaaaaaaaaaa', until)).toBe(true);
});

it('is shared by a second replica on the same database', async () => {
  const one = new NonceStore(tmp.db, clock);
  const two = new NonceStore(tmp.db, clock);
  const until = clock.now() + 300_000;
  expect(await one.reserve('a.example#k1', 'nonce-bbbbbbbbbbbbbbbb', until)).toBe(true);
  expect(await two.reserve('a.example#k1', 'nonce-bbbbbbbbbbbbbbbb', until)).toBe(false);
});

it('concurrent reservations of one nonce: exactly one wins', async () => {
  const stores = Array.from({ length: 8 }, () => new NonceStore(tmp.db, clock));
  const until = clock.now() + 300_000;
  const results = await Promise.all(
    stores.map((s) => s.reserve('a.example#k1', 'nonce-cccccccccccccccc', until)),
  );
  expect(results.filter(Boolean)).toHaveLength(1);
});

it('frees expired nonces: purgeExpired deletes them and an expired leftover is not a replay', async () => {
  const store = new NonceStore(tmp.db, clock);
  await store.reserve('a.example#k1', 'nonce-dddddddddddddddd', clock.now() + 1000);
  await store.reserve('a.example#k1', 'nonce-eeeeeeeeeeeeeeee', clock.now() + 1000);
  await store.reserve('a.example#k1', 'nonce-ffffffffffffffff', clock.now() + 600_000);
  clock.advance(2000);
  expect(await store.reserve('a.example#k1', 'nonce-dddddddddddddddd', clock.now() + 1000)).toBe(true);
  expect(await store.purgeExpired()).toBe(1);
  expect(await tmp.db.getRepository(NonceEntity).count()).toBe(2);
});

/** Frames appended to the WAL since the last call (each call checkpoints and empties it). */
function walFrames(): number {
  const connection = sqliteConnection(tmp.db);
  if (!connection) throw new Error('the test database is not SQLite');
  const [row] = connection.pragma('wal_checkpoint(PASSIVE)') as { busy: number; log: number }[];
  connection.pragma('wal_checkpoint(TRUNCATE)');
  if (!row || row.busy !== 0) throw new Error('the checkpoint could not read the WAL');
  return row.log;
}

it('SQLite: the reservations of one turn after its first are one commit, each answered as if alone', async () => {
  const store = new NonceStore(tmp.db, clock);
  const until = clock.now() + 300_000;
  await store.reserve('a.example#k1', 'nonce-warm-up-00000000', until);
  expect(walFrames()).toBeGreaterThan(0); // one insert alone: its pages (and the helper sees them)
  const nonces = Array.from({ length: 16 }, (_, i) => `nonce-batch-${String(i).padStart(10, '0')}`);
  // Two askers of one nonce in the same turn, and one already taken before it: one reservation each.
  const results = await Promise.all([
    ...nonces.map((n) => store.reserve('a.example#k1', n, until)),
    store.reserve('a.example#k1', nonces[3] ?? '', until),
    store.reserve('a.example#k1', 'nonce-warm-up-00000000', until),
  ]);
  expect(results).toEqual([...nonces.map(() => true), false, false]);
  // One insert per commit appends the table's page and both indexes' pages each time (48 frames or more
  // for 16); the first of the turn alone and one commit for the rest append them twice.
  expect(walFrames()).toBeLessThanOrEqual(6);
  expect(await tmp.db.getRepository(NonceEntity).count()).toBe(17);
});

it('SQLite: a reservation whose batch fails is refused for all of it, nothing stays reserved', async () => {
  const store = new NonceStore(tmp.db, clock);
  const until = clock.now() + 300_000;
  // The first of the turn goes alone (and is reserved); the two after it are one batch.
  const first = store.reserve('a.example#k1', 'nonce-fails-00000000', until);
  const reservations = [
    store.reserve('a.example#k1', 'nonce-fails-00000001', until),
    // A value SQLite cannot bind: a failure other than a taken key, which rolls the batch back.
    store.reserve('a.example#k1', 'nonce-fails-00000002', {} as unknown as number),
  ];
  await expect(Promise.all(reservations)).rejects.toThrow();
  await expect(reservations[0]).rejects.toThrow();
  expect(await first).toBe(true);
  expect(await tmp.db.getRepository(NonceEntity).count()).toBe(1);
  // The store is usable after it.
  expect(await store.reserve('a.example#k1', 'nonce-fails-00000001', until)).toBe(true);
});

it('SQLite: a reservation made inside a queued write unit runs in it, never in a batch queued behind it', async () => {
  const store = new NonceStore(tmp.db, clock);
  const until = clock.now() + 300_000;
  // A batch is opened from outside any unit; then a queued unit reserves in the same turn. Had it joined that
  // batch, the batch would wait in the queue for the unit, which waits for the batch.
  const outside = store.reserve('a.example#k1', 'nonce-outside-000001', until);
  const inside = exclusive(tmp.db, undefined, async () => [
    await store.reserve('a.example#k1', 'nonce-inside-0000001', until),
    await store.reserve('a.example#k1', 'nonce-inside-0000001', until),
  ]);
  const settled = await Promise.race([
    Promise.all([outside, inside]),
    new Promise<'stuck'>((r) => setTimeout(() => r('stuck'), 2000)),
  ]);
  expect(settled).toEqual([true, [true, false]]);
});
