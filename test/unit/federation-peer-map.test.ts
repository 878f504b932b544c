/**
 * The descriptor's peer_map (src/federation/peer-map.ts) read strictly and
 * drawn escaped (src/http/panel/map-page.ts): every rule broken refuses the
 * whole field with FED_PEER_MAP_INVALID, and the page never holds a partner's
 * text except escaped.
 */
import { buildFederationMap, MAX_PUBLISHED_PEERS } from '../../src/core/federation-map';
import { ERROR_CATALOGUE } from '../../src/core/error-catalogue';
import { isServerName, publishedPeerMap, readPeerMap } from '../../src/federation/peer-map';
import { mapPage } from '../../src/http/panel/map-page';
import { newPeerRow } from '../harness/peer-row';

const valid = (peers: unknown[]) => ({ peers });

it('takes server names as base URLs give them: lower case host[:port], no path, no default port', () => {
  for (const ok of ['fed.example.org', 'fed.example.org:8443', '127.0.0.1:9000', '[::1]:8090', 'a-b.c'])
    expect([ok, isServerName(ok)]).toEqual([ok, true]);
  for (const bad of [
    '',
    'Fed.example.org',
    'fed.example.org/path',
    'fed.example.org:80',
    'user@fed.example.org',
    '<script>',
    'fed..example.org',
    'x'.repeat(300),
    'fed.example.org:99999',
    42,
  ])
    expect([bad, isServerName(bad)]).toEqual([bad, false]);
});

it('reads a valid map, drops repeats, and reports an absent one as absent', () => {
  expect(readPeerMap(undefined, 5)).toEqual({ kind: 'absent' });
  expect(
    readPeerMap(
      valid([
        { server_name: 'c.example.org', state: 'up' },
        { server_name: 'c.example.org', state: 'down' },
        { server_name: 'd.example.org:8443', state: 'partner_missing' },
      ]),
      5,
    ),
  ).toEqual({
    kind: 'published',
    fetchedAt: 5,
    peers: [
      { server_name: 'c.example.org', state: 'up' },
      { server_name: 'd.example.org:8443', state: 'partner_missing' },
    ],
  });
});

it.each([
  ['not an object', 'peers'],
  ['an entry with script tags', valid([{ server_name: '<script>alert(1)</script>', state: 'up' }])],
  ['an unknown state', valid([{ server_name: 'c.example.org', state: 'on fire' }])],
  ['an extra field', valid([{ server_name: 'c.example.org', state: 'up', html: '<b>' }])],
  ['an extra top-level field', { peers: [], note: 'x' }],
  [
    'one entry too many',
    valid(
      Array.from({ length: MAX_PUBLISHED_PEERS + 1 }, (_, i) => ({
        server_name: `p${i}.example.org`,
        state: 'up',
      })),
    ),
  ],
  ['a list that is not a list', { peers: { server_name: 'c.example.org', state: 'up' } }],
])('refuses the whole field for %s, naming the code and never the text', (_what, raw) => {
  const r = readPeerMap(raw, 1);
  expect(r.kind).toBe('refused');
  if (r.kind !== 'refused') return;
  expect(r.code).toBe('FED_PEER_MAP_INVALID');
  expect(ERROR_CATALOGUE[r.code]).toBeDefined();
  expect(r.reason).not.toMatch(/script|fire|<b>|example/);
});

it('publishes each partner once, by server name, its best state, at most the bounded count', () => {
  const row = (name: string, url: string, reach: 'reachable' | 'unreachable') => ({
    ...newPeerRow(
      {
        name,
        prefix: name.length.toString(),
        partnerUrl: url,
        partnerIaxHost: '192.0.2.1',
        partnerIaxPort: 4569,
        codec: 'alaw',
        secret: 's',
        dialect: 'v1',
        role: 'requester',
      },
      1,
    ),
    reachability: reach,
  });
  const out = publishedPeerMap([
    row('b1', 'https://B.example.org', 'unreachable'),
    row('b2', 'https://b.example.org', 'reachable'),
    row('c', 'https://c.example.org:8443/base', 'unreachable'),
  ]);
  expect(out).toEqual({
    peers: [
      { server_name: 'b.example.org', state: 'up' },
      { server_name: 'c.example.org:8443', state: 'down' },
    ],
  });
  expect(readPeerMap(out, 1)).toMatchObject({ kind: 'published', peers: out.peers });
});

it('draws partner text escaped: names with markup never become markup', () => {
  const map = buildFederationMap({
    selfServerName: 'us.example.org',
    peers: [
      {
        id: 'p1',
        name: 'b<script>x</script>',
        prefix: '71',
        partner_url: 'https://b.example.org',
        dialect: 'v2',
        state: 'active',
        apply_state: 'applied',
        reachability: 'reachable',
        latency_ms: 12,
      },
    ],
    latestQuality: [],
    partnerMaps: new Map([
      [
        'b.example.org',
        {
          kind: 'published',
          fetchedAt: 1,
          peers: [{ server_name: 'c.example.org', state: 'lagged' }],
        } as const,
      ],
    ]),
  });
  const page = mapPage(map).value.replace(/\s+/g, ' ');
  expect(page).not.toContain('<script>');
  expect(page).toContain('b&lt;script&gt;x&lt;/script&gt;');
  expect(page).toContain(
    'data-ring="2" data-via="b.example.org" data-server="c.example.org" data-state="lagged"',
  );
  expect(page).toContain('latency 12 ms');
  expect(page).toContain('slow'); // the state in words, not only the colour
});
