import { createHash, timingSafeEqual } from 'node:crypto';
import { parseDictionary, StructuredFieldError } from './structured-fields';

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
  let dict;
  try {
    dict = parseDictionary(header);
  } catch (e) {
    if (e instanceof StructuredFieldError) return false;
    throw e;
  }
  let checked = 0;
  for (const [alg, member] of dict) {
    const nodeAlg = ALGORITHMS[alg];
    if (nodeAlg === undefined) continue;
    if (member.kind !== 'item' || member.value.type !== 'bytes') return false;
    const expected = createHash(nodeAlg).update(body).digest();
    const given = member.value.value;
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return false;
    checked++;
  }
  return checked > 0;
}
