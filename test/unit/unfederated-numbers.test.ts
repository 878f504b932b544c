/**
 * The unfederated set (policy list ∪ reserved extensions ∪ emergency
 * numbers), the exact cover of µURU's [from, to] ranges by dial plan
 * patterns, and the configuration forms of both lists.
 */
import { blockedExtens } from '../../src/asterisk/desired-state';
import { ConfigError, loadConfig } from '../../src/config/load-config';
import {
  coverRange,
  DEFAULT_EMERGENCY_NUMBERS,
  type DigitPattern,
  localPatterns,
  type NumberRule,
  unfederatedSet,
} from '../../src/core/unfederated-numbers';
import { Phonebook } from '../../src/federation/phonebook';
import { seededRandom } from '../harness/seeded-random';
import { captureLogger } from '../harness/test-logger';

const pad = (n: number, digits: number) => String(n).padStart(digits, '0');
const matches = (p: DigitPattern, n: string) =>
  p.length === n.length && p.every(([lo, hi], i) => Number(n[i]) >= lo && Number(n[i]) <= hi);
const text = (patterns: DigitPattern[]) => blockedExtens(patterns, 'per_peer');
/** A 4-digit plan: policy 5555 and 9*, µURU's range 200-299 (0200-0299 here), the default emergency numbers. */
const set4 = () =>
  unfederatedSet({
    extensionDigits: 4,
    policy: ['5555', '9*'],
    reserved: [{ kind: 'range', from: 200, to: 299 }],
    emergency: DEFAULT_EMERGENCY_NUMBERS,
  });

/** Every number of the plan the patterns cover, as a sorted list. */
function expand(patterns: DigitPattern[], digits: number): string[] {
  const out: string[] = [];
  for (let n = 0; n < 10 ** digits; n++) {
    const s = pad(n, digits);
    if (patterns.some((p) => matches(p, s))) out.push(s);
  }
  return out;
}

/**
 * The fewest patterns of the form an admin writes (digits, one class, then
 * X: `_2[0-4]`, `_[2-3]X`) that cover exactly [lo, hi] of a 2-digit plan, by
 * brute force: any exact cover can be made of the maximal such patterns
 * inside the range, and there are few of them. (Overlapping patterns with a
 * class in every position can save one now and then, e.g. 01-20 as
 * `_[0-1][1-9]` and `_[1-2]0`; nobody reads those at a glance.)
 */
function minimalCover2(lo: number, hi: number): number {
  const inside = (n: number) => n >= lo && n <= hi;
  const rects: [number, number, number, number][] = [];
  for (let a = 0; a <= 9; a++)
    for (let b = a; b <= 9; b++)
      for (let c = 0; c <= 9; c++)
        for (let d = c; d <= 9; d++) {
          // digits, one class, X…: either the first position is one digit or the second is X.
          if (a !== b && !(c === 0 && d === 9)) continue;
          let ok = true;
          for (let x = a; x <= b && ok; x++) for (let y = c; y <= d && ok; y++) ok = inside(10 * x + y);
          if (ok) rects.push([a, b, c, d]);
        }
  const within = (r: number[], q: number[]) => q[0] <= r[0] && r[1] <= q[1] && q[2] <= r[2] && r[3] <= q[3];
  const maximal = rects.filter((r) => !rects.some((q) => q !== r && within(r, q)));
  const target = hi - lo + 1;
  for (let k = 1; k <= maximal.length; k++) {
    const pick = (start: number, left: number, chosen: number[][]): boolean => {
      if (left === 0) {
        const cells = new Set<number>();
        for (const [a, b, c, d] of chosen)
          for (let x = a; x <= b; x++) for (let y = c; y <= d; y++) cells.add(10 * x + y);
        return cells.size === target;
      }
      for (let i = start; i < maximal.length; i++)
        if (pick(i + 1, left - 1, [...chosen, maximal[i]])) return true;
      return false;
    };
    if (pick(0, k, [])) return k;
  }
  throw new Error('no cover');
}

