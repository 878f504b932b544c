import fs from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';

/**
 * Replaces a file so that a reader (Asterisk during a reload) sees either the
 * old or the new content, never half of it: write a temp file in the same
 * folder, fsync it, rename it over the target, fsync the folder.
 */
export async function writeFileAtomic(file: string, content: string, defaultMode = 0o640): Promise<void> {
  const dir = path.dirname(file);
  // Keep the mode (and so the group access Asterisk may rely on) of a file that is already there.
  const mode = await fs.stat(file).then(
    (st) => st.mode & 0o777,
    () => defaultMode,
  );
  const tmp = path.join(dir, `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await fs.open(tmp, 'wx', mode);
  await handle.chmod(mode);
  try {
    await handle.writeFile(content, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
  const dirHandle = await fs.open(dir, 'r');
  try {
    await dirHandle.sync();
  } finally {
    await dirHandle.close();
  }
}

/** The file's text, or null when it does not exist. */
export async function readFileIfExists(file: string): Promise<string | null> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}
