import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from 'node:crypto';

/**
 * Encryption at rest of our private keys: AES-256-GCM under a key derived
 * from the configured key-encryption secret with scrypt (random salt per
 * stored key). The key id and algorithm are bound as associated data, so a
 * ciphertext copied onto another row does not decrypt.
 *
 * Stored form: enc1$<log2 N>$<r>$<p>$<salt>$<iv>$<tag>$<ciphertext> (base64).
 * Rows written by versions that stored keys without a secret hold the plain
 * PKCS#8 DER in base64; opening the store encrypts them (src/store/secrets-at-rest.ts).
 */

const PREFIX = 'enc1';
const LOG2_N = 15;
const R = 8;
const P = 1;
const MAXMEM = 64 * 1024 * 1024;

export class KeyDecryptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeyDecryptionError';
  }
}

export function isEncrypted(stored: string): boolean {
  return stored.startsWith(`${PREFIX}$`);
}

/** Derived keys cached per (secret, salt, params): scrypt is deliberately slow. */
const derivedCache = new Map<string, Buffer>();

function deriveKey(secret: string, salt: Buffer, log2n: number, r: number, p: number): Buffer {
  const cacheKey = `${log2n}:${r}:${p}:${salt.toString('base64')}:${secret}`;
  let key = derivedCache.get(cacheKey);
  if (!key) {
    key = scryptSync(secret, salt, 32, { N: 2 ** log2n, r, p, maxmem: MAXMEM });
    derivedCache.set(cacheKey, key);
  }
  return key;
}

function aad(kid: string, alg: string): Buffer {
  return Buffer.from(`uuru-federation local-key ${kid} ${alg}`, 'utf8');
}

export function encryptPrivateKey(der: Buffer, secret: string, kid: string, alg: string): string {
  const salt = randomBytes(16);
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', deriveKey(secret, salt, LOG2_N, R, P), iv);
  cipher.setAAD(aad(kid, alg));
  const ct = Buffer.concat([cipher.update(der), cipher.final()]);
  return [PREFIX, LOG2_N, R, P, salt, iv, cipher.getAuthTag(), ct]
    .map((v) => (Buffer.isBuffer(v) ? v.toString('base64') : String(v)))
    .join('$');
}

export function decryptPrivateKey(stored: string, secret: string, kid: string, alg: string): Buffer {
  const parts = stored.split('$');
  if (parts.length !== 8 || parts[0] !== PREFIX)
    throw new KeyDecryptionError(`stored private key ${kid} is damaged`);
  const [log2n, r, p] = parts.slice(1, 4).map(Number);
  const [salt, iv, tag, ct] = parts.slice(4).map((s) => Buffer.from(s, 'base64'));
  if (
    ![log2n, r, p].every((n) => Number.isInteger(n) && n > 0) ||
    log2n > 20 ||
    iv.length !== 12 ||
    tag.length !== 16
  ) {
    throw new KeyDecryptionError(`stored private key ${kid} is damaged`);
  }
  try {
    const decipher = createDecipheriv('aes-256-gcm', deriveKey(secret, salt, log2n, r, p), iv);
    decipher.setAAD(aad(kid, alg));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(ct), decipher.final()]);
  } catch {
    throw new KeyDecryptionError(
      `cannot decrypt private key ${kid}: the key-encryption secret (UURU_KEY_ENCRYPTION_SECRET, or the key file in the data folder) is wrong or the stored key is damaged`,
    );
  }
}

/**
 * Sealed values: the IAX2 secrets and the v1 notification bodies stored
 * beside the peers. One AES-256-GCM key per key-encryption secret, derived
 * once with scrypt under a fixed, purpose-bound salt: a reconcile reads every
 * peer's secret, and a per-value scrypt would cost tens of milliseconds each.
 * (The fixed salt only lets an attacker share guessing work between
 * installations that chose the same passphrase; the generated key file holds
 * 256 random bits.) The column name is bound as associated data, so a value
 * copied into another column does not open.
 *
 * Stored form: enc:v1:<base64url(iv | tag | ciphertext)>.
 */
const SEALED_PREFIX = 'enc:v1:';
const SEALED_SALT = Buffer.from('uuru-federation sealed values v1', 'utf8');

export function isSealed(stored: string): boolean {
  return stored.startsWith(SEALED_PREFIX);
}

export function sealingKey(secret: string): Buffer {
  return deriveKey(secret, SEALED_SALT, LOG2_N, R, P);
}

export function seal(plain: string, key: Buffer, context: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(`uuru-federation sealed ${context}`, 'utf8'));
  const ct = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  return `${SEALED_PREFIX}${Buffer.concat([iv, cipher.getAuthTag(), ct]).toString('base64url')}`;
}

export function unseal(stored: string, key: Buffer, context: string): string {
  if (!isSealed(stored)) throw new KeyDecryptionError(`stored ${context} is not sealed`);
  const raw = Buffer.from(stored.slice(SEALED_PREFIX.length), 'base64url');
  if (raw.length < 28) throw new KeyDecryptionError(`stored ${context} is damaged`);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
    decipher.setAAD(Buffer.from(`uuru-federation sealed ${context}`, 'utf8'));
    decipher.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
  } catch {
    throw new KeyDecryptionError(
      `cannot decrypt the stored ${context}: the key-encryption secret is not the one it was stored with, or the value is damaged`,
    );
  }
}