describe('cover of a range by dial plan patterns', () => {
  it('writes the ranges an admin expects as the patterns an admin would write', () => {
    expect(text(coverRange('200', '299'))).toEqual(['_2XX']);
    expect(text(coverRange('200', '204'))).toEqual(['_20[0-4]']);
    expect(text(coverRange('200', '214'))).toEqual(['_20X', '_21[0-4]']);
    expect(text(coverRange('0200', '0299'))).toEqual(['_02XX']);
    expect(text(coverRange('555', '555'))).toEqual(['555']);
    expect(text(coverRange('000', '999'))).toEqual(['_XXX']);
    expect(text(coverRange('115', '342'))).toEqual(['_11[5-9]', '_1[2-9]X', '_2XX', '_34[0-2]', '_3[0-3]X']);
  });

  it('covers exactly the range, with the fewest such patterns, for every range of a 2-digit plan', () => {
    for (let lo = 0; lo <= 99; lo++) {
      for (let hi = lo; hi <= 99; hi++) {
        const cover = coverRange(pad(lo, 2), pad(hi, 2));
        const want = Array.from({ length: hi - lo + 1 }, (_, i) => pad(lo + i, 2));
        expect([lo, hi, expand(cover, 2)]).toEqual([lo, hi, want]);
        expect([lo, hi, cover.length]).toEqual([lo, hi, minimalCover2(lo, hi)]);
      }
    }
  });

  it('covers exactly the range for random ranges of 3- and 4-digit plans, in at most 2·digits−1 patterns', () => {
    const rnd = seededRandom(11);
    for (const digits of [3, 4]) {
      for (let i = 0; i < 150; i++) {
        const a = rnd.int(0, 10 ** digits - 1);
        const b = rnd.int(0, 10 ** digits - 1);
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        const cover = coverRange(pad(lo, digits), pad(hi, digits));
        expect(cover.length).toBeLessThanOrEqual(2 * digits - 1);
        const got = expand(cover, digits);
        expect([lo, hi, got.length, got[0], got[got.length - 1]]).toEqual([
          lo,
          hi,
          hi - lo + 1,
          pad(lo, digits),
          pad(hi, digits),
        ]);
      }
    }
  });

  it('reads µURU numbers as numbers: 110 is 0110 in a 4-digit plan; a range is cut at the plan', () => {
    const range = (from: number, to: number): NumberRule => ({ kind: 'range', from, to });
    expect(text(localPatterns(range(110, 110), 4))).toEqual(['0110']);
    expect(text(localPatterns(range(110, 110), 3))).toEqual(['110']);
    expect(text(localPatterns(range(900, 1500), 3))).toEqual(['_9XX']);
    expect(localPatterns(range(1000, 1500), 3)).toEqual([]);
    expect(text(localPatterns({ kind: 'stem', stem: '9' }, 3))).toEqual(['_9XX']);
    expect(localPatterns({ kind: 'exact', digits: '5555' }, 3)).toEqual([]);
  });

  it('never starts a realtime pattern with a class: the realtime switch takes the first row by text, and [ sorts after X', () => {
    const cover = coverRange('200', '399');
    expect(blockedExtens(cover, 'per_peer')).toEqual(['_[2-3]XX']);
    expect(blockedExtens(cover, 'shared')).toEqual(['_2XX', '_3XX']);
    for (const e of blockedExtens(coverRange('115', '342'), 'shared')) expect(e < '_XXX').toBe(true);
  });
});

describe('the unfederated set', () => {
  const set = (
    digits: number,
    policy: string[],
    reserved: NumberRule[],
    emergency: readonly string[] = DEFAULT_EMERGENCY_NUMBERS,
  ) => unfederatedSet({ extensionDigits: digits, policy, reserved, emergency });

  it('is the policy list and the reserved extensions and the emergency numbers, never one instead of another', () => {
    // The case: a saved policy listing only 555, UURU_RESERVED_EXTENSIONS=999, a 3-digit plan.
    const s = set(3, ['555'], [{ kind: 'exact', digits: '999' }]);
    for (const n of ['555', '999', '112', '110', '911', '000', '118', '119'])
      expect([n, s.blocking(n) !== null]).toEqual([n, true]);
    expect(s.blocking('556')).toBeNull();
    expect(text(s.localPatterns())).toEqual(['000', '110', '112', '118', '119', '555', '911', '999']);
  });

  it('blocks every local number starting with a shorter emergency number; a longer one only in prefix checks', () => {
    const four = set(4, [], []);
    expect(text(four.localPatterns())).toEqual([
      '_000X',
      '_110X',
      '_112X',
      '_118X',
      '_119X',
      '_911X',
      '_999X',
    ]);
    expect(four.blocking('1120')?.source).toBe('emergency');
    expect(four.blocking('1130')).toBeNull();
    const two = set(2, [], []);
    expect(two.localPatterns()).toEqual([]);
    expect(two.overlapping('11')?.source).toBe('emergency');
    expect(set(3, [], [], ['112']).blocking('110')).toBeNull();
    expect(set(3, [], [], []).localPatterns()).toEqual([]);
  });

  it('merges what overlaps: a number inside a range or a stem is not written twice', () => {
    const s = set(
      3,
      ['25*', '205'],
      [
        { kind: 'range', from: 200, to: 299 },
        { kind: 'exact', digits: '300' },
      ],
      [],
    );
    expect(text(s.localPatterns())).toEqual(['300', '_2XX']);
  });

  it('refuses a dial prefix that overlaps a range as µURU reads it', () => {
    const s = set(4, [], [{ kind: 'range', from: 200, to: 299 }], []);
    // 200-299 are 0200-0299 in a 4-digit plan.
    expect(s.overlapping('02')?.source).toBe('reserved');
    expect(s.overlapping('029')?.source).toBe('reserved');
    expect(s.overlapping('03')).toBeNull();
    expect(s.overlapping('2')).toBeNull();
    expect(s.blocking('0250')?.source).toBe('reserved');
    expect(s.blocking('250')?.source).toBe('reserved');
  });
});

