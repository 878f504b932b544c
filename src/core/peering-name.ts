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
