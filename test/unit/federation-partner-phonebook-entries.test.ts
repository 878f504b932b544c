import {
  cleanName,
  PARTNER_PHONEBOOK_NAME_MAX,
  PartnerPhonebookRefused,
  parsePartnerPhonebook,
} from '../../src/federation/partner-phonebook-entries';

describe('partner phonebook validation', () => {
  it('cleans names: controls, bidi and zero-width characters, line separators, lone surrogates', () => {
    expect(cleanName('A\u0000B\u001bC')).toBe('A B C');
    expect(cleanName('\u202eevil\u202c\u200b name\u2028two\u2029three')).toBe('evil name two three');
    expect(cleanName('broken \ud800 surrogate')).toBe('broken surrogate');
    expect(cleanName('  Kitchen   Bar\t')).toBe('Kitchen Bar');
  });

  it('cuts names by characters, not UTF-16 units, so no surrogate pair is split', () => {
    const name = cleanName('😀'.repeat(100));
    expect(Array.from(name)).toHaveLength(PARTNER_PHONEBOOK_NAME_MAX);
    expect(name).toBe('😀'.repeat(PARTNER_PHONEBOOK_NAME_MAX));
  });

  it('takes only extensions of the partner’s length, sorted, and counts what it skips', () => {
    const r = parsePartnerPhonebook(
      [
        { extension: '123', name: 'C' },
        { extension: '12', name: 'short' },
        { extension: '1234', name: 'long' },
        { extension: '١٢٣', name: 'Arabic-Indic digits' },
        { extension: '012', name: 'A', type: 'SIP', lat: 1 },
      ],
      3,
    );
    expect(r).toEqual({
      entries: [
        { extension: '012', name: 'A' },
        { extension: '123', name: 'C' },
      ],
      skipped: 3,
    });
  });

  it('refuses a response that is not an array or is too long', () => {
    expect(() => parsePartnerPhonebook({ extension: '123' }, 3)).toThrow(PartnerPhonebookRefused);
    expect(() => parsePartnerPhonebook(null, 3)).toThrow('not a JSON array');
    expect(() => parsePartnerPhonebook(new Array(10_001).fill({ extension: '123' }), 3)).toThrow(
      /more than the 10000/,
    );
  });
});
