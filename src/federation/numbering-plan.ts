import { AppError } from '../core/errors';

/**
 * Dial prefix rules. A peer with prefix P and partner extension length L is
 * reached by dialing P followed by L digits, so a prefix must not be a prefix
 * of (or have as prefix) another peer's prefix, a prefix already promised in a
 * pending outgoing request, an emergency number or a reserved/unfederated
 * number or range; and P + L digits must not have the length of a local
 * extension, or local numbers and peer numbers would be indistinguishable.
 */

export const EMERGENCY_NUMBERS = ['110', '112', '911'] as const;
export const PREFIX_PATTERN = /^[0-9]{1,8}$/;

export interface PrefixHolder {
  /** "peer 'berlin'" or "pending request 'berlin'" */
  label: string;
  prefix: string;
}

export interface LocalNumberingPlan {
  extensionDigits: number;
  /** config reserved extensions and policy unfederated numbers; a trailing * marks a range */
  reserved: string[];
}

const related = (a: string, b: string): boolean => a.startsWith(b) || b.startsWith(a);

export function checkPrefix(
  prefix: string,
  ctx: { holders: PrefixHolder[]; plan: LocalNumberingPlan; partnerExtensionLength: number | null },
): void {
  if (!PREFIX_PATTERN.test(prefix)) {
    throw new AppError(
      'FED_PREFIX_INVALID',
      400,
      `prefix ${JSON.stringify(prefix)} is invalid: it must be 1-8 digits`,
    );
  }
  for (const h of ctx.holders) {
    if (related(prefix, h.prefix)) {
      throw new AppError(
        'PREFIX_CONFLICT',
        409,
        `prefix ${prefix} overlaps ${h.label} (prefix ${h.prefix})`,
        {
          details: { conflicts_with: h.label },
        },
      );
    }
  }
  for (const n of EMERGENCY_NUMBERS) {
    if (related(prefix, n)) {
      throw new AppError('PREFIX_CONFLICT', 409, `prefix ${prefix} overlaps the emergency number ${n}`);
    }
  }
  for (const entry of ctx.plan.reserved) {
    const range = entry.endsWith('*');
    const digits = range ? entry.slice(0, -1) : entry;
    if (digits.length > 0 && related(prefix, digits)) {
      const what = range ? `the reserved range ${entry}` : `the reserved number ${entry}`;
      throw new AppError('PREFIX_CONFLICT', 409, `prefix ${prefix} overlaps ${what}`);
    }
  }
  const l = ctx.partnerExtensionLength;
  if (l !== null && prefix.length + l === ctx.plan.extensionDigits) {
    throw new AppError(
      'PREFIX_CONFLICT',
      409,
      `prefix ${prefix} followed by the partner's ${l}-digit extensions makes ${ctx.plan.extensionDigits}-digit numbers, ` +
        `the length of local extensions; choose a longer or shorter prefix`,
    );
  }
}

/** True when a local number may not be reached from peers or listed in the phonebook. */
export function isUnfederated(number: string, reserved: string[]): boolean {
  if ((EMERGENCY_NUMBERS as readonly string[]).includes(number)) return true;
  return reserved.some((e) => (e.endsWith('*') ? number.startsWith(e.slice(0, -1)) : number === e));
}
