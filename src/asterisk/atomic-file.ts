import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

/**
 * Replaces a file so that a reader (Asterisk during a reload) sees either the
 * old or the new content, never half of it: write a temp file in the same
 * folder, fsync it, rename it over the target, fsync the folder.
 */
export async function writeFileAtomic(file: string, content: string, defaultMode = 0o640): Promise<void> {
  const { durable } = await replaceFileAtomic(file, content, defaultMode);
  await durable;
}

const fsyncFd = promisify(fs.fsync);

/**
 * writeFileAtomic in two steps: resolves once the new content is in place
 * (the temp file fsynced and renamed over the target: a reader, and after a
 * power loss the disk, holds the old or the new content whole), with
 * `durable`, which resolves once the folder is fsynced too (the rename itself
 * survives a power loss). Until then a power loss may bring the old content
 * back, whole, which is what a crash just before the write leaves as well: a
 * caller can let a reader load the new content first (a reconcile reloads
 * Asterisk) and wait for `durable` after.
 *
 * The small steps (stat, open, write, chmod, close, rename) are synchronous:
 * each takes microseconds, while each asynchronous one is a round trip
 * through libuv's thread pool that costs 1-20 ms on a loaded machine, and a
 * reconcile cannot reload Asterisk before they are done. Only the fsyncs,
 * which wait for the disk, go to the pool.
 */
export async function replaceFileAtomic(
  file: string,
  content: string,
  defaultMode = 0o640,
): Promise<{ durable: Promise<void> }> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  // Keep the mode (and so the group access Asterisk may rely on) of a file that is already there.
  let mode = defaultMode;
  try {
    mode = fs.statSync(file).mode & 0o777;
  } catch {
    // absent (or unreadable): a new file gets the default mode
  }
  const fd = fs.openSync(tmp, 'wx', mode);
  try {
    try {
      // chmod too: open() applies the umask to the mode.
      fs.fchmodSync(fd, mode);
      fs.writeFileSync(fd, content, 'utf8');
      await fsyncFd(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  const durable = syncFolder(dir);
  // The caller may not wait for it before it fails elsewhere: never an unhandled rejection.
  durable.catch(() => undefined);
  return { durable };
}

/** fsyncs a folder (a rename in it survives a power loss once this resolves). */
async function syncFolder(dir: string): Promise<void> {
  const fd = fs.openSync(dir, 'r');
  try {
    await fsyncFd(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * A file this process writes and reads back often (a generated config file):
 * its text is kept with the file's identity (inode, size, change and
 * modification times), and read again only when those change. Any write to
 * the file changes them, except one within the file system's timestamp tick
 * that keeps the size: such a hand edit is noticed once the file changes again.
 */
export class KnownFile {
  private known: { text: string; identity: string } | null = null;

  constructor(readonly file: string) {}

  /** The file's text, or null when it does not exist. */
  async read(): Promise<string | null> {
    const identity = identityOf(this.file);
    if (identity === null) {
      this.known = null;
      return null;
    }
    if (this.known?.identity === identity) return this.known.text;
    const text = readFileSyncIfExists(this.file);
    // The identity taken before the read: a change during it shows as a new identity next time.
    this.known = text === null ? null : { text, identity };
    return text;
  }

  /** Replaces the file's text (see replaceFileAtomic); resolves once it is in place, with `durable`. */
  async write(text: string): Promise<{ durable: Promise<void> }> {
    this.known = null;
    const { durable } = await replaceFileAtomic(this.file, text);
    const identity = identityOf(this.file);
    if (identity !== null) this.known = { text, identity };
    return { durable };
  }
}

function identityOf(file: string): string | null {
  try {
    const st = fs.statSync(file, { bigint: true });
    return `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/**
 * The file's text, or null when it does not exist. Synchronous, like the
 * writes (see replaceFileAtomic): read only when the file's identity changed.
 */
function readFileSyncIfExists(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}
