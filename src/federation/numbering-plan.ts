import { AppError } from '../core/errors';
import { describeRule, type UnfederatedSet } from '../core/unfederated-numbers';

/**
 * Dial prefix rules. A peer with prefix P and partner extension length L is
 * reached by dialing P followed by L digits, so a prefix must not be a prefix
 * of (or have as prefix) another peer's prefix, a prefix already promised in a
 * pending outgoing request, an emergency number or a reserved/unfederated
 * number or range; and P + L digits must not have the length of a local
 * extension, or local numbers and peer numbers would be indistinguishable.
 */

export const PREFIX_PATTERN = /^[0-9]{1,8}$/;

export interface PrefixHolder {
  /** "peer 'berlin'" or "pending request 'berlin'" */
  label: string;
  prefix: string;
}

export interface LocalNumberingPlan {
  extensionDigits: number;
  /** Policy list ∪ reserved extensions ∪ emergency numbers (PolicyStore.unfederatedSet). */
  unfederated: UnfederatedSet;
}

const related = (a: string, b: string): boolean => a.startsWith(b) || b.startsWith(a);

export function checkPrefix(
  prefix: string,
  ctx: { holders: PrefixHolder[]; plan: LocalNumberingPlan; partnerExtensionLength: number | null },
): void {
  if (!PREFIX_PATTERN.test(prefix)) {
    throw new AppError(
      'FED_PREFIX_INVALID',
      `prefix ${JSON.stringify(prefix)} is invalid: it must be 1-8 digits`,
    );
  }
  for (const h of ctx.holders) {
    if (related(prefix, h.prefix)) {
      throw new AppError('PREFIX_CONFLICT', `prefix ${prefix} overlaps ${h.label} (prefix ${h.prefix})`, {
        details: { conflicts_with: h.label },
      });
    }
  }
  const hit = ctx.plan.unfederated.overlapping(prefix);
  if (hit) {
    const r = hit.rule;
    const single = r.kind === 'exact' || (r.kind === 'range' && r.from === r.to);
    const what =
      hit.source === 'emergency'
        ? `the emergency number ${r.kind === 'stem' ? r.stem : describeRule(r)}`
        : `the ${hit.source === 'policy' ? 'unfederated' : 'reserved'} ${single ? 'number' : 'range'} ${describeRule(r)}`;
    throw new AppError('PREFIX_CONFLICT', `prefix ${prefix} overlaps ${what}`);
  }
  const l = ctx.partnerExtensionLength;
  if (l !== null && prefix.length + l === ctx.plan.extensionDigits) {
    throw new AppError(
      'PREFIX_CONFLICT',
      `prefix ${prefix} followed by the partner's ${l}-digit extensions makes ${ctx.plan.extensionDigits}-digit numbers, ` +
        `the length of local extensions; choose a longer or shorter prefix`,
    );
  }
}
