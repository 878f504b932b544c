/**
 * The adopt plan (src/adopt/plan.ts) on its own: what µURU holds and what
 * the sidecar holds in, the decisions out. Each refusal names its catalogue
 * code; a record adopted before is recognised, so a second run plans nothing.
 */
import { buildPlan, planText, type SidecarState } from '../../src/adopt/plan';
import {
  type RealtimeRow,
  type UuruIncoming,
  type UuruOutgoing,
  type UuruPeer,
  type UuruSnapshot,
  uuruDialRow,
  uuruFriendValues,
} from '../../src/adopt/uuru-source';
import type { IncomingRequest, OutgoingRequest } from '../../src/federation/ports/peering-store';
import { newPeerRow, type PeerRowInput } from '../harness/peer-row';

const SECRET = 'A'.repeat(32);

const uuruPeer = (over: Partial<UuruPeer> = {}): UuruPeer => ({
  id: '0b9c3e0e-8d4f-4c43-9a57-6f1d1f1b2a01',
  name: 'partner_one',
  prefix: '5',
  partnerExtensionLength: 4,
  partnerIaxHost: '192.0.2.2',
  partnerUuruHost: 'http://192.0.2.2:8000',
  secret: SECRET,
  codec: 'alaw',
  ...over,
});

const outgoing = (over: Partial<UuruOutgoing> = {}): UuruOutgoing => ({
  id: '0b9c3e0e-8d4f-4c43-9a57-6f1d1f1b2a02',
  name: 'asked_them',
  partnerUuruHost: 'http://192.0.2.3:8000/',
  prefix: '7',
  secret: 'B'.repeat(32),
  codec: 'g722',
  ...over,
});

const incoming = (over: Partial<UuruIncoming> = {}): UuruIncoming => ({
  id: '0b9c3e0e-8d4f-4c43-9a57-6f1d1f1b2a03',
  name: 'asked_us',
  partnerUuruHost: 'http://192.0.2.4:8000',
  partnerIaxHost: '192.0.2.4',
  partnerExtensionLength: 3,
  secret: 'C'.repeat(32),
  codec: 'ulaw',
  ...over,
});

/** µURU's deployment with both halves of each peer written, as create_iax_peer and the dial plan helper leave them. */
function snapshot(o: Partial<UuruSnapshot> & { peers?: UuruPeer[] } = {}): UuruSnapshot {
  const peers = o.peers ?? [uuruPeer()];
  const friends = new Map<string, RealtimeRow>(peers.map((p) => [p.name, { id: 1, ...uuruFriendValues(p) }]));
  const dialRows: RealtimeRow[] = peers.map((p, i) => ({ id: 10 + i, ...uuruDialRow(p) }));
  return {
    appEngine: 'postgres',
    schemaVersion: '69a30a0afb72',
    peers,
    outgoing: [],
    incoming: [],
    friends,
    dialRows,
    ...o,
  };
}

const empty = (): SidecarState => ({ peers: [], outgoing: [], incoming: [] });

const sidecarPeer = (over: Partial<PeerRowInput>) =>
  newPeerRow({
    name: 'mine',
    prefix: '9',
    partnerUrl: 'https://partner.example',
    partnerIaxHost: '192.0.2.9',
    partnerIaxPort: 4569,
    codec: 'alaw',
    secret: 'D'.repeat(32),
    dialect: 'v2',
    role: 'acceptor',
    ...over,
  });

/** The same µURU peer as adopt imports it. */
const adoptedPeer = (p: UuruPeer) =>
  sidecarPeer({ id: p.id, name: p.name, prefix: p.prefix, secret: p.secret, dialect: 'v1', codec: p.codec });

const codes = (s: UuruSnapshot, state: SidecarState = empty()) =>
  buildPlan(s, state).conflicts.map((c) => c.code);

