import crypto from 'node:crypto';

const V1_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** A µURU-style shared secret: 32 characters of [A-Za-z0-9], uniformly drawn. */
export function randomV1Secret(): string {
  let out = '';
  while (out.length < 32) {
    for (const b of crypto.randomBytes(48)) {
      // 248 = 4 * 62: rejecting larger bytes keeps every character equally likely.
      if (b < 248 && out.length < 32) out += V1_ALPHABET[b % 62];
    }
  }
  return out;
}

/** Constant-time comparison of secrets of possibly different length. */
export function secretsEqual(a: string, b: string): boolean {
  const ha = crypto.createHash('sha256').update(a, 'utf8').digest();
  const hb = crypto.createHash('sha256').update(b, 'utf8').digest();
  return crypto.timingSafeEqual(ha, hb) && a.length === b.length;
}
