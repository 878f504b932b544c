import { diffieHellman, hkdfSync, type KeyObject } from 'node:crypto';
import { AppError } from '../core/errors';
import { KeyEncodingError, publicKeyFromRaw } from './key-encoding';

/** 30 bytes give exactly 40 base64url characters: Asterisk's iaxfriends.secret is varchar(40). */
const SECRET_BYTES = 30;

/**
 * The IAX2 secret both sides compute and never send (protocol.md, "The IAX2
 * secret never crosses the wire"): HKDF-SHA256 over the X25519 shared secret,
 * salted with the request_id and bound to the peering name.
 */
export function deriveIax2Secret(p: {
  ownAgreementPrivateKey: KeyObject;
  partnerAgreementPublicKey: string;
  requestId: string;
  name: string;
}): string {
  if (
    p.ownAgreementPrivateKey.asymmetricKeyType !== 'x25519' ||
    p.ownAgreementPrivateKey.type !== 'private'
  ) {
    throw new AppError('INTERNAL', 'deriveIax2Secret needs our X25519 private key');
  }
  let partnerKey: KeyObject;
  try {
    partnerKey = publicKeyFromRaw('x25519', p.partnerAgreementPublicKey);
  } catch (e) {
    if (e instanceof KeyEncodingError)
      throw new AppError('FED_MALFORMED', `partner agreement key: ${e.message}`);
    throw e;
  }
  if (p.requestId.length === 0) throw new AppError('FED_MALFORMED', 'request_id must not be empty');
  // A low-order partner point yields an all-zero shared secret anyone could compute (RFC 7748 §6.1);
  // OpenSSL refuses to derive it, and we check the result in case another build does not.
  let shared: Buffer;
  try {
    shared = diffieHellman({ privateKey: p.ownAgreementPrivateKey, publicKey: partnerKey });
  } catch {
    throw new AppError('FED_MALFORMED', 'partner agreement key is a low-order point');
  }
  if (shared.every((b) => b === 0)) {
    throw new AppError('FED_MALFORMED', 'partner agreement key is a low-order point');
  }
  const okm = hkdfSync(
    'sha256',
    shared,
    Buffer.from(p.requestId, 'utf8'),
    Buffer.from(`uuru-fed/2 iax2-secret ${p.name}`, 'utf8'),
    SECRET_BYTES,
  );
  return Buffer.from(okm).toString('base64url');
}
