/**
 * The ASCII-safe Asterisk name of a peering (asterisk_name): what the dial
 * plan keys a v1 (stock µURU) peering's inbound context and call group by when
 * its name is Unicode. It is never stored, so it must come out the same in
 * every version and on every start, and two peerings must never share one.
 */
import crypto from 'node:crypto';
import { asteriskName, isPeeringName, isV1PeeringName } from '../../src/core/peering-name';
import { seededRandom } from '../harness/seeded-random';

const UNICODE_NAMES = [
  'Grüße_Ωmega',
  'аlice', // Cyrillic a
  'ｐｅｅｒ', // full-width
  '中文名',
  'ΩΩ',
  'e\u0301te', // combining mark
  'a\u200db', // ZWJ
  `${'ä'.repeat(39)}x`, // 40 characters, 79 bytes
  'géneral', // ASCII slug "general"
  'callnumberlimitś',
  `${'x'.repeat(32)}é`, // long ASCII part
];

const ASCII_SAFE = /^[A-Za-z0-9_-]{1,31}$/;
const RESERVED = ['general', 'callnumberlimits'];

describe('asteriskName', () => {
  it('is the name itself for a strict name', () => {
    for (const name of ['alice_bob', 'A1', '_', 'x'.repeat(32), 'General_Store']) {
      expect(isPeeringName(name)).toBe(true);
      expect(asteriskName(name)).toBe(name);
    }
  });

  it('derives an ASCII-only name for every Unicode one: slug, dash, 10 hex digits of its SHA-256', () => {
    for (const name of UNICODE_NAMES) {
      expect([name, isV1PeeringName(name), isPeeringName(name)]).toEqual([name, true, false]);
      const derived = asteriskName(name);
      expect(derived).toMatch(ASCII_SAFE);
      // Never a strict name (a strict name has no dash), so never the name of another, strict peering.
      expect(isPeeringName(derived)).toBe(false);
      expect(derived.slice(-11)).toBe(
        `-${crypto.createHash('sha256').update(name, 'utf8').digest('hex').slice(0, 10)}`,
      );
      // The inbound context stays far within Asterisk's 80-byte context names.
      expect(Buffer.byteLength(`uuru-fed-in-${derived}`)).toBeLessThan(80);
    }
  });

  it('is pinned: the dial plan of an earlier start is found again by the same name', () => {
    // Contexts and groups in Asterisk carry it, and nothing stores it: a change would orphan them.
    expect(asteriskName('Grüße_Ωmega')).toBe('Grue_mega-2cff177243');
    expect(asteriskName('中文名')).toBe('peer-7e85c43648');
    expect(asteriskName('Grüße_Ωmega')).toBe(asteriskName('Grüße_Ωmega'.slice()));
  });

  it('is never a reserved iax.conf section name, even for a name whose slug is one', () => {
    for (const name of UNICODE_NAMES) {
      expect(RESERVED).not.toContain(asteriskName(name).toLowerCase());
    }
    expect(asteriskName('géneral')).toMatch(/^general-[0-9a-f]{10}$/);
  });

  it('gives distinct names distinct Asterisk names, where slugs or letters collide', () => {
    const pairs: [string, string][] = [
      ['Grüße_Ωmega', 'Grüße_Ψmega'], // the same slug
      ['Ωmega', 'ωmega'], // case
      ['Grüße'.normalize('NFC'), 'Grüße'.normalize('NFD')], // two spellings: two sections to Asterisk
      ['alice', 'alicé'], // a strict name and a Unicode one with its slug
      ['ΩΩ', 'ΨΨ'], // no slug at all
    ];
    for (const [x, y] of pairs) {
      expect(x).not.toBe(y);
      expect(asteriskName(x)).not.toBe(asteriskName(y));
    }
  });

  it('never maps two of 20,000 random v1 names to one Asterisk name', () => {
    const rnd = seededRandom(20261202);
    const alphabet = [...'abcXYZ019_', 'ä', 'ß', 'Ω', 'ж', '中', 'é', '\u0301', '\u200c', 'ｐ', '٣'];
    const seen = new Map<string, string>();
    let tried = 0;
    while (seen.size < 20_000 && tried < 200_000) {
      tried++;
      const name = Array.from({ length: rnd.int(1, 12) }, () => rnd.pick(alphabet)).join('');
      if (!isV1PeeringName(name)) continue;
      const derived = asteriskName(name);
      expect(derived).toMatch(ASCII_SAFE);
      const earlier = seen.get(derived);
      if (earlier !== undefined) expect([derived, earlier]).toEqual([derived, name]);
      seen.set(derived, name);
    }
    expect(seen.size).toBe(20_000);
  });
});
