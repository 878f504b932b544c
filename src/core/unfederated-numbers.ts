/**
 * The local numbers no partner may reach, computed in one place for every
 * layer that needs them: the dial plan (hang-up patterns of the inbound
 * context), the prefix checks and the phonebook. The set is the union of
 * the policy's `unfederated_numbers`, the configured reserved extensions
 * (`UURU_RESERVED_EXTENSIONS`) and the emergency numbers
 * (`UURU_EMERGENCY_NUMBERS`). The federation policy owns the data and builds
 * the set; the Asterisk layer gets it through UnfederatedNumbersSource.
 */

// The grammar of a number rule is the config's (src/config/number-rules.ts: config is a
// leaf and validates its lists with it); the union below is built here. Re-exported so
// the layers keep one import for everything about unfederated numbers.
import { type NumberRule, ruleFromText } from '../config/number-rules';

export {
  DEFAULT_EMERGENCY_NUMBERS,
  describeRule,
  emergencyNumberSchema,
  MAX_RANGE_BOUND,
  type NumberRule,
  numberRuleSchema,
  parseNumberRule,
  ruleFromText,
} from '../config/number-rules';

/** Inclusive digit range of one position of a pattern. */
export type DigitClass = readonly [lo: number, hi: number];
/** A set of numbers of one length: one digit class per position. */
export type DigitPattern = readonly DigitClass[];

export type UnfederatedSource = 'policy' | 'reserved' | 'emergency';

export interface UnfederatedEntry {
  rule: NumberRule;
  source: UnfederatedSource;
}

const related = (a: string, b: string): boolean => a.startsWith(b) || b.startsWith(a);
const FULL: DigitClass = [0, 9];
const digitsPattern = (s: string): DigitClass[] => [...s].map((c) => [Number(c), Number(c)] as const);

/**
 * The fewest patterns of the form `<digits><class><X…>` (the form an admin
 * writes) whose union is exactly the numbers from lo to hi (strings of one
 * length, lo ≤ hi): from lo up to the next round number, the round blocks in
 * between as one class, and the tail up to hi, recursively. [0200, 0299] is
 * one pattern (02XX); [200, 214] is 20X and 21[0-4]; never more than
 * 2 × length − 1 patterns. Patterns with a class in several positions could
 * now and then save one by overlapping, at the price of a dial plan an admin
 * cannot check at a glance.
 */
export function coverRange(lo: string, hi: string): DigitPattern[] {
  if (lo.length !== hi.length || lo > hi) throw new Error(`coverRange: bad bounds ${lo}..${hi}`);
  let i = 0;
  while (i < lo.length && lo[i] === hi[i]) i++;
  if (i === lo.length) return [digitsPattern(lo)];
  const head = digitsPattern(lo.slice(0, i));
  const rest = lo.length - i - 1;
  const loTail = lo.slice(i + 1);
  const hiTail = hi.slice(i + 1);
  let a = Number(lo[i]);
  let b = Number(hi[i]);
  const out: DigitPattern[] = [];
  if (!/^0*$/.test(loTail)) {
    out.push(...coverRange(lo, `${lo.slice(0, i + 1)}${'9'.repeat(rest)}`));
    a++;
  }
  const upper: DigitPattern[] = [];
  if (!/^9*$/.test(hiTail)) {
    upper.push(...coverRange(`${hi.slice(0, i + 1)}${'0'.repeat(rest)}`, hi));
    b--;
  }
  if (a <= b) out.push([...head, [a, b], ...Array<DigitClass>(rest).fill(FULL)]);
  return [...out, ...upper];
}

/** The patterns of local numbers (of `digits` digits) a rule covers; empty when it covers none. */
export function localPatterns(rule: NumberRule, digits: number): DigitPattern[] {
  switch (rule.kind) {
    case 'exact':
      return rule.digits.length === digits ? [digitsPattern(rule.digits)] : [];
    case 'stem':
      return rule.stem.length <= digits
        ? [[...digitsPattern(rule.stem), ...Array<DigitClass>(digits - rule.stem.length).fill(FULL)]]
        : [];
    case 'range': {
      const max = 10 ** digits - 1;
      if (rule.from > max || rule.from > rule.to) return [];
      const pad = (n: number) => String(n).padStart(digits, '0');
      return coverRange(pad(rule.from), pad(Math.min(rule.to, max)));
    }
  }
}

