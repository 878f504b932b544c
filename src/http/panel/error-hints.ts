import { AppError, errorMessage, isAppError } from '../../core/errors';

/**
 * Turns an error code into a sentence that tells the admin what to do next.
 * The error's own message says what happened (it often names the clashing
 * peer or field); the hint adds the way out.
 */
const HINTS: [RegExp, string][] = [
  [/^VALIDATION_FAILED$/, 'Correct the field and submit again.'],
  [/^CSRF_INVALID$/, 'Reload the page and repeat the action.'],
  [
    /^VALKEY_UNAVAILABLE$/,
    'The Valkey/Redis server that keeps the sessions does not answer: start it or correct UURU_HA_VALKEY_URL; signing in works again once it answers.',
  ],
  [
    /PREFIX/,
    "Pick a prefix that neither starts another peer's prefix nor starts with one, and that does not clash with local extensions.",
  ],
  [
    /NAME_CONFLICT|NAME_TAKEN|NAME_IN_USE/,
    'Choose another peering name; this one is in use on one of the two sides.',
  ],
  [
    /ALREADY_PEERED/,
    'You already peer with this instance; tear the old peer down first if you want a new one.',
  ],
  [
    /POLICY_DENIED/,
    "The partner's policy does not admit us: ask its admin to allow this instance or to open the policy.",
  ],
  [
    /LEGACY/,
    'Legacy (v1) peering is switched off in the policy; enable it on the Policy page or use a v2 partner.',
  ],
  [
    /KEY_FETCH|UNAVAILABLE|UNREACHABLE|TIMEOUT|NETWORK/,
    'The partner could not be reached: check its web address and that it is online, then try again.',
  ],
  [
    /UNKNOWN_KEY|AGREEMENT_KEY_UNKNOWN|SIGNATURE|HELD_KEY|KEY_CHANGED/,
    "The partner's key changed: compare its fingerprint with its admin, then confirm it on the Keys page.",
  ],
  [
    /NOT_FOUND|UNKNOWN_(PEER|REQUEST)/,
    'It may have been removed meanwhile; the page shows the current state.',
  ],
  [/STATE_CONFLICT/, 'The request changed state meanwhile; the page shows the current state.'],
  [/RATE_LIMITED/, 'Wait a little and try again.'],
  [/CODEC/, 'Pick a codec both instances offer.'],
];

export function hintFor(code: string): string | null {
  for (const [pattern, hint] of HINTS) if (pattern.test(code)) return hint;
  return null;
}

/** The admin-facing sentence for an error: what happened, then what to do. */
export function adminMessage(e: unknown): { code: string; text: string } {
  if (!isAppError(e))
    return {
      code: 'INTERNAL',
      text: `Something went wrong on our side (${errorMessage(e)}); see the sidecar log.`,
    };
  const what = messageOf(e);
  const hint = hintFor(e.code);
  return { code: e.code, text: hint ? `${what}. ${hint}` : what };
}

function messageOf(e: AppError): string {
  const issues = e.details?.issues;
  if (e.code === 'VALIDATION_FAILED' && Array.isArray(issues)) {
    return issues
      .map(
        (i: { field?: string; message?: string }) =>
          `${String(i.field ?? '').replace(/^body\./, '')}: ${i.message ?? ''}`,
      )
      .join('; ');
  }
  const m = e.message.trim();
  return m.charAt(0).toUpperCase() + m.slice(1).replace(/\.$/, '');
}
