import path from 'node:path';
import type { Logger } from '../logging/logger';
import { KnownFile } from './atomic-file';
import { EXTENSIONS_FILE, IAX_FILE } from './files-renderer';
import { watchGeneratedFiles } from './generated-files-watch';

export type GeneratedFileName = typeof IAX_FILE | typeof EXTENSIONS_FILE;

/**
 * The two files the sidecar owns in Asterisk's config folder, written
 * atomically (see writeFileAtomic) and only when their text changes. Each
 * remembers the text it should hold, set before the write (or when the file
 * is found already so), so that the watcher never takes our own write for a
 * hand edit, even when it looks while the write is still going on.
 */
export class GeneratedFiles {
  private readonly files: Record<GeneratedFileName, KnownFile>;
  private readonly expectedText = new Map<string, string>();

  constructor(private readonly configDir: string) {
    this.files = {
      [IAX_FILE]: new KnownFile(path.join(configDir, IAX_FILE)),
      [EXTENSIONS_FILE]: new KnownFile(path.join(configDir, EXTENSIONS_FILE)),
    };
  }

  /**
   * Makes the file hold `text`; returns what it held before (null: absent),
   * whether it was written, and `durable`, which resolves once the write is
   * on disk for good (see replaceFileAtomic: the text is in place already).
   */
  async replace(
    name: GeneratedFileName,
    text: string,
  ): Promise<{ before: string | null; changed: boolean; durable: Promise<void> }> {
    const file = this.files[name];
    const before = await file.read();
    const changed = before !== text;
    this.expectedText.set(name, text);
    const { durable } = changed ? await file.write(text) : { durable: Promise.resolve() };
    return { before, changed, durable };
  }

  /** Repairs a hand edit of a generated file at once (see generated-files-watch.ts). */
  watch(onDrift: (file: string) => void, logger: Logger): () => void {
    return watchGeneratedFiles({
      configDir: this.configDir,
      files: new Map(Object.entries(this.files)),
      expected: (name) => this.expectedText.get(name),
      onDrift,
      logger,
    });
  }
}
