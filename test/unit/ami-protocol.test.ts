import { AmiParser, serializeAction } from '../../src/asterisk/ami-protocol';
import { parseIaxPeerEntry, parseIaxPeerStatus } from '../../src/asterisk/ami-iax-peers';

describe('AmiParser', () => {
  test('skips the greeting and splits messages at empty lines, across arbitrary chunk borders', () => {
    const wire =
      'Asterisk Call Manager/9.0.0\r\n' +
      'Response: Success\r\nActionID: 1\r\nMessage: Authentication accepted\r\n\r\n' +
      'Event: FullyBooted\r\nPrivilege: system,all\r\nUptime: 12\r\nStatus: Fully Booted\r\n\r\n';
    for (const size of [1, 3, 7, 50, wire.length]) {
      const parser = new AmiParser();
      const out = [];
      for (let i = 0; i < wire.length; i += size) out.push(...parser.push(wire.slice(i, i + size)));
      expect(out).toEqual([
        { response: 'Success', actionid: '1', message: 'Authentication accepted' },
        { event: 'FullyBooted', privilege: 'system,all', uptime: '12', status: 'Fully Booted' },
      ]);
    }
  });

  test('lower-cases header names, keeps values verbatim and joins repeated headers', () => {
    const parser = new AmiParser();
    parser.push('Asterisk Call Manager/9.0.0\r\n');
    const [m] = parser.push(
      'Response: Success\r\nActionID: 7\r\nMessage: Command output follows\r\n' +
        'Output: Name/Username    Host\r\nOutput:   indented: a: b\r\nOutput: \r\n\r\n',
    );
    expect(m.output).toBe('Name/Username    Host\n  indented: a: b\n');
    expect(m.actionid).toBe('7');
  });

  test('a long answer in many chunks comes out whole, however its end is split', () => {
    const lines = Array.from(
      { length: 2000 },
      (_, i) => `Output: peer_${i}  127.0.0.1  uuru-federation ${i}`,
    );
    const answer = `Response: Success\r\nActionID: 9\r\n${lines.join('\r\n')}\r\n\r\nEvent: Reload\r\n\r\n`;
    const wire = `Asterisk Call Manager/9.0.0\r\n${answer}`;
    for (const size of [1, 2, 3, 5, 4096, 65536]) {
      const parser = new AmiParser();
      const out = [];
      for (let i = 0; i < wire.length; i += size) out.push(...parser.push(wire.slice(i, i + size)));
      expect(out).toHaveLength(2);
      expect(out[0].output.split('\n')).toHaveLength(2000);
      expect(out[0].output.split('\n')[1999]).toBe('peer_1999  127.0.0.1  uuru-federation 1999');
      expect(out[1]).toEqual({ event: 'Reload' });
    }
  });

  test('keeps an incomplete message until the rest arrives', () => {
    const parser = new AmiParser();
    expect(parser.push('Asterisk Call Manager/9.0.0\r\nEvent: Reload\r\nModule: chan_iax2.so\r\n')).toEqual(
      [],
    );
    expect(parser.push('\r\n')).toEqual([{ event: 'Reload', module: 'chan_iax2.so' }]);
  });
});

describe('serializeAction', () => {
  test('writes Key: Value lines and an empty line', () => {
    expect(serializeAction({ Action: 'Ping', ActionID: 'x1' })).toBe('Action: Ping\r\nActionID: x1\r\n\r\n');
  });

  test.each([
    ['a value with CRLF', { Action: 'Command', Command: 'core show version\r\nAction: Logoff' }],
    ['a value with LF', { Action: 'Command', Command: 'x\nAction: Logoff' }],
    ['a value with CR', { Action: 'Command', Command: 'x\rAction: Logoff' }],
    ['a key with a colon', { 'Action: Logoff\r\nX': 'y' }],
    ['an empty key', { '': 'y' }],
  ])('refuses %s', (_what, fields) => {
    expect(() => serializeAction(fields)).toThrow(RangeError);
  });
});

describe('IAX2 peer status', () => {
  test.each([
    ['OK (12 ms)', 'ok', 12],
    ['OK (0 ms)', 'ok', 0],
    ['LAGGED (2500 ms)', 'lagged', 2500],
    ['UNREACHABLE', 'unreachable', null],
    ['UNKNOWN', 'unknown', null],
    ['Unmonitored', 'unmonitored', null],
    ['something new', 'unknown', null],
  ])('%s', (status, state, latencyMs) => {
    expect(parseIaxPeerStatus(status)).toEqual({ state, latencyMs });
  });

  test('a PeerEntry event becomes an IaxPeerEntry', () => {
    expect(
      parseIaxPeerEntry({
        event: 'PeerEntry',
        objectname: 'uuru_pair',
        ipaddress: '127.0.0.1',
        port: '4570',
        status: 'OK (3 ms)',
      }),
    ).toEqual({
      name: 'uuru_pair',
      host: '127.0.0.1',
      port: 4570,
      status: 'OK (3 ms)',
      state: 'ok',
      latencyMs: 3,
    });
    expect(
      parseIaxPeerEntry({ objectname: 'dyn', ipaddress: '(null)', port: '0', status: 'UNKNOWN' }),
    ).toMatchObject({
      host: null,
      port: null,
      state: 'unknown',
    });
  });
});
