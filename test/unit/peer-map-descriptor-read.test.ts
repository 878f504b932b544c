import { DisabledAsteriskPort } from '../../src/core/asterisk-port';
import { Metrics } from '../../src/core/metrics';
import { createFederationFeature } from '../../src/federation';
import { openSideDatabase } from '../../src/store/side-sql';
import { typeormFederationStores } from '../../src/store/typeorm';
import { ManualClock } from '../harness/manual-clock';
import { examplePeerRow } from '../harness/peer-row';
import { captureLogger } from '../harness/test-logger';
import { useTempSqlite } from './fixtures/temp-sqlite';

/**
 * The descriptor's peer_map (federation.publishPeerMap) is built on every
 * descriptor request: it reads only the peers' partner and state columns, so
 * no peer's sealed secret is opened for it. Shown on a real SQLite database
 * whose one peer holds a sealed secret that cannot be opened: the whole row
 * cannot be read, the map still can.
 */

const clock = new ManualClock();
const tmp = useTempSqlite('peer-map', {
  instance: { publicUrl: 'http://fed-a.example.org' },
  federation: { publishPeerMap: true },
  asterisk: { enabled: false },
});

it('builds the published peer map without opening any sealed secret', async () => {
  const { db, config } = tmp;
  const stores = typeormFederationStores(db, clock);
  const peer = examplePeerRow(
    'to_b',
    '71',
    { partnerServerName: 'fed-b.example.org', reachability: 'reachable', applyState: 'applied' },
    clock.now(),
  );
  await stores.peerings.insertPeer(peer);
  // Change one character of the sealed secret: its authentication fails, opening it throws.
  const [{ secret }] = (await db.query('SELECT secret FROM peers WHERE id = ?', [peer.id])) as {
    secret: string;
  }[];
  const at = secret.length - 8;
  const broken = secret.slice(0, at) + (secret[at] === 'A' ? 'B' : 'A') + secret.slice(at + 1);
  await db.query('UPDATE peers SET secret = ? WHERE id = ?', [broken, peer.id]);
  await expect(stores.peerings.listPeers()).rejects.toThrow();

  const fed = createFederationFeature({
    config,
    db,
    clock,
    logger: captureLogger().logger,
    fetch,
    metrics: new Metrics(),
    asterisk: new DisabledAsteriskPort(),
    stores,
    openSideDatabase,
  });
  expect(await fed.surface.publishedPeerMap()).toEqual({
    peers: [{ server_name: 'fed-b.example.org', state: 'up' }],
  });
});
