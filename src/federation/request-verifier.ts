import { ERROR_CATALOGUE, type StatusOf } from '../core/error-catalogue';
import type { Clock } from '../core/clock';
import type { Metrics } from '../core/metrics';
import type { Logger } from '../logging/logger';
import { verifyContentDigest } from './content-digest';
import { type Descriptor, normalizeBaseUrl } from './descriptor';
import {
  createSignatureBase,
  headerValue,
  parseUuruSignature,
  type ParsedSignature,
  SignatureBaseError,
  type SignatureFailure,
  SignatureParseError,
  verifyBase,
} from './http-signature';
import type { NonceStore } from './nonce-store';
import type { PartnerKeyStore } from './partner-keys';

/** `created` may be this far in the future (the sender's clock runs ahead). */
export const MAX_CREATED_AHEAD_MS = 60 * 1000;
/** `created` may be this old. */
export const MAX_CREATED_AGE_MS = 300 * 1000;
/** `expires` may have passed by this much (clock skew). */
export const EXPIRES_SKEW_MS = 60 * 1000;

export interface IncomingSignedRequest {
  method: string;
  /** Absolute URI as the sender addressed it: our publicUrl + path + query. */
  targetUri: string;
  headers: Record<string, string | string[] | undefined>;
  rawBody: Buffer;
}

export type VerifyResult =
  | {
      ok: true;
      serverName: string;
      kid: string;
      keyId: string;
      created: number;
      nonce: string;
      /** Set on a first contact: the sender's descriptor the key came from, to pin() once the request is accepted. */
      descriptor?: Descriptor;
    }
  | {
      ok: false;
      code: SignatureFailure;
      status: StatusOf<SignatureFailure>;
      message: string;
      serverTime?: string;
    };

/**
 * The target URI of an incoming request as its sender addressed it: our
 * public URL (without a trailing slash, as our descriptor's base_url) plus
 * the request's original path and query.
 */
export function targetUriOf(ourPublicUrl: string, originalUrl: string): string {
  return targetUriBuilder(ourPublicUrl)(originalUrl);
}

/** targetUriOf with our public URL normalized once (a signed route builds one per request). */
export function targetUriBuilder(ourPublicUrl: string): (originalUrl: string) => string {
  const base = normalizeBaseUrl(ourPublicUrl);
  return (originalUrl) => `${base}${originalUrl.startsWith('/') ? '' : '/'}${originalUrl}`;
}

/**
 * Checks a signed uuru-fed/2 request in the order protocol.md gives: parse;
 * time window; digest; the keyid (and the target) belong where they should;
 * signature; nonce. Never throws for a bad request: the result says why.
 * Rate limits and policy are the caller's, before and after this.
 *
 * Refusal codes: a target URI whose origin is not ours (signed for another
 * host) is FED_DESTINATION_MISMATCH (401); a keyid naming another server
 * than the partner the request belongs to (signed with a key that is not the
 * claimed partner's) is FED_SIGNER_MISMATCH (401): two different attacks,
 * told apart in answers and in uuru_fed_signature_failures_total. A key that
 * we knew but that expired, or a key change held for an admin, is
 * FED_UNKNOWN_KEY (401).
 */
export class RequestVerifier {
  private readonly ourOrigin: string;

  constructor(
    private readonly deps: {
      clock: Clock;
      partnerKeys: PartnerKeyStore;
      nonces: NonceStore;
      ourPublicUrl: string;
      logger: Logger;
      metrics?: Metrics;
      /** Told of every request that verified (the partner's inbound health); must not throw nor wait. */
      onVerified?: (serverName: string) => void;
    },
  ) {
    this.ourOrigin = new URL(deps.ourPublicUrl).origin;
  }

