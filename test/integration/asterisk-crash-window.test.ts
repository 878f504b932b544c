/**
 * A sidecar killed between writing the generated file and reloading it leaves
 * the new file on disk and the old peers in Asterisk. After the restart the
 * file already says what is wanted; the first reconcile must still make
 * Asterisk read it, or a removed peer lives on in Asterisk as an orphan.
 */
import fs from 'node:fs';
import path from 'node:path';
import { PeerEntity } from '../../src/store/entities';
import { IAX_FILE } from '../../src/asterisk/files-renderer';
import { type AsteriskInstance, startAsterisk } from '../harness/asterisk';
import { LOCAL_DIALPLAN, insertPeer, sharedSecret, startSidecar, type Sidecar } from './asterisk-fixtures';

jest.setTimeout(120_000);

let C: AsteriskInstance;
let first: Sidecar | undefined;
let second: Sidecar | undefined;

beforeAll(async () => {
  C = await startAsterisk({ name: 'cw', extensionsConf: LOCAL_DIALPLAN });
});

afterAll(async () => {
  await Promise.allSettled([first?.stop(), second?.stop()]);
  await C?.stop();
});

const loaded = async (s: Sidecar) => (await s.ami.iaxPeerList()).map((p) => p.name).sort();

it('a file written just before a crash is made live by the first reconcile after the restart', async () => {
  const secret = sharedSecret();
  const iaxFile = path.join(C.configDir, IAX_FILE);
  // The first sidecar must not repair the window recreated below: no watch on its files.
  first = await startSidecar(C, { asterisk: { watchGeneratedFiles: false } });
  await insertPeer(first.db, { name: 'c_x', prefix: '71', port: 4999, secret });
  await insertPeer(first.db, { name: 'c_y', prefix: '72', port: 4998, secret });
  await first.feature.reconcile('test');
  expect(await loaded(first)).toEqual(['c_x', 'c_y']);
  const withBoth = fs.readFileSync(iaxFile, 'utf8');

  await first.db.getRepository(PeerEntity).delete({ name: 'c_y' });
  await first.feature.reconcile('test');
  const withX = fs.readFileSync(iaxFile, 'utf8');
  expect(withX).not.toContain('[c_y]');

  // The crash window, recreated: Asterisk holds both peers, the file on disk holds only c_x.
  // `iax2 reload` raises no Reload event, so the running sidecar does not step in either.
  fs.writeFileSync(iaxFile, withBoth);
  await C.cli('iax2 reload');
  expect(await loaded(first)).toEqual(['c_x', 'c_y']);
  fs.writeFileSync(iaxFile, withX);
  await first.stop();
  first = undefined;

  second = await startSidecar(C);
  await insertPeer(second.db, { name: 'c_x', prefix: '71', port: 4999, secret });
  await second.feature.reconcile('restart');
  expect(fs.readFileSync(iaxFile, 'utf8')).toBe(withX); // nothing to write: only the reload can help
  expect(await loaded(second)).toEqual(['c_x']);
});