/** Whether one of a pattern's numbers starts with the prefix, or the prefix starts with one of them. */
function patternRelated(p: DigitPattern, prefix: string): boolean {
  const n = Math.min(p.length, prefix.length);
  for (let i = 0; i < n; i++) {
    const d = Number(prefix[i]);
    if (d < p[i][0] || d > p[i][1]) return false;
  }
  return true;
}

const contains = (outer: DigitPattern, inner: DigitPattern): boolean =>
  outer.length === inner.length && outer.every(([lo, hi], i) => lo <= inner[i][0] && inner[i][1] <= hi);

/**
 * The unfederated set of one instance. Emergency numbers shorter than the
 * local extensions block every local number that starts with them (in a
 * 4-digit plan 112 blocks 1120-1129): a partner's call arrives as a local
 * number, and a target context or gateway that routes `_112.` or takes
 * over-dialled digits would put it through to emergency services, which
 * cannot locate a caller from another PBX. Longer ones are kept for the
 * prefix checks (a prefix must not swallow a number the phones dial).
 */
export class UnfederatedSet {
  readonly entries: readonly UnfederatedEntry[];

  constructor(
    readonly extensionDigits: number,
    entries: UnfederatedEntry[],
  ) {
    this.entries = entries;
  }

  /** The entry that keeps a number (a local extension, e.g. from the phonebook) from partners, or null. */
  blocking(number: string): UnfederatedEntry | null {
    if (!/^[0-9]{1,16}$/.test(number)) return null;
    return (
      this.entries.find(({ rule }) => {
        switch (rule.kind) {
          case 'exact':
            return number === rule.digits;
          case 'stem':
            return number.startsWith(rule.stem);
          case 'range': {
            // µURU compares int(extension); numbers beyond 15 digits are no extensions (and lose precision).
            if (number.length > 15) return false;
            const n = Number(number);
            return n >= rule.from && n <= rule.to;
          }
        }
      }) ?? null
    );
  }

  /** The entry a dial prefix overlaps (one is a prefix of the other), or null. */
  overlapping(prefix: string): UnfederatedEntry | null {
    return (
      this.entries.find(({ rule }) => {
        switch (rule.kind) {
          case 'exact':
            return related(prefix, rule.digits);
          case 'stem':
            return related(prefix, rule.stem);
          case 'range':
            return localPatterns(rule, this.extensionDigits).some((p) => patternRelated(p, prefix));
        }
      }) ?? null
    );
  }

  /**
   * Patterns covering every blocked number of the local length, each
   * entry's minimal cover, without duplicates or patterns inside another
   * one; sorted so the output is stable.
   */
  localPatterns(): DigitPattern[] {
    const all: DigitPattern[] = [];
    for (const { rule } of this.entries) all.push(...localPatterns(rule, this.extensionDigits));
    const key = (p: DigitPattern) => p.map(([lo, hi]) => `${lo}${hi}`).join('');
    const unique = [...new Map(all.map((p) => [key(p), p])).values()];
    const kept = unique.filter((p) => !unique.some((q) => q !== p && contains(q, p)));
    return kept.sort((x, y) => (key(x) < key(y) ? -1 : key(x) > key(y) ? 1 : 0));
  }
}

export interface UnfederatedInput {
  extensionDigits: number;
  /** The policy's unfederated_numbers ("555", "9*"); invalid entries are skipped. */
  policy: readonly string[];
  /** Configured reserved extensions. */
  reserved: readonly NumberRule[];
  /** Configured emergency numbers (digits). */
  emergency: readonly string[];
}

/** The one function that computes the unfederated set: policy list ∪ reserved extensions ∪ emergency numbers. */
export function unfederatedSet(input: UnfederatedInput): UnfederatedSet {
  // Emergency numbers first: a prefix refused for one is named by it.
  const entries: UnfederatedEntry[] = [];
  for (const e of input.emergency) {
    if (!/^[0-9]{1,16}$/.test(e)) continue;
    const rule: NumberRule =
      e.length < input.extensionDigits ? { kind: 'stem', stem: e } : { kind: 'exact', digits: e };
    entries.push({ rule, source: 'emergency' });
  }
  for (const rule of input.reserved) entries.push({ rule, source: 'reserved' });
  for (const text of input.policy) {
    const rule = ruleFromText(text);
    if (rule) entries.push({ rule, source: 'policy' });
  }
  return new UnfederatedSet(input.extensionDigits, entries);
}

/**
 * How the Asterisk layer gets the set: handed to it at composition by the
 * owner of the policy, so it never reads the federation's tables itself.
 */
export interface UnfederatedNumbersSource {
  unfederatedSet(): Promise<UnfederatedSet>;
}
