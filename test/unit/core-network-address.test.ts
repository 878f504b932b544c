import { assertHost } from '../../src/asterisk/peer-validation';
import {
  describeHost,
  isHostnameOrIp,
  isPartnerBaseUrl,
  parseHostPort,
} from '../../src/core/network-address';
import { iax2Host } from '../../src/federation/wire-schemas';

/** What a hostile or broken partner sends as its IAX2 host (the fuzz test's list and more). */
const HOSTILE_HOSTS = [
  'peer\r\nhost=10.6.6.6',
  'peer\n[evil]\ntype=friend',
  '#include /etc/passwd',
  '#exec /bin/sh',
  '${SHELL(id)}',
  '$[1+1]',
  '127.0.0.1\n[x]',
  '127.0.0.1;evil',
  '[::1',
  '[::1]x',
  '[127.0.0.1]',
  ' ',
  '',
  ' 127.0.0.1',
  '127.0.0.1 ',
  'ехаmple.org', // Cyrillic
  'exаmple.org', // one Cyrillic a
  'ｐｅｅｒ', // fullwidth
  'peer\u200b',
  'peer\u202e',
  '１２３',
  'a,b,c',
  'host=1.2.3.4',
  'IAX2/other/123&Local/1@x',
  'fe80::1%eth0',
  '999.1.1.1',
  '123',
  '-peer.example',
  'peer-.example',
  'a..b',
  'a'.repeat(64) + '.example',
  `${'a.'.repeat(127)}ab`,
  'nul\u0000byte',
];

const GOOD_HOSTS = [
  '127.0.0.1',
  '192.0.2.10',
  '::1',
  '2001:db8::1',
  'pbx-1.example.org',
  'localhost',
  'a.b-c.d',
];

const asteriskAccepts = (v: string): boolean => {
  try {
    assertHost('host', v);
    return true;
  } catch {
    return false;
  }
};

describe('isHostnameOrIp: the one host rule of the federation and Asterisk layers', () => {
  it.each(HOSTILE_HOSTS.map((h) => [JSON.stringify(h), h]))('refuses %s', (_label, host) => {
    expect(isHostnameOrIp(host)).toBe(false);
  });

  it.each(GOOD_HOSTS)('accepts %s', (host) => {
    expect(isHostnameOrIp(host)).toBe(true);
  });

  it('the wire schema and the Asterisk layer agree on every value', () => {
    for (const v of [...HOSTILE_HOSTS, ...GOOD_HOSTS]) {
      expect({ v, wire: iax2Host.safeParse(v).success }).toEqual({ v, wire: asteriskAccepts(v) });
    }
  });
});

describe('parseHostPort (µURU "host" or "host:port")', () => {
  it('splits host and port, the port defaulting to 4569', () => {
    expect(parseHostPort('192.0.2.10')).toEqual({ host: '192.0.2.10', port: 4569 });
    expect(parseHostPort('192.0.2.10:4570')).toEqual({ host: '192.0.2.10', port: 4570 });
    expect(parseHostPort('pbx.example:1')).toEqual({ host: 'pbx.example', port: 1 });
    expect(parseHostPort('[2001:db8::1]:4571')).toEqual({ host: '2001:db8::1', port: 4571 });
    expect(parseHostPort('[2001:db8::1]')).toEqual({ host: '2001:db8::1', port: 4569 });
    expect(parseHostPort('2001:db8::2')).toEqual({ host: '2001:db8::2', port: 4569 });
  });

  it('refuses a bad host or port instead of repairing it', () => {
    for (const v of [...HOSTILE_HOSTS, '10.0.0.1:99999', '10.0.0.1:0', '10.0.0.1:', ':4569', '[::1]:99999']) {
      expect({ v, parsed: parseHostPort(v) }).toEqual({ v, parsed: null });
    }
  });
});

describe('isPartnerBaseUrl', () => {
  it.each([
    'http://127.0.0.1:8080',
    'https://pbx.example.org',
    'http://[::1]:8080',
    'https://pbx.example.org/uuru',
  ])('accepts %s', (url) => {
    expect(isPartnerBaseUrl(url)).toBe(true);
  });

  it.each(
    [
      'http://user:pass@127.0.0.1:1',
      'http://user@127.0.0.1:1',
      'http://@127.0.0.1:1',
      'http://:@127.0.0.1:1',
      'http://127.0.0.1:1/?secret=abc',
      'http://127.0.0.1:1/#x',
      'javascript:alert(1)',
      'ftp://127.0.0.1/x',
      'file:///etc/passwd',
      'http://[::1',
      '127.0.0.1:1',
      'http://127.0.0.1:99999',
      'http://exаmple.org', // Cyrillic a: URL parsing would turn it into punycode
      'http://a;b.example',
      'http://a$b.example',
      'http://127.0.0.1:1\n',
      'http://' + 'a'.repeat(300) + '.org',
    ].map((u) => [JSON.stringify(u).slice(0, 60), u]),
  )('refuses %s', (_label, url) => {
    expect(isPartnerBaseUrl(url)).toBe(false);
  });
});

describe('describeHost', () => {
  it('names host[:port] only: never user info, path or query', () => {
    expect(describeHost('http://user:pass@127.0.0.1:1/api/v1/x?secret=abc')).toBe('127.0.0.1:1');
    expect(describeHost('https://pbx.example/?secret=abc')).toBe('pbx.example');
    expect(describeHost('not a url secret=abc')).toBe('an invalid address');
  });
});
