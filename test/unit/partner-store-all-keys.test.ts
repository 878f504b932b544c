import type { Partner } from '../../src/core/records';
import { TypeormPartnerStore } from '../../src/store/typeorm/partner-store';
import { useTempSqlite } from './fixtures/temp-sqlite';

/**
 * The health-notices pass reads every partner's signing keys in one query
 * (PartnerStore.allSigningKeys) instead of one lookup per peer: on a real
 * SQLite database it answers what a lookup of each partner answers, keyed by
 * the lower-case server name, and nothing for a partner that is not stored.
 */

const tmp = useTempSqlite('partner-all-keys');

const partner = (serverName: string, kid: string): Partner => ({
  serverName,
  baseUrl: `https://${serverName}`,
  signingKeys: [{ kid, alg: 'ed25519', publicKey: `pk-${kid}`, expiresAt: '2027-01-01T00:00:00Z' }],
  heldKeys: null,
  agreementKeys: [],
  descriptor: { name: serverName },
  fetchedAt: 1,
  fetchFailures: 0,
  nextFetchAt: null,
  createdAt: 1,
  updatedAt: 1,
});

it("answers every partner's signing keys by lower-case server name, as a lookup of each does", async () => {
  const store = new TypeormPartnerStore(tmp.db);
  await store.insert(partner('Fed-B.example.org', 'b1'));
  await store.insert(partner('fed-c.example.org', 'c1'));
  await store.update('fed-c.example.org', {
    signingKeys: [
      { kid: 'c1', alg: 'ed25519', publicKey: 'pk-c1' },
      { kid: 'c2', alg: 'ed25519', publicKey: 'pk-c2', expiresAt: '2028-01-01T00:00:00Z' },
    ],
  });
  const all = await store.allSigningKeys();
  expect([...all.keys()].sort()).toEqual(['fed-b.example.org', 'fed-c.example.org']);
  for (const name of ['fed-b.example.org', 'fed-c.example.org']) {
    expect(all.get(name)).toEqual((await store.get(name))?.signingKeys);
  }
  expect(all.get('fed-c.example.org')?.map((k) => k.kid)).toEqual(['c1', 'c2']);
  expect(all.get('fed-d.example.org')).toBeUndefined();
});
