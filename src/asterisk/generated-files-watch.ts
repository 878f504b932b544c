import { type FSWatcher, watch } from 'node:fs';
import { errorMessage } from '../core/errors';
import type { Logger } from '../logging/logger';
import type { KnownFile } from './atomic-file';

/**
 * Watches the generated files and calls onDrift (with the file's name) when
 * one no longer holds what the last apply wrote, so a hand edit is repaired
 * at once instead of at the next scheduled reconcile. inotify through
 * fs.watch, on the config folder rather than on the files: both are replaced
 * by a rename on every write (see writeFileAtomic), which a watch on a file
 * itself would not survive. Our own writes leave the expected text and call
 * nothing. Returns the function that stops watching.
 */
export function watchGeneratedFiles(deps: {
  configDir: string;
  files: Map<string, KnownFile>;
  /** The text the last apply wrote to a file, or undefined before the first. */
  expected: (name: string) => string | undefined;
  onDrift: (name: string) => void;
  logger: Logger;
}): () => void {
  let watcher: FSWatcher;
  try {
    watcher = watch(deps.configDir, { persistent: false });
  } catch (e) {
    deps.logger.warn('cannot watch the Asterisk config folder; hand edits wait for the scheduled reconcile', {
      component: 'asterisk',
      error: errorMessage(e),
    });
    return () => undefined;
  }
  // One look at a file at a time; events during it ask for one more.
  const looking = new Map<string, boolean>();
  const look = async (name: string, file: KnownFile): Promise<void> => {
    do {
      looking.set(name, false);
      const expected = deps.expected(name);
      if (expected === undefined) continue; // nothing applied yet: the first run writes it anyway
      const text = await file.read().catch(() => null);
      if (text !== expected && deps.expected(name) === expected) deps.onDrift(name);
    } while (looking.get(name) === true);
    looking.delete(name);
  };
  watcher.on('change', (_event, filename) => {
    const name = typeof filename === 'string' ? filename : filename?.toString('utf8');
    const file = name === undefined ? undefined : deps.files.get(name);
    if (name === undefined || !file) return;
    if (looking.has(name)) {
      looking.set(name, true);
      return;
    }
    void look(name, file);
  });
  watcher.on('error', (e) => {
    deps.logger.warn(
      'watching the Asterisk config folder failed; hand edits wait for the scheduled reconcile',
      {
        component: 'asterisk',
        error: errorMessage(e),
      },
    );
    watcher.close();
  });
  return () => watcher.close();
}
