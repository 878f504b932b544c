/**
 * The accept's store and crypto work rehearsed at start
 * (src/federation/accept-rehearsal.ts), on a real SQLite database: it runs the
 * accept's writes in one transaction and keeps none of them, tells nobody
 * (no outbox kick, nothing sent), logs nothing above debug, and a real accept's
 * rows around it are untouched.
 */
import type { KeyObject } from 'node:crypto';
import { Outbox } from '../../src/federation/outbox';
import { rehearseAccept } from '../../src/federation/accept-rehearsal';
import { LocalKeys } from '../../src/federation/local-keys';
import { PeeringRecords } from '../../src/federation/peering-records';
import { PolicyStore } from '../../src/federation/policy';
import { deriveIax2Secret } from '../../src/federation/secret-derivation';
import { OutboxEntity, PeerEntity } from '../../src/store/entities';
import { typeormFederationStores } from '../../src/store/typeorm';
import { ManualClock } from '../harness/manual-clock';
import { newPeerRow } from '../harness/peer-row';
import { LogCapture } from './federation-keys-fixtures';
import { useTempSqlite } from './fixtures/temp-sqlite';

const tmp = useTempSqlite('rehearsal');

type DeriveInput = { ownPrivateKey: KeyObject; partnerPublicKey: string; requestId: string; name: string };

async function setUp() {
  const clock = new ManualClock();
  const logs = new LogCapture();
  const stores = typeormFederationStores(tmp.db, clock);
  const ownKeys = new LocalKeys({
    store: stores.localKeys,
    transactions: stores.transactions,
    keyEncryptionSecret: stores.keyEncryptionSecret,
    clock,
    config: tmp.config,
    logger: logs.logger,
  });
  await ownKeys.ensureKeys();
  const told: string[] = [];
  const outbox = new Outbox({
    store: stores.outbox,
    clock,
    onEnqueued: () => told.push('kick'),
    onSendNow: (item) => told.push(`send ${item.id}`),
  });
  const written: string[] = [];
  const insertPeer = stores.peerings.insertPeer.bind(stores.peerings);
  stores.peerings.insertPeer = async (peer, tx) => {
    await insertPeer(peer, tx);
    written.push(`peer ${peer.name}`);
  };
  const insertItem = stores.outbox.insert.bind(stores.outbox);
  stores.outbox.insert = async (item, tx) => {
    await insertItem(item, tx);
    written.push(`outbox ${item.kind}`);
  };
  const policy = new PolicyStore({ settings: stores.settings, clock, config: tmp.config });
  const deps = {
    config: tmp.config,
    peerings: stores.peerings,
    clock,
    policy,
    tx: stores.transactions,
    ownKeys,
    outbox,
    logger: logs.logger,
    deriveSecret: (p: DeriveInput) =>
      deriveIax2Secret({
        ownAgreementPrivateKey: p.ownPrivateKey,
        partnerAgreementPublicKey: p.partnerPublicKey,
        requestId: p.requestId,
        name: p.name,
      }),
  };
  return { deps, records: new PeeringRecords(deps), logs, told, written, clock };
}

const count = (entity: typeof PeerEntity | typeof OutboxEntity) =>
  entity === PeerEntity
    ? tmp.db.getRepository(PeerEntity).count()
    : tmp.db.getRepository(OutboxEntity).count();

describe('accept rehearsal at start', () => {
  it("runs the accept's writes in one transaction and keeps none of them", async () => {
    const { deps, records, logs, told, written } = await setUp();
    const mark = logs.lines.length; // the set-up's own lines (our keys made) before it
    const r = await rehearseAccept(deps, records);
    expect(r.outcome).toBe('rolled_back');
    // The peer and the outbox item were written inside the transaction...
    expect(written).toEqual([expect.stringMatching(/^peer warm-up-/), 'outbox accept']);
    // ...and rolled back with it: no row, nothing told, nothing logged above debug.
    expect(await count(PeerEntity)).toBe(0);
    expect(await count(OutboxEntity)).toBe(0);
    expect(told).toEqual([]);
    const levels = logs.lines.slice(mark).map((l) => (JSON.parse(l) as { level: string }).level);
    expect(levels.filter((l) => l !== 'debug')).toEqual([]);
  });

  it("leaves a real peer alone, and the store's next write runs as usual", async () => {
    const { deps, records, clock } = await setUp();
    const real = newPeerRow(
      {
        name: 'real',
        prefix: '55',
        partnerUrl: 'https://partner.example',
        partnerIaxHost: '192.0.2.9',
        partnerIaxPort: 4569,
        codec: 'ulaw',
        secret: 'R'.repeat(40),
        dialect: 'v2',
        role: 'acceptor',
        requestId: 'req-real',
      },
      clock.now(),
    );
    await deps.peerings.insertPeer(real);
    const [r, rows] = await Promise.all([rehearseAccept(deps, records), deps.peerings.listPeers()]);
    expect(r.outcome).toBe('rolled_back');
    expect(rows.map((p) => p.name)).toEqual(['real']);
    expect((await deps.peerings.listPeers()).map((p) => [p.name, p.secret])).toEqual([
      ['real', 'R'.repeat(40)],
    ]);
    expect(await count(OutboxEntity)).toBe(0);
  });
});
