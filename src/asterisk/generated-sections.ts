import type { DriftAction } from './state-backend';

/**
 * The [sections] of a file the sidecar generated, and what changed between
 * two versions of one: a drift report names each section added, changed or
 * removed. Only for our own files, whose syntax we write; hand-written
 * config is read by iax-conf-sections.ts, which knows Asterisk's comments
 * and includes.
 */

/** Splits a generated file into its [sections], keyed by section name. */
export function sections(text: string | null): Map<string, string> {
  const out = new Map<string, string>();
  if (text === null) return out;
  let current: string | null = null;
  let body: string[] = [];
  const flush = () => {
    if (current !== null) out.set(current, body.join('\n').trim());
  };
  for (const line of text.split('\n')) {
    const m = /^\[([^\]]*)\]/.exec(line);
    if (m) {
      flush();
      current = m[1];
      body = [];
    } else if (current !== null) {
      body.push(line);
    }
  }
  flush();
  return out;
}

export function diffSections(
  before: string | null,
  after: string,
  label: string,
): { action: DriftAction; object: string }[] {
  return diffSectionMaps(sections(before), sections(after), label);
}

/** Changes between two maps of section name → its body (or anything that changes with it: a mark). */
export function diffSectionMaps(
  a: Map<string, string>,
  b: Map<string, string>,
  label: string,
): { action: DriftAction; object: string }[] {
  const changes: { action: DriftAction; object: string }[] = [];
  for (const [name, body] of b) {
    if (!a.has(name)) changes.push({ action: 'add', object: `${label}:${name}` });
    else if (a.get(name) !== body) changes.push({ action: 'change', object: `${label}:${name}` });
  }
  for (const name of a.keys())
    if (!b.has(name)) changes.push({ action: 'remove', object: `${label}:${name}` });
  return changes;
}
