import { ManualClock } from '../harness/manual-clock';
import { TypeormNonceStore as NonceStore } from '../../src/store/typeorm';
import { NonceEntity } from '../../src/store/entities';
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
