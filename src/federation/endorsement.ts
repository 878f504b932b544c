import { sign, verify, type KeyObject } from 'node:crypto';
import { publicKeyFromRaw } from './key-encoding';

/**
 * A rotated signing key is endorsed by the key before it: the older key signs
 * "uuru-fed/2 endorse <kid> <public_key>", so partners that trust the older
 * key can trust the new one without an admin.
 */

export function endorsementMessage(kid: string, publicKey: string): Buffer {
  return Buffer.from(`uuru-fed/2 endorse ${kid} ${publicKey}`, 'utf8');
}

export function endorse(kid: string, publicKey: string, endorserPrivateKey: KeyObject): string {
  return sign(null, endorsementMessage(kid, publicKey), endorserPrivateKey).toString('base64url');
}

/** True when sig is the endorser's valid signature over the new key. */
export function verifyEndorsement(p: {
  kid: string;
  publicKey: string;
  sig: string;
  endorserPublicKey: string;
}): boolean {
  const sig = Buffer.from(p.sig, 'base64url');
  if (sig.length !== 64) return false;
  try {
    return verify(
      null,
      endorsementMessage(p.kid, p.publicKey),
      publicKeyFromRaw('ed25519', p.endorserPublicKey),
      sig,
    );
  } catch {
    return false;
  }
}
