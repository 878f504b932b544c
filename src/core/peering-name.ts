import { createHash } from 'node:crypto';

/**
 * The one shared peering name: the IAX2 friend name and username on both
 * sides (protocol: `^[A-Za-z0-9_]{1,32}$`). chan_iax2's reload reads the
 * iax.conf sections `[general]` and `[callnumberlimits]` as settings, never as
 * peers (section names compared case-insensitively), so a peering with either
 * name could never load: it is refused wherever a name comes in, with this
 * one rule.
 */
export const PEERING_NAME_PATTERN = /^[A-Za-z0-9_]{1,32}$/;
const RESERVED = new Set(['general', 'callnumberlimits']);

export const PEERING_NAME_RULE = '1 to 32 letters, digits or _, and not general or callnumberlimits';

export function isPeeringName(value: unknown): value is string {
  return typeof value === 'string' && PEERING_NAME_PATTERN.test(value) && !RESERVED.has(value.toLowerCase());
}

/**
 * The names stock µURU accepts: its pydantic pattern `^\w+$` runs on
 * pydantic-core's Rust regex engine, where `\w` is Unicode's word class
 * (Alphabetic, marks, decimal digits, connector punctuation, ZWJ/ZWNJ) and `$`
 * is the end of the text; Asterisk's iaxfriends.name (varchar(40)) bounds it
 * to 40 characters. Its ASCII part is exactly [A-Za-z0-9_], so no character
 * of such a name means anything to Asterisk's config or dial plan syntax.
 */
const V1_NAME_CHARS = /^[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]{1,40}$/u;
/**
 * Asterisk keeps a config section name in 80 bytes (79 and the NUL): a longer
 * UTF-8 name is cut, and chan_iax2 then never finds the peer (measured on
 * Asterisk 22: a 120-byte name is "not found", a 79-byte one loads and
 * authenticates).
 */
export const MAX_NAME_BYTES = 79;

export const V1_PEERING_NAME_RULE =
  `1 to 40 Unicode word characters (letters, marks, digits, _), at most ${MAX_NAME_BYTES} bytes in UTF-8, ` +
  'and not general or callnumberlimits';

/**
 * A name a v1 (stock µURU) partner may give a peering. It must reach Asterisk
 * as it is: IAX2 authenticates a call by the user name the caller sends, and
 * chan_iax2 matches it only against the exact name of a section (measured:
 * with a section named otherwise and `username=<the name>`, calls out work
 * and calls in fail "failed to authenticate"), and µURU sends the peering name.
 */
export function isV1PeeringName(value: unknown): value is string {
  return (
    typeof value === 'string' &&
    V1_NAME_CHARS.test(value) &&
    Buffer.byteLength(value, 'utf8') <= MAX_NAME_BYTES &&
    !RESERVED.has(value.toLowerCase())
  );
}

/** Any name the Asterisk layer may write as an IAX2 friend: the strict rule, or the v1 one. */
export function isAsteriskPeerName(value: unknown): value is string {
  return isPeeringName(value) || isV1PeeringName(value);
}

/**
 * The ASCII-safe name of a peering in Asterisk's dial plan (its inbound
 * context, its call-limit group, the name in reports): the peering name
 * itself when it follows the strict rule; otherwise an ASCII slug of it, a
 * dash and 10 hex digits of the SHA-256 of its UTF-8 bytes. Deterministic
 * (a pure function of the name, nothing stored) and unique: a strict name
 * never holds a dash, a derived one always does, and two derived names differ
 * in their digest (two peering names equal but for case are refused anyway).
 * At most 31 characters, so `uuru-fed-in-<name>` stays far from Asterisk's
 * 80-byte context names.
 */
export function asteriskName(name: string): string {
  const plain: boolean = isPeeringName(name);
  if (plain) return name;
  const slug = name
    .normalize('NFKD')
    .replace(/[^A-Za-z0-9_]/g, '')
    .slice(0, 20);
  const digest = createHash('sha256').update(name, 'utf8').digest('hex').slice(0, 10);
  return `${slug || 'peer'}-${digest}`;
}
