import { z } from 'zod';

/**
 * The grammar of the lists of local numbers (reserved extensions, emergency
 * numbers, the policy's unfederated numbers): how each entry is written and
 * read. The union of those lists, and what it means for the dial plan, is
 * src/core/unfederated-numbers.ts.
 */

/**
 * One entry of a list of local numbers.
 * - exact: one number, as digits ("555");
 * - stem: every number that starts with the digits ("9*" in the comma form);
 * - range: µURU's `[from, to]` (and its plain numbers, from = to): compared as
 *   numbers, as µURU does (`int(extension)`), so in a 4-digit plan 110 is 0110.
 */
export type NumberRule =
  | { kind: 'exact'; digits: string }
  | { kind: 'stem'; stem: string }
  | { kind: 'range'; from: number; to: number };

/** Emergency numbers blocked unless configured otherwise (UURU_EMERGENCY_NUMBERS). */
export const DEFAULT_EMERGENCY_NUMBERS: readonly string[] = ['110', '112', '911', '999', '000', '118', '119'];

/** Largest range bound accepted: extensions have at most 12 digits. */
export const MAX_RANGE_BOUND = 999_999_999_999;

const TEXT_RULE = /^([0-9]{1,16})(\*?)$/;

/** "555" or "9*" (the comma form and the policy's form); null when it is neither. */
export function ruleFromText(text: string): NumberRule | null {
  const m = TEXT_RULE.exec(text);
  if (!m) return null;
  return m[2] ? { kind: 'stem', stem: m[1] } : { kind: 'exact', digits: m[1] };
}

/**
 * One entry of a configured list, in any of the forms it may be written in:
 * "555" and "9*" (our comma form), a number and a `[from, to]` pair
 * (µURU's JSON form). Returns the rule, or what is wrong with the entry.
 */
export function parseNumberRule(v: unknown): NumberRule | string {
  if (typeof v === 'string') {
    return (
      ruleFromText(v.trim()) ??
      `expected digits, optionally followed by * (e.g. 555 or 9*), got ${JSON.stringify(v)}`
    );
  }
  const bound = (n: unknown): n is number =>
    typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= MAX_RANGE_BOUND;
  if (typeof v === 'number') {
    return bound(v)
      ? { kind: 'range', from: v, to: v }
      : `expected a whole number from 0 to ${MAX_RANGE_BOUND}, got ${v}`;
  }
  if (Array.isArray(v)) {
    if (v.length !== 2 || !bound(v[0]) || !bound(v[1]))
      return `expected a range [from, to] of two whole numbers from 0 to ${MAX_RANGE_BOUND}`;
    if (v[0] > v[1]) return `the range [${v[0]}, ${v[1]}] ends before it starts`;
    return { kind: 'range', from: v[0], to: v[1] };
  }
  return 'expected a number, a [from, to] range or a string such as 555 or 9*';
}

/** Config entry of a reserved-extensions list (any form parseNumberRule reads), as a NumberRule. */
export const numberRuleSchema = z.unknown().transform((v, ctx): NumberRule => {
  const r = parseNumberRule(v);
  if (typeof r === 'string') {
    ctx.addIssue({ code: 'custom', message: r });
    return z.NEVER;
  }
  return r;
});

/** Config entry of the emergency numbers: digits, leading zeros kept (000). */
export const emergencyNumberSchema = z.preprocess(
  // µURU-style JSON lists hold numbers; 000 has to be written as a string there ("000").
  (v) => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? String(v) : v),
  z.string().regex(/^[0-9]{1,16}$/, 'expected digits (e.g. 112)'),
);

/** How a rule is written back to an admin: "555", "9*", "200-299". */
export function describeRule(r: NumberRule): string {
  switch (r.kind) {
    case 'exact':
      return r.digits;
    case 'stem':
      return `${r.stem}*`;
    case 'range':
      return r.from === r.to ? String(r.from) : `${r.from}-${r.to}`;
  }
}
