import { createHash, createPublicKey, type KeyObject } from 'node:crypto';

/**
 * Raw 32-byte Ed25519 / X25519 public keys travel as unpadded base64url (the
 * JWK "x" member); node:crypto works with KeyObjects. These convert between
 * the two and refuse anything that is not exactly 32 bytes.
 */

export type KeyAlg = 'ed25519' | 'x25519';

const CURVE: Record<KeyAlg, 'Ed25519' | 'X25519'> = { ed25519: 'Ed25519', x25519: 'X25519' };
const B64URL_32 = /^[A-Za-z0-9_-]{43}$/;

export class KeyEncodingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeyEncodingError';
  }
}

export function isRawPublicKey(b64url: string): boolean {
  return B64URL_32.test(b64url) && Buffer.from(b64url, 'base64url').length === 32;
}

export function publicKeyFromRaw(alg: KeyAlg, b64url: string): KeyObject {
  if (!isRawPublicKey(b64url))
    throw new KeyEncodingError(`an ${alg} public key is 32 bytes in unpadded base64url`);
  try {
    return createPublicKey({ key: { kty: 'OKP', crv: CURVE[alg], x: b64url }, format: 'jwk' });
  } catch {
    throw new KeyEncodingError(`not a valid ${alg} public key`);
  }
}

/** Raw public key (b64url) of a public or private Ed25519/X25519 KeyObject. */
export function rawPublicKey(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  const jwk = pub.export({ format: 'jwk' });
  if (typeof jwk.x !== 'string') throw new KeyEncodingError('not an OKP key');
  return jwk.x;
}

/** SSH-style fingerprint of a raw public key: SHA256:<unpadded base64 of sha256(raw 32 bytes)>. */
export function fingerprint(publicKeyB64url: string): string {
  const raw = Buffer.from(publicKeyB64url, 'base64url');
  return `SHA256:${createHash('sha256').update(raw).digest('base64').replace(/=+$/, '')}`;
}
