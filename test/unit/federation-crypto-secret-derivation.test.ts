import { generateKeyPairSync } from 'node:crypto';
import { AppError } from '../../src/core/errors';
import { rawPublicKey } from '../../src/federation/key-encoding';
import { deriveIax2Secret } from '../../src/federation/secret-derivation';

/** The IAX2 secret both sides derive from their X25519 keys (it never crosses the wire). */

const alice = generateKeyPairSync('x25519');
const bob = generateKeyPairSync('x25519');
const aliceSide = (requestId: string, name: string) =>
  deriveIax2Secret({
    ownAgreementPrivateKey: alice.privateKey,
    partnerAgreementPublicKey: rawPublicKey(bob.publicKey),
    requestId,
    name,
  });
const bobSide = (requestId: string, name: string) =>
  deriveIax2Secret({
    ownAgreementPrivateKey: bob.privateKey,
    partnerAgreementPublicKey: rawPublicKey(alice.publicKey),
    requestId,
    name,
  });

it('gives both sides the same 40-character secret of [A-Za-z0-9_-] only', () => {
  const requestId = '6f1c2b7e-8d9a-4a3b-9c2d-1e0f5a6b7c8d';
  const s = aliceSide(requestId, 'alpha_beta');
  expect(s).toBe(bobSide(requestId, 'alpha_beta'));
  expect(s).toHaveLength(40);
  expect(s).toMatch(/^[A-Za-z0-9_-]{40}$/);
});

it('differs by name and by request_id', () => {
  const base = aliceSide('req-1', 'alpha');
  expect(aliceSide('req-1', 'alphb')).not.toBe(base);
  expect(aliceSide('req-2', 'alpha')).not.toBe(base);
});

it('differs for another key pair', () => {
  const carol = generateKeyPairSync('x25519');
  const withCarol = deriveIax2Secret({
    ownAgreementPrivateKey: carol.privateKey,
    partnerAgreementPublicKey: rawPublicKey(bob.publicKey),
    requestId: 'req-1',
    name: 'alpha',
  });
  expect(withCarol).not.toBe(aliceSide('req-1', 'alpha'));
});

it('stays within the characters iax.conf accepts over many derivations', () => {
  for (let i = 0; i < 200; i++) expect(aliceSide(`req-${i}`, 'n')).toMatch(/^[A-Za-z0-9_-]{40}$/);
});

it('refuses a malformed or low-order partner key with FED_MALFORMED', () => {
  const bad = (partnerAgreementPublicKey: string) => () =>
    deriveIax2Secret({
      ownAgreementPrivateKey: alice.privateKey,
      partnerAgreementPublicKey,
      requestId: 'r',
      name: 'n',
    });
  expect(bad('short')).toThrow(AppError);
  // The all-zero point is of low order: the shared secret would be zero.
  expect(bad(Buffer.alloc(32).toString('base64url'))).toThrow(/low-order|not a valid/);
});
