import fs from 'node:fs';
import path from 'node:path';

/** How deep #include chains are followed (Asterisk itself stops loops; we just stop). */
const MAX_DEPTH = 8;
/** iax.conf sections that chan_iax2 reads as settings, never as peers. */
const SETTINGS_SECTIONS = new Set(['general', 'callnumberlimits']);

/**
 * The section names defined in iax.conf and the files it includes, leaving
 * out one file (ours) and templates (`[name](!)`). Lower-cased: Asterisk
 * finds a config section by name without regard to case, and with two
 * sections of one name, chan_iax2 builds the peer from the first one's
 * options both times; so a hand-written `[x]` silently takes over a
 * federation peer `x`.
 *
 * A best-effort reading of Asterisk's config syntax, enough for what admins
 * write by hand: `;` comments (`\;` is a literal), `;-- --;` block comments,
 * `#include` and `#tryinclude` with a relative or absolute path, quoted or
 * not, and `*` / `?` wildcards in the last path part. `#exec` is not run.
 *
 * Read with synchronous calls: every reconcile reads these few small files
 * before it can write and reload, and each asynchronous read is several round
 * trips through libuv's thread pool (1-20 ms each on a loaded machine).
 */
export function handWrittenIaxSections(configDir: string, ownFile: string): Promise<Set<string>> {
  const names = new Set<string>();
  const seen = new Set<string>();

  const visit = (file: string, depth: number): void => {
    const resolved = path.resolve(configDir, file);
    if (depth > MAX_DEPTH || seen.has(resolved) || path.basename(resolved) === ownFile) return;
    seen.add(resolved);
    let text: string;
    try {
      text = fs.readFileSync(resolved, 'utf8');
    } catch {
      return; // #tryinclude of a missing file, or a file Asterisk sees at another path
    }
    for (const line of withoutComments(text).split('\n')) {
      const include = /^\s*#\s*(?:try)?include\s+["<]?([^">]+?)[">]?\s*$/i.exec(line);
      if (include) {
        for (const f of expand(configDir, include[1])) visit(f, depth + 1);
        continue;
      }
      const section = /^\s*\[([^\]]+)\]\s*(?:\(([^)]*)\))?/.exec(line);
      if (!section) continue;
      const name = section[1].trim().toLowerCase();
      const isTemplate = (section[2] ?? '').split(',').some((o) => o.trim() === '!');
      if (!isTemplate && !SETTINGS_SECTIONS.has(name)) names.add(name);
    }
  };

  visit('iax.conf', 0);
  return Promise.resolve(names);
}

/** Drops `;` comments and `;-- ... --;` blocks, keeping `\;` as a literal semicolon. */
function withoutComments(text: string): string {
  const noBlocks = text.replace(/;--[\s\S]*?--;/g, '');
  return noBlocks
    .split('\n')
    .map((line) => {
      for (let i = 0; i < line.length; i++) {
        if (line[i] === ';' && line[i - 1] !== '\\') return line.slice(0, i);
      }
      return line;
    })
    .join('\n');
}

/** The files an include names: itself, or the matches of a wildcard in its last part. */
function expand(configDir: string, spec: string): string[] {
  const full = path.resolve(configDir, spec.trim());
  const base = path.basename(full);
  if (!/[*?]/.test(base)) return [full];
  const dir = path.dirname(full);
  const pattern = new RegExp(
    `^${base
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  );
  try {
    return fs
      .readdirSync(dir)
      .filter((f) => pattern.test(f))
      .sort()
      .map((f) => path.join(dir, f));
  } catch {
    return [];
  }
}
