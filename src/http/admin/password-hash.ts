import crypto from 'node:crypto';
import { promisify } from 'node:util';

/**
 * Admin passwords are stored as `scrypt$N$r$p$salt$hash` (salt and hash
 * base64), so the cost can be raised later without breaking stored hashes:
 * each hash carries the parameters it was made with.
 */

const scrypt = promisify(crypto.scrypt) as (
  password: crypto.BinaryLike,
  salt: crypto.BinaryLike,
  keylen: number,
  options: crypto.ScryptOptions,
) => Promise<Buffer>;

const DEFAULT_PARAMS = { N: 16384, r: 8, p: 1 };
const KEY_LENGTH = 64;
const SALT_BYTES = 16;
/** Hashing a fixed dummy for unknown users keeps the response time the same as for a wrong password. */
let dummyHash: string | null = null;

export async function hashPassword(password: string, params = DEFAULT_PARAMS): Promise<string> {
  const salt = crypto.randomBytes(SALT_BYTES);
  const hash = await scrypt(password, salt, KEY_LENGTH, { ...params, maxmem: 256 * params.N * params.r });
  return ['scrypt', params.N, params.r, params.p, salt.toString('base64'), hash.toString('base64')].join('$');
}

/** Constant-time check; a malformed stored hash never matches. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [N, r, p] = parts.slice(1, 4).map(Number);
  if (![N, r, p].every((n) => Number.isInteger(n) && n > 0) || N > 1 << 20 || r > 32 || p > 16) return false;
  const salt = Buffer.from(parts[4], 'base64');
  const expected = Buffer.from(parts[5], 'base64');
  if (salt.length === 0 || expected.length === 0) return false;
  const actual = await scrypt(password, salt, expected.length, { N, r, p, maxmem: 256 * N * r });
  return crypto.timingSafeEqual(actual, expected);
}

/** Spends the same work as a real check, for logins naming an unknown user. */
export async function burnPasswordCheck(password: string): Promise<false> {
  dummyHash ??= await hashPassword('uuru-federation-dummy');
  await verifyPassword(password, dummyHash);
  return false;
}
