import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { handWrittenIaxSections } from '../../src/asterisk/iax-conf-sections';

/** The scan of hand-written iax.conf sections that a federation peer must not take over. */
describe('hand-written iax.conf sections', () => {
  let dir: string;
  const write = (name: string, text: string) => {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
  };
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uuru-iaxconf-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('finds peers in iax.conf and in what it includes, lower-cased, leaving out settings, templates and our file', async () => {
    write(
      'iax.conf',
      [
        '[general]',
        'bindport=4569 ; [not_a_section]',
        '[callnumberlimits]',
        '[Office_Peer]',
        'type=friend',
        '[tpl](!)',
        '[tpl2](!,base)',
        '[inherits](tpl)',
        ';[commented]',
        ';-- a block',
        '[in_block]',
        '--;',
        '#include "peers.d/*.conf"',
        '#tryinclude missing.conf',
        '#include <loop.conf>',
        '#tryinclude iax-uuru-federation.conf',
        '[escaped\\;name]',
      ].join('\n'),
    );
    write('peers.d/a.conf', '[From_Glob_A]\n');
    write('peers.d/b.conf', '[from_glob_b]\n');
    write('peers.d/c.txt', '[not_conf]\n');
    write('loop.conf', '[looped]\n#include loop.conf\n#include iax.conf\n');
    write('iax-uuru-federation.conf', '[ours]\n');
    const names = await handWrittenIaxSections(dir, 'iax-uuru-federation.conf');
    expect([...names].sort()).toEqual(
      ['escaped\\;name', 'from_glob_a', 'from_glob_b', 'inherits', 'looped', 'office_peer'].sort(),
    );
  });

  it('is empty when there is no iax.conf', async () => {
    expect((await handWrittenIaxSections(dir, 'iax-uuru-federation.conf')).size).toBe(0);
  });
});
