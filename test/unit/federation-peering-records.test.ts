/**
 * The peering rules both directions of the handshake check (PeeringRecords),
 * on the in-memory stores: a name or partner already in use, a pending request
 * to the same partner, the request being turned into a peer skipped, and who a
 * request id belongs to wherever it is recorded.
 */
import { configSchema } from '../../src/config/schema';
import { isAppError } from '../../src/core/errors';
import { PeeringRecords } from '../../src/federation/peering-records';
import { PolicyStore } from '../../src/federation/policy';
import { ManualClock } from '../harness/manual-clock';
import { incomingRow, outgoingRow, peerRow } from '../store/contract/rows';
import { memoryFederationStores } from '../store/memory';

const config = configSchema.parse({ dataDir: '/nonexistent', asterisk: { enabled: false } });

function setup() {
  const clock = new ManualClock();
  const stores = memoryFederationStores(clock);
  const policy = new PolicyStore({ settings: stores.settings, clock, config });
  return { stores, records: new PeeringRecords({ peerings: stores.peerings, config, policy, clock }) };
}

async function codeOf(p: Promise<unknown>): Promise<string | null> {
  try {
    await p;
    return null;
  } catch (e) {
    if (isAppError(e)) return e.code;
    throw e;
  }
}

it('refuses a partner already peered and a name in use, whatever the case', async () => {
  const { stores, records } = setup();
  await stores.peerings.insertPeer(peerRow({ name: 'alpha', partnerServerName: 'a.example.org' }));
  expect(await codeOf(records.checkFree({ name: 'beta', serverName: 'A.example.org' }))).toBe(
    'FED_ALREADY_PEERED',
  );
  expect(await codeOf(records.checkFree({ name: 'ALPHA', serverName: 'b.example.org' }))).toBe(
    'FED_NAME_CONFLICT',
  );
  expect(await codeOf(records.checkFree({ name: 'beta', serverName: 'b.example.org' }))).toBeNull();
});

it('refuses a partner or name held by a pending request, but not by the request being completed', async () => {
  const { stores, records } = setup();
  const out = outgoingRow({ name: 'gamma', partnerServerName: 'c.example.org' });
  const inc = incomingRow({ name: 'delta', partnerServerName: 'd.example.org' });
  await stores.peerings.insertOutgoing(out);
  await stores.peerings.insertIncoming(inc);
  await stores.peerings.insertOutgoing(
    outgoingRow({ name: 'old', partnerServerName: 'e.example.org', state: 'declined' }),
  );
  expect(await codeOf(records.checkFree({ name: 'x', serverName: 'c.example.org' }))).toBe(
    'FED_STATE_CONFLICT',
  );
  expect(await codeOf(records.checkFree({ name: 'Delta', serverName: 'z.example.org' }))).toBe(
    'FED_NAME_CONFLICT',
  );
  expect(
    await codeOf(records.checkFree({ name: 'delta', serverName: 'd.example.org' }, { incomingId: inc.id })),
  ).toBeNull();
  expect(await codeOf(records.checkFree({ name: 'old', serverName: 'e.example.org' }))).toBeNull();
});

it('finds the partner of a request id in peers, outgoing and incoming requests', async () => {
  const { stores, records } = setup();
  const peer = peerRow({ partnerServerName: 'p.example.org' });
  const out = outgoingRow({ partnerServerName: 'o.example.org' });
  const inc = incomingRow({ partnerServerName: 'i.example.org' });
  await stores.peerings.insertPeer(peer);
  await stores.peerings.insertOutgoing(out);
  await stores.peerings.insertIncoming(inc);
  expect(await records.partnerOfRequest(peer.requestId)).toBe('p.example.org');
  expect(await records.partnerOfRequest(out.id)).toBe('o.example.org');
  expect(await records.partnerOfRequest(inc.requestId)).toBe('i.example.org');
  expect(await records.partnerOfRequest('nobody')).toBeNull();
  expect(await records.partnerOfPeer(peer.name)).toBe('p.example.org');
  expect(await records.isActiveV2Partner('p.example.org')).toBe(true);
  await stores.peerings.updatePeer(peer.id, { state: 'partner_missing' });
  expect(await records.isActiveV2Partner('p.example.org')).toBe(false);
});

it('answers who a request id belongs to without reading a whole peer row (every signed call asks)', async () => {
  const { stores, records } = setup();
  const peer = peerRow({ partnerServerName: 'p.example.org' });
  const out = outgoingRow({ partnerServerName: 'o.example.org' });
  await stores.peerings.insertPeer(peer);
  await stores.peerings.insertOutgoing(out);
  // A whole peer row decrypts its sealed IAX2 secret on the way out of the database.
  const wholeRows = jest.spyOn(stores.peerings, 'findPeer');
  expect(await records.ownerOfRequest(peer.requestId)).toEqual({
    partner: 'p.example.org',
    heldByPeer: true,
  });
  expect(await records.ownerOfRequest(out.id)).toEqual({ partner: 'o.example.org', heldByPeer: false });
  expect(await records.ownerOfRequest('nobody')).toEqual({ partner: null, heldByPeer: false });
  expect(await records.partnerOfRequest(peer.requestId)).toBe('p.example.org');
  expect(wholeRows).not.toHaveBeenCalled();
});
