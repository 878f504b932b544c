import fs from 'node:fs';
import { AppError, errorMessage } from '../core/errors';
import type { PhonebookSource } from './phonebook';

/**
 * The public directory kept in a file: a JSON array, or CSV with a header
 * row naming the fields. Re-read only when the file's mtime changes.
 */
export class PhonebookFile implements PhonebookSource {
  readonly label: string;
  private cache: { mtimeMs: number; rows: unknown[] } | null = null;

  constructor(private readonly file: string) {
    this.label = `file ${file}`;
  }

  async rows(): Promise<unknown[]> {
    let stat: fs.Stats;
    try {
      stat = await fs.promises.stat(this.file);
    } catch (e) {
      throw new AppError('PHONEBOOK_UNAVAILABLE', `the phonebook file cannot be read: ${errorMessage(e)}`);
    }
    if (this.cache && this.cache.mtimeMs === stat.mtimeMs) return this.cache.rows;
    const text = await fs.promises.readFile(this.file, 'utf8');
    const rows =
      this.file.toLowerCase().endsWith('.csv') || !/^\s*\[/.test(text)
        ? parseCsv(text)
        : parseJsonArray(text);
    this.cache = { mtimeMs: stat.mtimeMs, rows };
    return rows;
  }
}

function parseJsonArray(text: string): unknown[] {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new AppError('PHONEBOOK_UNAVAILABLE', `the phonebook JSON file is not valid: ${errorMessage(e)}`);
  }
  if (!Array.isArray(v))
    throw new AppError('PHONEBOOK_UNAVAILABLE', 'the phonebook JSON file must hold an array');
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
