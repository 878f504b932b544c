import fs from 'node:fs';
import { z } from 'zod';
import { AppError, errorMessage } from '../core/errors';
import type { Logger } from '../logging/logger';
import { isUnfederated } from './numbering-plan';

/**
 * The public directory we show partners, read from config.phonebook.file (a
 * JSON array or a CSV file with a header row). Numbers that cannot be
 * federated are never listed, nor entries marked non-public.
 */

export interface PhonebookEntry {
  extension: string;
  name: string;
  type: string;
  public: boolean;
  location_name: string | null;
  /** degrees × 10^7, as µURU stores them */
  lat: number | null;
  lon: number | null;
}

const coordinate = z.preprocess(
  (v) => (v === '' || v === undefined ? null : typeof v === 'string' ? Number(v) : v),
  z.number().int().nullable(),
);
const entrySchema = z.object({
  extension: z.preprocess((v) => (typeof v === 'number' ? String(v) : v), z.string().regex(/^[0-9]{1,16}$/)),
  name: z.string().max(200).default(''),
  type: z.string().max(32).default('SIP'),
  public: z.preprocess(
    (v) => (typeof v === 'string' ? !['false', '0', 'no', ''].includes(v.trim().toLowerCase()) : v),
    z.boolean().default(true),
  ),
  location_name: z.preprocess((v) => (v === '' ? null : v), z.string().max(200).nullable().default(null)),
  lat: coordinate.default(null),
  lon: coordinate.default(null),
});

export class Phonebook {
  private cache: { mtimeMs: number; entries: PhonebookEntry[] } | null = null;

  constructor(
    private readonly deps: { file: string | undefined; logger: Logger; unfederated: () => Promise<string[]> },
  ) {}

  /** The entries partners may see. */
  async publicEntries(): Promise<PhonebookEntry[]> {
    const all = this.load();
    const blocked = await this.deps.unfederated();
    return all.filter((e) => e.public && !isUnfederated(e.extension, blocked));
  }

  private load(): PhonebookEntry[] {
    const file = this.deps.file;
    if (!file) return [];
    let stat: fs.Stats;
    try {
      stat = fs.statSync(file);
    } catch (e) {
      throw new AppError(
        'PHONEBOOK_UNAVAILABLE',
        503,
        `the phonebook file cannot be read: ${errorMessage(e)}`,
        { kind: 'operational' },
      );
    }
    if (this.cache && this.cache.mtimeMs === stat.mtimeMs) return this.cache.entries;
    const text = fs.readFileSync(file, 'utf8');
    const rows =
      file.toLowerCase().endsWith('.csv') || !/^\s*\[/.test(text) ? parseCsv(text) : parseJsonArray(text);
    const entries: PhonebookEntry[] = [];
    rows.forEach((row, i) => {
      const parsed = entrySchema.safeParse(row);
      if (parsed.success) entries.push(parsed.data);
      else
        this.deps.logger.warn('phonebook entry skipped', {
          component: 'phonebook',
          row: i + 1,
          problem: parsed.error.issues[0]?.message,
        });
    });
    this.cache = { mtimeMs: stat.mtimeMs, entries };
    return entries;
  }
}

function parseJsonArray(text: string): unknown[] {
  const v: unknown = JSON.parse(text);
  if (!Array.isArray(v))
    throw new AppError('PHONEBOOK_UNAVAILABLE', 503, 'the phonebook JSON file must hold an array', {
      kind: 'operational',
    });
  return v;
}

/** RFC 4180 CSV with a header row naming the fields. */
export function parseCsv(text: string): Record<string, string>[] {
  const records: string[][] = [];
  let field = '';
  let row: string[] = [];
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      records.push(row);
      row = [];
      field = '';
    } else field += c;
  }
  if (field !== '' || row.length > 0) {
    row.push(field);
    records.push(row);
  }
  const nonEmpty = records.filter((r) => r.some((f) => f.trim() !== ''));
  if (nonEmpty.length === 0) return [];
  const header = nonEmpty[0].map((h) => h.trim().toLowerCase());
  return nonEmpty.slice(1).map((r) => Object.fromEntries(header.map((h, i) => [h, (r[i] ?? '').trim()])));
}