describe('adopt plan', () => {
  it('plans each peer and request for import, with the Asterisk rows of each peer, and no conflict', () => {
    const plan = buildPlan(snapshot({ outgoing: [outgoing()], incoming: [incoming()] }), empty());
    expect(plan.conflicts).toEqual([]);
    expect(plan.peers).toEqual([
      {
        kind: 'peer',
        uuruId: uuruPeer().id,
        name: 'partner_one',
        prefix: '5',
        partnerUrl: 'http://192.0.2.2:8000',
        codec: 'alaw',
        action: 'import',
        rows: [
          { table: 'iaxfriends', key: 'partner_one' },
          { table: 'extensions', key: 'pjsip_internal|_5XXXX|1' },
        ],
      },
    ]);
    expect(plan.requests.map((r) => [r.kind, r.name, r.prefix, r.partnerUrl, r.action])).toEqual([
      ['outgoing', 'asked_them', '7', 'http://192.0.2.3:8000', 'import'],
      ['incoming', 'asked_us', null, 'http://192.0.2.4:8000', 'import'],
    ]);
  });

  it.each([
    ['no', null],
    ['an unknown', 'a1b2c3d4e5f6'],
  ])('refuses %s schema version and plans nothing else', (_what, version) => {
    const plan = buildPlan(snapshot({ schemaVersion: version, outgoing: [outgoing()] }), empty());
    expect(plan.conflicts.map((c) => c.code)).toEqual(['ADOPT_SCHEMA_UNKNOWN']);
    expect(plan.conflicts[0].message).toContain(`is ${version ?? 'missing'}`);
    expect(plan.peers).toEqual([]);
    expect(plan.requests).toEqual([]);
  });

  it('knows the init revision (before the codec column) too', () => {
    expect(codes(snapshot({ schemaVersion: 'd2cb3f84f349' }))).toEqual([]);
  });

  it('refuses an empty prefix on a peer and on an outgoing request, and only as that', () => {
    const peer = uuruPeer({ prefix: '' });
    expect(
      codes(snapshot({ peers: [peer] }), { ...empty(), peers: [sidecarPeer({ prefix: '55' })] }),
    ).toEqual(['ADOPT_EMPTY_PREFIX']);
    const plan = buildPlan(snapshot({ peers: [], outgoing: [outgoing({ prefix: '' })] }), empty());
    expect(plan.conflicts).toEqual([
      expect.objectContaining({ code: 'ADOPT_EMPTY_PREFIX', about: 'outgoing request asked_them' }),
    ]);
  });

  it('refuses values the sidecar cannot carry: a pattern in the prefix, a name, an address, a codec, an IAX2 host', () => {
    const bad = uuruPeer({
      prefix: '5X',
      name: 'has space',
      partnerUuruHost: '192.0.2.2:8000',
      codec: 'opus',
      partnerIaxHost: 'not a host',
    });
    const plan = buildPlan(snapshot({ peers: [bad] }), empty());
    const messages = plan.conflicts.filter((c) => c.code === 'ADOPT_UNSUPPORTED_VALUE').map((c) => c.message);
    expect(messages).toEqual([
      expect.stringContaining('the name "has space"'),
      expect.stringContaining('the prefix "5X" is not 1 to 15 digits'),
      expect.stringContaining('not an http(s) base address'),
      expect.stringContaining('the codec "opus"'),
      expect.stringContaining('the IAX2 host "not a host"'),
    ]);
  });

  describe("half-done changes between µURU's two databases", () => {
    it('a peer without its iaxfriends row', () => {
      const s = snapshot();
      s.friends.clear();
      expect(buildPlan(s, empty()).conflicts).toEqual([
        expect.objectContaining({
          code: 'ADOPT_HALF_DONE',
          message: expect.stringContaining('no iaxfriends row'),
        }),
      ]);
    });

    it('a friend row with another secret than the peer', () => {
      const s = snapshot();
      s.friends.set('partner_one', { ...uuruFriendValues(uuruPeer()), secret: 'Z'.repeat(32) });
      expect(buildPlan(s, empty()).conflicts[0].message).toContain('another secret');
    });

    it('a peer without its dial plan row, or with a row that dials another friend', () => {
      expect(codes(snapshot({ dialRows: [] }))).toEqual(['ADOPT_HALF_DONE']);
      const other = { ...uuruDialRow(uuruPeer()), appdata: 'IAX2/someone/${EXTEN:-4}' };
      // The row dialing 'someone' is a stray of its own (no such peer).
      expect(codes(snapshot({ dialRows: [other] }))).toEqual(['ADOPT_HALF_DONE', 'ADOPT_HALF_DONE']);
    });

    it("a dial plan row for a friend no peer names (a teardown that stopped halfway), unless it is the sidecar's", () => {
      const stray = { ...uuruDialRow(uuruPeer({ name: 'gone_peer', prefix: '9' })) };
      const s = snapshot({ dialRows: [...snapshot().dialRows, stray] });
      expect(buildPlan(s, empty()).conflicts).toEqual([
        expect.objectContaining({
          code: 'ADOPT_HALF_DONE',
          about: 'dial plan row _9XXXX',
          message: expect.stringContaining("IAX2 friend 'gone_peer'"),
        }),
      ]);
      const mine = sidecarPeer({ name: 'gone_peer', prefix: '9' });
      expect(codes(s, { ...empty(), peers: [mine] })).toEqual([]);
    });
  });

  describe('collisions with what the sidecar holds', () => {
    it('a sidecar peer of the same name (case aside) that is not this µURU peer', () => {
      const state = { ...empty(), peers: [sidecarPeer({ name: 'Partner_One', prefix: '9' })] };
      expect(buildPlan(snapshot(), state).conflicts).toEqual([
        expect.objectContaining({
          code: 'ADOPT_NAME_CONFLICT',
          message: expect.stringContaining("'Partner_One'"),
        }),
      ]);
    });

    it('a v1 peer of that name with another secret is not the adopted one', () => {
      const state = { ...empty(), peers: [{ ...adoptedPeer(uuruPeer()), secret: 'E'.repeat(32) }] };
      expect(codes(snapshot(), state)).toEqual(['ADOPT_NAME_CONFLICT']);
    });

    it.each([
      ['5', '55'],
      ['55', '5'],
      ['5', '5'],
    ])('µURU prefix %s overlaps a sidecar peer prefix %s', (uuruPrefix, mine) => {
      const state = { ...empty(), peers: [sidecarPeer({ prefix: mine })] };
      expect(codes(snapshot({ peers: [uuruPeer({ prefix: uuruPrefix })] }), state)).toEqual([
        'ADOPT_PREFIX_CONFLICT',
      ]);
    });

    it('prefixes that only share digits elsewhere do not overlap', () => {
      const state = { ...empty(), peers: [sidecarPeer({ prefix: '65' })] };
      expect(codes(snapshot(), state)).toEqual([]);
    });

    it("a pending sidecar request of the peer's name, or overlapping its prefix", () => {
      const now = Date.now();
      const req: IncomingRequest = {
        id: 'x1',
        secretEpochSeconds: null,
        requestId: 'x1',
        name: 'partner_one',
        partnerUrl: 'http://192.0.2.9:8000',
        partnerServerName: '192.0.2.9:8000',
        partnerIaxHost: '192.0.2.9',
        partnerIaxPort: 4569,
        partnerExtensionLength: 4,
        codec: 'g722',
        dialect: 'v1',
        secret: 'F'.repeat(32),
        partnerAgreementKid: null,
        state: 'pending',
        createdAt: now,
        updatedAt: now,
      };
      expect(codes(snapshot(), { ...empty(), incoming: [req] })).toEqual(['ADOPT_NAME_CONFLICT']);
      const declined = { ...req, state: 'declined' as const };
      expect(codes(snapshot(), { ...empty(), incoming: [declined] })).toEqual([]);
      const out: OutgoingRequest = {
        id: 'x2',
        name: 'elsewhere',
        partnerUrl: 'http://192.0.2.8:8000',
        partnerServerName: '192.0.2.8:8000',
        prefix: '51',
        codec: 'g722',
        dialect: 'v1',
        secret: 'G'.repeat(32),
        agreementKid: null,
        state: 'pending',
        declineReason: null,
        lastError: null,
        createdAt: now,
        updatedAt: now,
      };
      expect(codes(snapshot(), { ...empty(), outgoing: [out] })).toEqual(['ADOPT_PREFIX_CONFLICT']);
    });

    it('two µURU peers on one prefix (µURU never checks)', () => {
      const a = uuruPeer();
      const b = uuruPeer({
        id: '0b9c3e0e-8d4f-4c43-9a57-6f1d1f1b2a09',
        name: 'partner_two',
        partnerIaxHost: '192.0.2.5',
      });
      // µURU's delete-then-insert left one dial plan row: partner_two's.
      const s = snapshot({ peers: [a, b] });
      s.dialRows = [{ id: 11, ...uuruDialRow(b) }];
      const found = buildPlan(s, empty()).conflicts;
      expect(found.map((c) => c.code)).toEqual(['ADOPT_HALF_DONE', 'ADOPT_PREFIX_CONFLICT']);
      expect(found[1].message).toContain('share the prefix 5');
    });
  });

  describe('a second run', () => {
    it("finds what the first imported and plans nothing, although the sidecar rewrote or removed µURU's rows", () => {
      const p = uuruPeer();
      const o = outgoing();
      const i = incoming();
      const s = snapshot({ outgoing: [o], incoming: [i] });
      // The realtime backend rewrote the friend in its own way and replaced µURU's dial plan row.
      s.friends.set(p.name, { ...uuruFriendValues(p), context: 'uuru-federation-in', qualify: 'yes' });
      s.dialRows = [];
      const state: SidecarState = {
        peers: [adoptedPeer(p)],
        outgoing: [
          {
            id: o.id,
            name: o.name,
            partnerUrl: 'http://192.0.2.3:8000',
            partnerServerName: '192.0.2.3:8000',
            prefix: o.prefix,
            codec: o.codec,
            dialect: 'v1',
            secret: o.secret,
            agreementKid: null,
            state: 'pending',
            declineReason: null,
            lastError: null,
            createdAt: 0,
            updatedAt: 0,
          },
        ],
        incoming: [
          {
            id: 'local-id',
            secretEpochSeconds: null,
            requestId: i.id,
            name: i.name,
            partnerUrl: 'http://192.0.2.4:8000',
            partnerServerName: '192.0.2.4:8000',
            partnerIaxHost: '192.0.2.4',
            partnerIaxPort: 4569,
            partnerExtensionLength: 3,
            codec: i.codec,
            dialect: 'v1',
            secret: i.secret,
            partnerAgreementKid: null,
            state: 'pending',
            createdAt: 0,
            updatedAt: 0,
          },
        ],
      };
      const plan = buildPlan(s, state);
      expect(plan.conflicts).toEqual([]);
      expect([...plan.peers, ...plan.requests].map((r) => r.action)).toEqual([
        'adopted',
        'adopted',
        'adopted',
      ]);
      expect(planText(plan, 'realtime')).toContain('nothing to change');
    });

    it('a request the sidecar holds under the same id with another secret is a collision, not adopted', () => {
      const o = outgoing();
      const theirs = {
        id: o.id,
        name: o.name,
        partnerUrl: 'http://192.0.2.3:8000',
        partnerServerName: '192.0.2.3:8000',
        prefix: o.prefix,
        codec: o.codec,
        dialect: 'v1' as const,
        secret: 'H'.repeat(32),
        agreementKid: null,
        state: 'pending' as const,
        declineReason: null,
        lastError: null,
        createdAt: 0,
        updatedAt: 0,
      };
      expect(
        codes(snapshot({ peers: [], dialRows: [], outgoing: [o] }), { ...empty(), outgoing: [theirs] }),
      ).toEqual(['ADOPT_NAME_CONFLICT']);
    });
  });

  it('prints the plan without any secret, and says a refused plan changes nothing', () => {
    const text = planText(buildPlan(snapshot({ dialRows: [] }), empty()), 'files');
    expect(text).toContain(
      "Asterisk rows removed from µURU's database once the sidecar's files are live: iaxfriends partner_one",
    );
    expect(text).toContain('conflict ADOPT_HALF_DONE: ');
    expect(text).toContain('refused: 1 conflict(s); nothing is changed until they are fixed');
    expect(text).not.toContain(SECRET);
  });
});
