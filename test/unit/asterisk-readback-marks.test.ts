import { loadedMarks } from '../../src/asterisk/asterisk-readback';
import type { AmiLink } from '../../src/asterisk/asterisk-links';

/** An AMI link that answers `iax2 show peers` with the given text (no Asterisk needed to parse a listing). */
const listing = (text: string): AmiLink => ({ command: async () => text }) as unknown as AmiLink;

describe('loadedMarks', () => {
  it('counts each mark in the description column, and only whole marks', async () => {
    const text = [
      'Name/Username    Host                 Mask             Port          Status      Description',
      'alice            127.0.0.1       (S)  255.255.255.255  40001         UNREACHABLE uuru-federation 0123456789ab',
      'bob              127.0.0.1       (S)  255.255.255.255  40002         OK (1 ms)   uuru-federation 0123456789ab',
      'carol            127.0.0.1       (S)  255.255.255.255  40003         UNKNOWN     uuru-federation abcdefabcdef',
      'dave             127.0.0.1       (S)  255.255.255.255  40004         UNKNOWN     uuru-federation abcdefabcdef0',
      'erin             127.0.0.1       (S)  255.255.255.255  40005         UNKNOWN     hand-written',
      '5 iax2 peers [0 online, 3 offline, 2 unmonitored]',
    ].join('\n');
    expect([...(await loadedMarks(listing(text)))]).toEqual([
      ['uuru-federation 0123456789ab', 2],
      ['uuru-federation abcdefabcdef', 1],
    ]);
    // The same answer again: the global pattern keeps no position between listings.
    expect((await loadedMarks(listing(text))).get('uuru-federation abcdefabcdef')).toBe(1);
    expect((await loadedMarks(listing('0 iax2 peers'))).size).toBe(0);
  });
});
