/**
 * The form of allowed_peers / blocked_peers entries and how they match a
 * partner's server name (src/core/network-address.ts). Refusals through the
 * real admin API, panel and CLI: test/integration/admin-input-rules.test.ts.
 */
import { isPeerEntry, peerEntryMatches } from '../../src/core/network-address';

describe('policy list entries', () => {
  it.each([
    'pbx.example.org',
    'PBX.example.org:8443',
    '*.example.org',
    '*.example.org:8443',
    '10.0.0.1',
    '10.0.0.1:8090',
    '[::1]',
    '[2001:db8::1]:8443',
    'localhost',
  ])('accepts %p', (entry) => expect(isPeerEntry(entry)).toBe(true));

  it.each([
    '',
    ' pbx.example.org',
    'pbx.example.org\n',
    'https://pbx.example.org',
    'pbx.example.org/',
    'pbx_b.example.org',
    '*',
    '*.',
    '**.example.org',
    'a.*.example.org',
    '*.10.0.0.1',
    '::1',
    '[::1',
    'pbx.example.org:0',
    'pbx.example.org:',
    'pbx..example.org',
    '<b>x</b>',
    'x'.repeat(300),
  ])('refuses %p', (entry) => expect(isPeerEntry(entry)).toBe(false));

  it('matches a server name case-insensitively and port-exactly', () => {
    expect(peerEntryMatches('PBX.example.org', 'pbx.example.org')).toBe(true);
    expect(peerEntryMatches('pbx.example.org', 'pbx.example.org:8443')).toBe(false);
    expect(peerEntryMatches('pbx.example.org:8443', 'pbx.example.org:8443')).toBe(true);
    expect(peerEntryMatches('[::1]:8090', '[::1]:8090')).toBe(true);
  });

  it('a *. entry matches every name below it, at any depth, but not the name itself', () => {
    expect(peerEntryMatches('*.example.org', 'pbx.example.org')).toBe(true);
    expect(peerEntryMatches('*.example.org', 'a.b.example.org')).toBe(true);
    expect(peerEntryMatches('*.example.org', 'example.org')).toBe(false);
    expect(peerEntryMatches('*.example.org', 'badexample.org')).toBe(false);
    expect(peerEntryMatches('*.example.org', 'pbx.example.org:8443')).toBe(false);
    expect(peerEntryMatches('*.example.org:8443', 'pbx.example.org:8443')).toBe(true);
  });

  it('an invalid entry (as an old version stored it) matches nothing', () => {
    expect(peerEntryMatches('pbx.example.org\n', 'pbx.example.org')).toBe(false);
    expect(peerEntryMatches('https://pbx.example.org', 'pbx.example.org')).toBe(false);
  });
});