  async verify(
    req: IncomingSignedRequest,
    expectedServerName: string,
    opts: { firstContactBaseUrl?: string } = {},
  ): Promise<VerifyResult> {
    const now = this.deps.clock.now();
    const hasBody = req.rawBody.length > 0;

    let sig: ParsedSignature;
    try {
      sig = parseUuruSignature(req.headers, hasBody);
    } catch (e) {
      if (e instanceof SignatureParseError) return this.refuse(e.code, e.message);
      throw e;
    }

    const createdMs = sig.created * 1000;
    if (createdMs - now > MAX_CREATED_AHEAD_MS) {
      return this.refuse('FED_CLOCK_SKEW', 'the signature was created in the future; check the clock', now);
    }
    if (now - createdMs > MAX_CREATED_AGE_MS) {
      return this.refuse('FED_CLOCK_SKEW', 'the signature is too old; check the clock', now);
    }
    if (now - sig.expires * 1000 > EXPIRES_SKEW_MS) {
      return this.refuse('FED_CLOCK_SKEW', 'the signature has expired; check the clock', now);
    }

    const digestHeader = headerValue(lowerGet(req.headers, 'content-digest'));
    if ((hasBody || digestHeader !== undefined) && !verifyContentDigest(digestHeader, req.rawBody)) {
      return this.refuse('FED_DIGEST_MISMATCH', 'Content-Digest is missing or does not match the body');
    }

    let targetOrigin: string;
    try {
      targetOrigin = new URL(req.targetUri).origin;
    } catch {
      return this.refuse('FED_DESTINATION_MISMATCH', 'the request target is not a valid URI');
    }
    if (targetOrigin !== this.ourOrigin) {
      return this.refuse(
        'FED_DESTINATION_MISMATCH',
        `this request was addressed to ${targetOrigin}, not to this instance`,
      );
    }
    const expected = expectedServerName.toLowerCase();
    if (sig.serverName !== expected) {
      return this.refuse(
        'FED_SIGNER_MISMATCH',
        `the request is signed with a key of ${sig.serverName}, but it can only come from ${expected}`,
      );
    }

    const key = await this.deps.partnerKeys.getSigningKey(sig.serverName, sig.kid, {
      baseUrl: opts.firstContactBaseUrl,
    });
    if (key === 'fetch_failed') {
      return this.refuse(
        'FED_KEY_FETCH_FAILED',
        `could not fetch the keys of ${sig.serverName}; retry later`,
      );
    }
    if (key === 'unknown')
      return this.refuse('FED_UNKNOWN_KEY', `${sig.serverName} does not publish key ${sig.kid}`);
    if (key === 'held') {
      return this.refuse(
        'FED_UNKNOWN_KEY',
        `key ${sig.kid} of ${sig.serverName} is a key change that an admin of this instance must confirm`,
      );
    }
    if (key === 'expired')
      return this.refuse('FED_UNKNOWN_KEY', `key ${sig.kid} of ${sig.serverName} has expired`);

    let base: string;
    try {
      base = createSignatureBase(sig.params, {
        method: req.method,
        targetUri: req.targetUri,
        headers: req.headers,
      });
    } catch (e) {
      if (e instanceof SignatureBaseError) return this.refuse('FED_MALFORMED_SIGNATURE', e.message);
      throw e;
    }
    if (!verifyBase(base, sig.signature, key)) {
      return this.refuse('FED_SIGNATURE_INVALID', 'the signature does not verify');
    }

    // Kept until the time checks above would refuse the request anyway.
    const replayableUntil =
      Math.min(createdMs + MAX_CREATED_AGE_MS, sig.expires * 1000 + EXPIRES_SKEW_MS) + 1000;
    if (!(await this.deps.nonces.reserve(sig.keyId, sig.nonce, replayableUntil))) {
      return this.refuse('FED_REPLAY', 'this request was already received (nonce reused)');
    }

    const descriptor =
      opts.firstContactBaseUrl !== undefined
        ? this.deps.partnerKeys.firstContactDescriptor(sig.serverName)
        : null;
    this.deps.onVerified?.(sig.serverName);
    return {
      ok: true,
      serverName: sig.serverName,
      kid: sig.kid,
      keyId: sig.keyId,
      created: sig.created,
      nonce: sig.nonce,
      ...(descriptor ? { descriptor } : {}),
    };
  }

  private refuse(code: SignatureFailure, message: string, now?: number): VerifyResult {
    this.deps.metrics?.signatureFailures.inc({ reason: code });
    this.deps.logger.info('refused a signed request', { component: 'signature', code, reason: message });
    return {
      ok: false,
      code,
      status: ERROR_CATALOGUE[code].status,
      message,
      ...(now !== undefined ? { serverTime: new Date(now).toISOString() } : {}),
    };
  }
}

function lowerGet(headers: IncomingSignedRequest['headers'], name: string): string | string[] | undefined {
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === name) return v;
  return undefined;
}
