import {
  conciseChannelNames,
  parseNetstats,
  peerOfChannel,
  peerOfNetstatsRow,
} from '../../src/asterisk/iax-netstats';

// As Asterisk 22 printed it (docs/asterisk.md, "Call quality"): a call with jitter buffers on both
// ends after the first PONG, one before it, and one on a side without a jitter buffer.
const TEXT = [
  '                                -------- LOCAL ---------------------  -------- REMOTE --------------------',
  'Channel                    RTT  Jit  Del  Lost   %  Drop  OOO  Kpkts  Jit  Del  Lost   %  Drop  OOO  Kpkts FirstMsg    LastMsg',
  'IAX2/q-7654                85   70  162   212  12     3   54      1  244  300   101   9     0   38      0 Tx:NEW      Rx:ACK    ',
  'IAX2/q-16308             1000   97  141    23   3     0   12      0    0    0     0   0     0    0      0 Rx:NEW      Rx:ACK    ',
  'IAX2/quality_trunk_long_n   12   -1   -1    -1  -1     0    0      0    4   40     0   0     0    0      0 Tx:NEW      Rx:ACK    ',
  '3 active IAX channels',
].join('\n');

describe('iax2 show netstats', () => {
  it('reads RTT and both sides, in ms and percent', () => {
    const [row] = parseNetstats(TEXT);
    expect(row).toMatchObject({
      channel: 'IAX2/q-7654',
      rttMs: 85,
      local: {
        jitterMs: 70,
        delayMs: 162,
        lost: 212,
        lossPercent: 12,
        dropped: 3,
        outOfOrder: 54,
        kpackets: 1,
      },
      remote: {
        jitterMs: 244,
        delayMs: 300,
        lost: 101,
        lossPercent: 9,
        dropped: 0,
        outOfOrder: 38,
        kpackets: 0,
      },
    });
  });

  it('before the first PONG the RTT (1000) and the far end report (zeros) are unknown, the local side is not', () => {
    const row = parseNetstats(TEXT)[1];
    expect(row.rttMs).toBeNull();
    expect(row.remote.lossPercent).toBeNull();
    expect(row.remote.jitterMs).toBeNull();
    expect(row.local.lossPercent).toBe(3);
  });

  it('-1 (no jitter buffer on that side) is unknown, not a figure', () => {
    const row = parseNetstats(TEXT)[2];
    expect(row.local.jitterMs).toBeNull();
    expect(row.local.lossPercent).toBeNull();
    expect(row.remote.jitterMs).toBe(4);
    expect(row.remote.lossPercent).toBe(0);
  });

  it('skips headers and the count line', () => {
    expect(parseNetstats(TEXT)).toHaveLength(3);
    expect(parseNetstats('0 active IAX channels\n')).toEqual([]);
  });
});

describe('channels to peers', () => {
  it('the peer is the name before the call number', () => {
    expect(peerOfChannel('IAX2/berlin-1234')).toBe('berlin');
    expect(peerOfChannel('IAX2/slug-0a1b2c-77')).toBe('slug-0a1b2c');
    expect(peerOfChannel('Local/123@ctx-0000;1')).toBeNull();
    expect(peerOfChannel('PJSIP/phone-00000001')).toBeNull();
  });

  it('a name cut to 25 characters is matched against the full channel names', () => {
    const channels = conciseChannelNames(
      [
        'IAX2/quality_trunk_long_name-4711!uuru-test!s!1!Up!Milliwatt!!!!!3!5!!1796193038.0',
        'Local/619999@uuru-local-00000000;1!uuru-local!619999!1!Up!Milliwatt!!!!!3!5!!1796193038.1',
      ].join('\n'),
    );
    expect(channels).toEqual(['IAX2/quality_trunk_long_name-4711', 'Local/619999@uuru-local-00000000;1']);
    const [row] = parseNetstats(TEXT).slice(2);
    expect(peerOfNetstatsRow(row, channels)).toBe('quality_trunk_long_name');
    // Two peers behind one cut name: not attributed to either.
    expect(peerOfNetstatsRow(row, [...channels, 'IAX2/quality_trunk_long_nameX-12'])).toBeNull();
    // Gone by the time the channels were listed.
    expect(peerOfNetstatsRow(row, [])).toBeNull();
  });
});
