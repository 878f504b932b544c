import { z } from 'zod';
import type { Logger } from '../logging/logger';
import type { UnfederatedSet } from '../core/unfederated-numbers';

/**
 * The public directory we show partners, merged from the configured sources
 * (config.phonebook.file, a µURU database's extension table). Numbers that
 * cannot be federated are never listed, nor entries marked non-public; on a
 * duplicate extension the first source wins.
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

/** Where directory rows come from; rows are validated here, not by the source. */
export interface PhonebookSource {
  /** For log lines ("file /etc/...", "µURU database uuru@host"). Never holds a secret. */
  readonly label: string;
  /** Raw rows; throws AppError PHONEBOOK_UNAVAILABLE (503) when the source cannot be read. */
  rows(): Promise<unknown[]>;
  close?(): Promise<void>;
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
  /** Rows already reported as skipped, so a bad row is logged once, not on every partner's fetch. */
  private readonly reported = new Set<string>();

  constructor(
    private readonly deps: {
      sources: PhonebookSource[];
      logger: Logger;
      /** The unfederated set (PolicyStore.unfederatedSet): its numbers are never served. */
      unfederated: () => Promise<UnfederatedSet>;
    },
  ) {}

  /** The entries partners may see. */
  async publicEntries(): Promise<PhonebookEntry[]> {
    const blocked = await this.deps.unfederated();
    const seen = new Set<string>();
    const out: PhonebookEntry[] = [];
    for (const source of this.deps.sources) {
      const rows = await source.rows();
      rows.forEach((row, i) => {
        const parsed = entrySchema.safeParse(row);
        if (!parsed.success) {
          this.reportSkipped(source.label, i + 1, parsed.error.issues[0]?.message);
          return;
        }
        const e = parsed.data;
        if (!e.public || blocked.blocking(e.extension) !== null || seen.has(e.extension)) return;
        seen.add(e.extension);
        out.push(e);
      });
    }
    return out;
  }

  async close(): Promise<void> {
    for (const s of this.deps.sources) await s.close?.();
  }

  private reportSkipped(source: string, row: number, problem: string | undefined): void {
    const key = `${source}#${row}#${problem ?? ''}`;
    if (this.reported.has(key)) return;
    if (this.reported.size > 10_000) this.reported.clear();
    this.reported.add(key);
    this.deps.logger.warn('phonebook entry skipped', { component: 'phonebook', source, row, problem });
  }
}