describe('the phonebook served to partners', () => {
  it('leaves out every number of the same set the dial plan blocks', async () => {
    const unfederated = set4();
    const phonebook = new Phonebook({
      sources: [
        {
          label: 'memory',
          rows: async () =>
            ['1120', '1234', '0250', '0300', '5555', '9000', '1130'].map((extension) => ({
              extension,
              name: 'x',
            })),
        },
      ],
      logger: captureLogger('warn').logger,
      unfederated: async () => unfederated,
    });
    expect((await phonebook.publicEntries()).map((e) => e.extension)).toEqual(['1234', '0300', '1130']);
  });
});

describe('configuration of reserved extensions and emergency numbers', () => {
  const load = (env: Record<string, string>) => loadConfig({ env, configDir: '/nonexistent' });
  const problems = (env: Record<string, string>): string[] => {
    try {
      load(env);
    } catch (e) {
      if (e instanceof ConfigError) return e.problems;
      throw e;
    }
    throw new Error('expected a ConfigError');
  };

  it("takes µURU's JSON list of numbers and [from, to] ranges", () => {
    const c = load({ UURU_RESERVED_EXTENSIONS: '[110, [200, 299], 555]' });
    expect(c.instance.reservedExtensions).toEqual([
      { kind: 'range', from: 110, to: 110 },
      { kind: 'range', from: 200, to: 299 },
      { kind: 'range', from: 555, to: 555 },
    ]);
  });

  it('takes our comma form beside it, and the JSON config file may mix both', () => {
    expect(load({ UURU_RESERVED_EXTENSIONS: '110, 9*' }).instance.reservedExtensions).toEqual([
      { kind: 'exact', digits: '110' },
      { kind: 'stem', stem: '9' },
    ]);
    const c = loadConfig({
      env: {},
      configDir: '/nonexistent',
      overrides: { instance: { reservedExtensions: ['9*', [200, 204], 7] } },
    });
    expect(c.instance.reservedExtensions).toEqual([
      { kind: 'stem', stem: '9' },
      { kind: 'range', from: 200, to: 204 },
      { kind: 'range', from: 7, to: 7 },
    ]);
  });

  it('names what is wrong with a list', () => {
    expect(problems({ UURU_RESERVED_EXTENSIONS: '[110, [200' }).join('\n')).toMatch(
      /UURU_RESERVED_EXTENSIONS: expected a JSON list/,
    );
    const bad = problems({ UURU_RESERVED_EXTENSIONS: '[[300, 200], [1, 2, 3], -4, "12a"]' }).join('\n');
    expect(bad).toMatch(/ends before it starts/);
    expect(bad).toMatch(/expected a range \[from, to\]/);
    expect(bad).toMatch(/whole number from 0/);
    expect(bad).toMatch(/expected digits, optionally followed by \*/);
    expect(problems({ UURU_EMERGENCY_NUMBERS: '112,11x' }).join('\n')).toMatch(/expected digits/);
  });

  it('blocks the usual emergency numbers unless told otherwise', () => {
    expect(load({}).instance.emergencyNumbers).toEqual(['110', '112', '911', '999', '000', '118', '119']);
    expect(load({ UURU_EMERGENCY_NUMBERS: '112, 000' }).instance.emergencyNumbers).toEqual(['112', '000']);
    expect(load({ UURU_EMERGENCY_NUMBERS: '[112, "000"]' }).instance.emergencyNumbers).toEqual([
      '112',
      '000',
    ]);
    expect(load({ UURU_EMERGENCY_NUMBERS: '[]' }).instance.emergencyNumbers).toEqual([]);
  });
});
