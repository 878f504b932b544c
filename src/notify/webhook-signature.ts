import crypto from 'node:crypto';

/**
 * The signature on every notification POST (docs/operations.md, "Verifying a
 * notification"): one header,
 *
 *   Uuru-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>
 *
 * where the HMAC's key is the configured secret (its UTF-8 bytes) and its
 * message the timestamp, a dot and the raw body bytes: `<t>.<body>`. The
 * timestamp is signed with the body, so a captured post cannot be replayed
 * later with a fresh time; a receiver refuses a `t` too far from its clock.
 */
export const SIGNATURE_HEADER = 'Uuru-Signature';
/** How far a receiver following docs/operations.md lets `t` be from its own clock. */
export const SIGNATURE_TOLERANCE_SECONDS = 300;

export function webhookSignature(secret: string, timestampSeconds: number, body: string): string {
  const mac = crypto.createHmac('sha256', secret).update(`${timestampSeconds}.${body}`, 'utf8').digest('hex');
  return `t=${timestampSeconds},v1=${mac}`;
}

export type SignatureCheck = 'ok' | 'malformed' | 'stale' | 'mismatch';

/**
 * What a receiver does (our tests use it as their receiver does, and the
 * docs describe the same steps): parse the header, refuse a stale time,
 * recompute and compare in constant time. Any `v1` entry may match (a
 * receiver can accept several during a secret change).
 */
export function verifyWebhookSignature(
  secret: string,
  header: string | undefined,
  body: string,
  nowSeconds: number,
  toleranceSeconds = SIGNATURE_TOLERANCE_SECONDS,
): SignatureCheck {
  if (!header) return 'malformed';
  let t: number | null = null;
  const macs: string[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) return 'malformed';
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 't' && /^\d{1,12}$/.test(value)) t = Number(value);
    else if (key === 'v1' && /^[0-9a-f]{64}$/.test(value)) macs.push(value);
  }
  if (t === null || macs.length === 0) return 'malformed';
  if (Math.abs(nowSeconds - t) > toleranceSeconds) return 'stale';
  const expected = Buffer.from(webhookSignature(secret, t, body).split(',v1=')[1], 'hex');
  return macs.some((m) => crypto.timingSafeEqual(Buffer.from(m, 'hex'), expected)) ? 'ok' : 'mismatch';
}
