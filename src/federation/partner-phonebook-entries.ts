/**
 * What a partner's phonebook may contain before we show it: a JSON array of
 * at most MAX_ENTRIES objects; per entry an extension of exactly the
 * partner's extension length in ASCII digits and a name of printable text
 * (control, format and separator characters removed, whitespace collapsed,
 * cut to NAME_MAX characters). Bad entries are skipped and counted; only a
 * response that is not such an array at all is refused as a whole.
 */

export const PARTNER_PHONEBOOK_MAX_ENTRIES = 10_000;
export const PARTNER_PHONEBOOK_NAME_MAX = 64;

export interface PartnerEntry {
  extension: string;
  name: string;
}

export class PartnerPhonebookRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PartnerPhonebookRefused';
  }
}

// Cc: C0/C1 controls; Cf: zero-width and bidi overrides; Cs: lone surrogates from \ud800 escapes; Zl/Zp: line breaks.
const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/gu;

export function cleanName(raw: string): string {
  const text = raw.replace(UNPRINTABLE, ' ').replace(/\s+/gu, ' ').trim();
  const chars = Array.from(text);
  return chars.length > PARTNER_PHONEBOOK_NAME_MAX
    ? chars.slice(0, PARTNER_PHONEBOOK_NAME_MAX).join('').trimEnd()
    : text;
}

export function parsePartnerPhonebook(
  json: unknown,
  extensionLength: number,
): { entries: PartnerEntry[]; skipped: number } {
  if (!Array.isArray(json)) throw new PartnerPhonebookRefused('the phonebook is not a JSON array');
  if (json.length > PARTNER_PHONEBOOK_MAX_ENTRIES) {
    throw new PartnerPhonebookRefused(
      `the phonebook has ${json.length} entries, more than the ${PARTNER_PHONEBOOK_MAX_ENTRIES} accepted`,
    );
  }
  const digits = new RegExp(`^[0-9]{${extensionLength}}$`);
  const seen = new Set<string>();
  const entries: PartnerEntry[] = [];
  let skipped = 0;
  for (const item of json) {
    const e =
      item !== null && typeof item === 'object' && !Array.isArray(item)
        ? (item as Record<string, unknown>)
        : null;
    const name = e?.name === undefined || e?.name === null ? '' : e.name;
    const ok =
      e !== null &&
      e.public !== false &&
      typeof e.extension === 'string' &&
      digits.test(e.extension) &&
      !seen.has(e.extension) &&
      typeof name === 'string';
    if (!ok) {
      skipped++;
      continue;
    }
    const extension = e.extension as string;
    seen.add(extension);
    entries.push({ extension, name: cleanName(name as string) });
  }
  entries.sort((a, b) => (a.extension < b.extension ? -1 : a.extension > b.extension ? 1 : 0));
  return { entries, skipped };
}
