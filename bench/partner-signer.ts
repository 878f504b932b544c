import { signRequest, type SigningKey } from '../src/federation/http-signature';
import { activeKeys, type Sidecar } from '../test/harness/sidecar';
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
    return new PartnerSigner((await activeKeys(partner)).signing);
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
