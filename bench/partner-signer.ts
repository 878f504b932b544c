import { createPrivateKey } from 'node:crypto';
import { signRequest, type SigningKey } from '../src/federation/http-signature';
import { serverNameOf } from '../src/federation/local-keys';
import type { Sidecar } from '../test/harness/sidecar';
import type { LoopbackRequest } from './loopback-client';

/**
 * Signs requests exactly as a peered sidecar would, with that sidecar's own
 * active Ed25519 key read from its database: the receiving side checks them
 * against the key it pinned at the handshake, so the whole verification path
 * (digest, keyid, signature, nonce, per-origin limit) runs for real.
 */
export class PartnerSigner {
  private constructor(private readonly key: SigningKey) {}

  static async of(partner: Sidecar): Promise<PartnerSigner> {
    const rows = await partner.query<{ kid: string; privateKey: string }>(
      "SELECT kid, privateKey FROM {db}.local_keys WHERE alg = 'ed25519' AND status = 'active'",
    );
    const row = rows[0];
    if (!row) throw new Error(`${partner.name} has no active signing key`);
    const privateKey = createPrivateKey({
      key: Buffer.from(row.privateKey, 'base64'),
      format: 'der',
      type: 'pkcs8',
    });
    return new PartnerSigner({ keyId: `${serverNameOf(partner.federationUrl)}#${row.kid}`, privateKey });
  }

  get keyId(): string {
    return this.key.keyId;
  }

  /** A signed request for `targetBase + path` (the receiver's public URL), body sent as JSON when given. */
  sign(
    targetBase: string,
    method: string,
    path: string,
    body?: Buffer,
    contentType?: string,
  ): LoopbackRequest {
    const headers = signRequest({
      method,
      url: targetBase + path,
      body,
      contentType,
      key: this.key,
      now: Date.now(),
    });
    return { method, path, headers: { ...headers, accept: 'application/json' }, body };
  }
}
