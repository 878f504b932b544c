import { TypeormPeeringStore } from '../../src/store/typeorm/peering-store';
import { examplePeerRow } from '../harness/peer-row';
import { useTempSqlite } from './fixtures/temp-sqlite';

/**
 * The admin views' read of the peers (listPeerSummaries): every column but the
 * sealed secrets, so a list of 1,000 peers decrypts none of their 3,000
 * secrets; whether a v1 secret is still kept is all it says of them.
 */

const tmp = useTempSqlite('peer-summaries');

it('lists every peer without its secrets, oldest first, and tells which keep a v1 secret', async () => {
  const store = new TypeormPeeringStore(tmp.db);
  const older = examplePeerRow('sum_a', '71', { createdAt: 1000 }, 1000);
  const upgraded = examplePeerRow(
    'sum_b',
    '72',
    { createdAt: 2000, previousSecret: 'v1-secret-kept-until-the-switch', secretSwitchAt: 5000 },
    2000,
  );
  await store.insertPeer(upgraded);
  await store.insertPeer(older);

  const list = await store.listPeerSummaries();
  expect(list.map((p) => [p.name, p.hasPreviousSecret])).toEqual([
    ['sum_a', false],
    ['sum_b', true],
  ]);
  for (const p of list) {
    expect(p).not.toHaveProperty('secret');
    expect(p).not.toHaveProperty('previousSecret');
    expect(p).not.toHaveProperty('nextSecret');
  }
  // Every other column as the whole row has it.
  const { secret: _s, previousSecret: _p, nextSecret: _n, ...rest } = upgraded;
  expect(list[1]).toEqual({ ...rest, hasPreviousSecret: true });
});

it('opens no sealed column: a row whose stored secret cannot be opened still lists', async () => {
  const store = new TypeormPeeringStore(tmp.db);
  await store.insertPeer(examplePeerRow('sum_c', '73'));
  // A sealed value that does not open (what a damaged row, or one sealed under another key, holds).
  await tmp.db.query(`UPDATE peers SET secret = 'enc:v1:${'A'.repeat(64)}' WHERE name = 'sum_c'`);
  await expect(store.listPeers()).rejects.toThrow();
  expect((await store.listPeerSummaries()).map((p) => p.name)).toEqual(['sum_c']);
});
