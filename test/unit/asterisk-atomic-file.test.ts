import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KnownFile, replaceFileAtomic, writeFileAtomic } from '../../src/asterisk/atomic-file';

describe('generated files on disk', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uuru-atomic-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('replaces a file whole, keeps its mode and leaves no temp file', async () => {
    const file = path.join(dir, 'iax-x.conf');
    fs.writeFileSync(file, 'old');
    fs.chmodSync(file, 0o604);
    await writeFileAtomic(file, 'new text');
    expect(fs.readFileSync(file, 'utf8')).toBe('new text');
    expect(fs.statSync(file).mode & 0o777).toBe(0o604);
    await writeFileAtomic(path.join(dir, 'fresh.conf'), 'x');
    expect(fs.statSync(path.join(dir, 'fresh.conf')).mode & 0o777).toBe(0o640);
    expect(fs.readdirSync(dir).sort()).toEqual(['fresh.conf', 'iax-x.conf']);
  });

  it('reads a known file again only once it changed', async () => {
    const file = path.join(dir, 'ext.conf');
    const known = new KnownFile(file);
    expect(await known.read()).toBeNull();
    await known.write('[ctx]\nexten => 1,1,Answer()\n');
    // Read synchronously (see replaceFileAtomic): the calls naming this file are the reads.
    const spy = jest.spyOn(fs, 'readFileSync');
    const reads = () => spy.mock.calls.filter((c) => c[0] === file).length;
    try {
      expect(await known.read()).toBe('[ctx]\nexten => 1,1,Answer()\n');
      expect(reads()).toBe(0);
      // A hand edit of another size is seen at once.
      fs.writeFileSync(file, '[ctx]\n');
      expect(await known.read()).toBe('[ctx]\n');
      // One of the same size, a while later (past the file system's timestamp tick), too.
      await new Promise((r) => setTimeout(r, 30));
      fs.writeFileSync(file, '[abc]\n');
      expect(await known.read()).toBe('[abc]\n');
      // A file replaced by rename (a new inode), as editors save, too.
      fs.writeFileSync(`${file}.new`, '[ctx]\n');
      fs.renameSync(`${file}.new`, file);
      expect(await known.read()).toBe('[ctx]\n');
      expect(reads()).toBe(3);
      fs.rmSync(file);
      expect(await known.read()).toBeNull();
    } finally {
      spy.mockRestore();
    }
  });

  it('has the new text in place before the folder is fsynced, and says when that is done', async () => {
    const file = path.join(dir, 'iax-y.conf');
    fs.writeFileSync(file, 'old');
    const opens = jest.spyOn(fs, 'openSync');
    const opened = () => opens.mock.calls.filter((c) => String(c[0]).startsWith(dir)).length;
    try {
      const { durable } = await replaceFileAtomic(file, 'new text');
      // A reader (Asterisk's reload) sees the new text now, whole; no temp file is left.
      expect(fs.readFileSync(file, 'utf8')).toBe('new text');
      expect(fs.readdirSync(dir)).toEqual(['iax-y.conf']);
      await expect(durable).resolves.toBeUndefined();
      // The folder and the temp file were opened (and fsynced), nothing else.
      expect(opened()).toBe(2);
    } finally {
      opens.mockRestore();
    }
  });
});
