import { createHash, timingSafeEqual } from 'node:crypto';
import { type Dictionary, parseDictionary } from 'structured-headers';

/**
 * RFC 9530 Content-Digest. We send sha-256; we accept sha-256 and sha-512.
 * Unknown algorithms in a received header are ignored, but at least one
 * algorithm we know must be present and every known one must match, so a
 * sender cannot pair a correct sha-256 with a wrong sha-512 (or the reverse).
 */

const ALGORITHMS: Record<string, string> = { 'sha-256': 'sha256', 'sha-512': 'sha512' };

export function contentDigest(body: Buffer | string): string {
  const digest = createHash('sha256').update(body).digest('base64');
  return `sha-256=:${digest}:`;
}

export function verifyContentDigest(header: string | undefined, body: Buffer): boolean {
  if (header === undefined || header.trim() === '') return false;
  let dict: Dictionary;
  try {
    dict = parseDictionary(header);
  } catch {
    // A header the parser cannot read matches no body.
    return false;
  }
  let checked = 0;
  for (const [alg, member] of dict) {
    const nodeAlg = ALGORITHMS[alg];
    if (nodeAlg === undefined) continue;
    // An item's value is a byte sequence only as an ArrayBuffer (an inner list's is an array).
    const value = member[0];
    if (!(value instanceof ArrayBuffer)) return false;
    const expected = createHash(nodeAlg).update(body).digest();
    const given = Buffer.from(value);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return false;
    checked++;
  }
  return checked > 0;
}
