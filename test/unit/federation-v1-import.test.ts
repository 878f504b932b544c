/**
 * The protocol core's import of v1 records another implementation made
 * (V1PeeringImport, what `uuru-fed adopt` calls), on the in-memory stores:
 * the records as the v1 handshake leaves them, all in one transaction, and
 * forgetting touches only v1 records.
 */
import { V1PeeringImport, type V1Records } from '../../src/federation/v1-import';
import { ManualClock } from '../harness/manual-clock';
import { peerRow } from '../store/contract/rows';
import { memoryFederationStores } from '../store/memory';

const records = (): V1Records => ({
  peers: [
    {
      id: '0b9c3e0e-8d4f-4c43-9a57-6f1d1f1b2a01',
      name: 'partner_one',
      prefix: '5',
      partnerUrl: 'http://Partner.example:8000/',
      partnerIaxHost: '192.0.2.2',
      partnerIaxPort: 4569,
      partnerExtensionLength: 4,
      codec: 'alaw',
      secret: 'A'.repeat(32),
    },
  ],
  outgoing: [
    {
      id: '0b9c3e0e-8d4f-4c43-9a57-6f1d1f1b2a02',
      name: 'asked_them',
      partnerUrl: 'http://them.example:8000',
      prefix: '7',
      codec: 'g722',
      secret: 'B'.repeat(32),
    },
  ],
  incoming: [
    {
      requestId: '0b9c3e0e-8d4f-4c43-9a57-6f1d1f1b2a03',
      name: 'asked_us',
      partnerUrl: 'http://us.example:8000',
      partnerIaxHost: '192.0.2.4',
      partnerIaxPort: 4569,
      partnerExtensionLength: 3,
      codec: 'ulaw',
      secret: 'C'.repeat(32),
    },
  ],
});

function setup() {
  const clock = new ManualClock();
  const stores = memoryFederationStores(clock);
  return { clock, stores, imports: new V1PeeringImport(stores, clock) };
}

it('writes v1 records as the handshake leaves them: ids kept, pending requests, a fresh peer', async () => {
  const { clock, stores, imports } = setup();
  await imports.importAll(records());
  const [peer] = await stores.peerings.listPeers();
  expect(peer).toMatchObject({
    id: '0b9c3e0e-8d4f-4c43-9a57-6f1d1f1b2a01',
    requestId: '0b9c3e0e-8d4f-4c43-9a57-6f1d1f1b2a01',
    dialect: 'v1',
    partnerUrl: 'http://Partner.example:8000',
    partnerServerName: 'partner.example:8000',
    secret: 'A'.repeat(32),
    codec: 'alaw',
    state: 'active',
    applyState: 'pending',
    createdAt: clock.now(),
  });
  expect(await stores.peerings.listOutgoing()).toEqual([
    expect.objectContaining({ id: '0b9c3e0e-8d4f-4c43-9a57-6f1d1f1b2a02', state: 'pending', dialect: 'v1' }),
  ]);
  expect(await stores.peerings.listIncoming()).toEqual([
    expect.objectContaining({ requestId: '0b9c3e0e-8d4f-4c43-9a57-6f1d1f1b2a03', state: 'pending' }),
  ]);
});

it('writes all or nothing: a record the store refuses leaves none of the others', async () => {
  const { stores, imports } = setup();
  const taken = records();
  // The incoming request is there already: its insert fails last, after the peer and the outgoing request.
  await imports.importAll({ peers: [], outgoing: [], incoming: taken.incoming });
  await expect(imports.importAll(taken)).rejects.toThrow();
  expect(await stores.peerings.listPeers()).toEqual([]);
  expect(await stores.peerings.listOutgoing()).toEqual([]);
  expect(await stores.peerings.listIncoming()).toHaveLength(1);
});

it('forgets only v1 records, and says which', async () => {
  const { stores, imports } = setup();
  await imports.importAll(records());
  const v2 = peerRow({ name: 'v2_peer', dialect: 'v2' });
  await stores.peerings.insertPeer(v2);
  const out = await imports.forget({
    peerIds: ['0b9c3e0e-8d4f-4c43-9a57-6f1d1f1b2a01', v2.id],
    outgoingIds: ['0b9c3e0e-8d4f-4c43-9a57-6f1d1f1b2a02'],
    incomingRequestIds: ['0b9c3e0e-8d4f-4c43-9a57-6f1d1f1b2a03', 'unknown'],
  });
  expect(out).toEqual({ peers: ['partner_one'], requests: ['asked_them', 'asked_us'] });
  expect((await stores.peerings.listPeers()).map((p) => p.name)).toEqual(['v2_peer']);
  expect(await stores.peerings.listOutgoing()).toEqual([]);
  expect(await stores.peerings.listIncoming()).toEqual([]);
});
