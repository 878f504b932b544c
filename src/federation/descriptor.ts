import { MAX_EPOCH_SECONDS, MIN_EPOCH_SECONDS } from '../core/trunk-secret-epochs';
import { z } from 'zod';
import type { Config } from '../config/schema';
import { AppError } from '../core/errors';
import { describeHost, isHostnameOrIp, isPartnerBaseUrl } from '../core/network-address';
import { readLimited } from './bounded-body';
import { describeFetchFailure } from './fetch-failure';
import { isRawPublicKey } from './key-encoding';
import { authorityOf } from './partner-call';
import type { PeerMapField } from './peer-map';

/**
 * The descriptor at /.well-known/uuru-federation (protocol.md, "Descriptor"):
 * who we are, how to reach our IAX2, and our public keys. Received
 * descriptors are validated strictly: every field the protocol defines must
 * be present and well-formed. Fields a later protocol version adds are
 * ignored (not refused), so newer instances can still peer with this one.
 */

export const DESCRIPTOR_PATH = '/.well-known/uuru-federation';
export const PROTOCOL_V2 = 'uuru-fed/2';
/** How long anyone may cache our descriptor (its Cache-Control), and how long we reuse a partner's for a new request. */
export const DESCRIPTOR_MAX_AGE_S = 300;
export const PROTOCOL_V1 = 'uuru/1';
/** How long a descriptor we serve may be cached (protocol: at most 24 h). */
const DESCRIPTOR_TTL_MS = 60 * 60 * 1000;
/** A descriptor is a few kB; anything far larger is not one. */
const MAX_DESCRIPTOR_BYTES = 256 * 1024;

const rfc3339 = z.iso.datetime({ offset: true });
const rawKey = z.string().refine(isRawPublicKey, 'must be a raw 32-byte key in unpadded base64url');
const kid = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1-64 characters of [A-Za-z0-9._-]');

const signingKeySchema = z.object({
  kid,
  alg: z.literal('ed25519'),
  public_key: rawKey,
  status: z.enum(['active', 'next', 'retiring']),
  not_before: rfc3339,
  expires_at: rfc3339,
  endorsement: z
    .object({
      kid,
      sig: z.string().regex(/^[A-Za-z0-9_-]{86}$/, 'must be a 64-byte signature in unpadded base64url'),
    })
    .optional(),
});

const agreementKeySchema = z.object({
  kid,
  alg: z.literal('x25519'),
  public_key: rawKey,
  /** When the key came (or comes) into force; absent from older sidecars (the key then never reaches a trunk's epochs). */
  not_before: rfc3339.optional(),
  expires_at: rfc3339,
});

const httpUrl = z
  .string()
  .refine(isPartnerBaseUrl, 'must be an http(s) URL with a valid host and no credentials, query or fragment');

export const descriptorSchema = z
  .object({
    server_name: z.string().min(1).max(255),
    base_url: httpUrl,
    protocol_versions: z.array(z.string().min(1).max(32)).min(1).max(16),
    iax2: z.object({
      host: z.string().refine(isHostnameOrIp, 'must be a hostname or an IP address'),
      port: z.number().int().min(1).max(65535),
    }),
    extension_length: z.number().int().min(1).max(12),
    codecs: z.array(z.string().min(1).max(16)).max(32),
    policy_mode: z.enum(['open', 'invite_only', 'closed']),
    /** Trunk secret epochs we offer (seconds); absent: a sidecar without epochs (fixed secrets). */
    secret_epoch_seconds: z.number().int().min(MIN_EPOCH_SECONDS).max(MAX_EPOCH_SECONDS).optional(),
    /**
     * A partner's own peers, when it opts in (federation.publishPeerMap). Kept as received here and read
     * only through peer-map.ts's strict readPeerMap: a bad map never makes the descriptor invalid.
     */
    peer_map: z.unknown().optional(),
    signing_keys: z.array(signingKeySchema).min(1).max(16),
    agreement_keys: z.array(agreementKeySchema).min(1).max(16),
    valid_until: rfc3339,
  })
  .superRefine((d, ctx) => {
    let authority: string | null = null;
    try {
      authority = authorityOf(d.base_url);
    } catch {
      // base_url itself is reported by its own check
    }
    if (authority !== null && authority !== d.server_name.toLowerCase()) {
      ctx.addIssue({
        code: 'custom',
        path: ['server_name'],
        message: `must be the authority of base_url (${authority})`,
      });
    }
    const kids = new Set<string>();
    for (const k of [...d.signing_keys, ...d.agreement_keys]) {
      if (kids.has(k.kid))
        ctx.addIssue({ code: 'custom', path: ['signing_keys'], message: `kid ${k.kid} appears twice` });
      kids.add(k.kid);
    }
    if (!d.signing_keys.some((k) => k.status === 'active')) {
      ctx.addIssue({ code: 'custom', path: ['signing_keys'], message: 'no active signing key' });
    }
  });

export type Descriptor = z.infer<typeof descriptorSchema>;
export type DescriptorSigningKey = z.infer<typeof signingKeySchema>;
export type DescriptorAgreementKey = z.infer<typeof agreementKeySchema>;

/** Our keys as the descriptor publishes them (LocalKeys provides them; typed here so neither file imports the other). */
export interface PublishedKeys {
  publishedSigningKeys(): Promise<DescriptorSigningKey[]>;
  publishedAgreementKeys(): Promise<DescriptorAgreementKey[]>;
}

/** base_url as we publish and compare it: normalized, without a trailing slash. */
export function normalizeBaseUrl(url: string): string {
  return new URL(url).href.replace(/\/+$/, '');
}

export async function buildDescriptor(p: {
  config: Config;
  localKeys: PublishedKeys;
  policyMode: Descriptor['policy_mode'];
  now: number;
  /** Whether we still speak v1 (policy allow_legacy); defaults to the configured initial value. */
  allowLegacy?: boolean;
  /** Our peers, published only when federation.publishPeerMap is on. */
  peerMap?: PeerMapField;
}): Promise<Descriptor> {
  const { instance } = p.config;
  const allowLegacy = p.allowLegacy ?? p.config.federation.allowLegacy;
  return {
    server_name: authorityOf(instance.publicUrl),
    base_url: normalizeBaseUrl(instance.publicUrl),
    protocol_versions: allowLegacy ? [PROTOCOL_V2, PROTOCOL_V1] : [PROTOCOL_V2],
    iax2: { host: instance.iax2Host, port: instance.iax2Port },
    extension_length: instance.extensionDigits,
    codecs: [...instance.codecs],
    policy_mode: p.policyMode,
    secret_epoch_seconds: p.config.federation.secretEpochSeconds,
    ...(p.config.federation.publishPeerMap && p.peerMap ? { peer_map: p.peerMap } : {}),
    signing_keys: await p.localKeys.publishedSigningKeys(),
    agreement_keys: await p.localKeys.publishedAgreementKeys(),
    valid_until: new Date(p.now + DESCRIPTOR_TTL_MS).toISOString(),
  };
}

export type DescriptorFetch = { kind: 'found'; descriptor: Descriptor } | { kind: 'not_found' };

/** Names the partner by host only: the address may carry a user name or password. */
function fetchFailed(baseUrl: string, why: string, cause?: unknown): AppError {
  return new AppError(
    'FED_KEY_FETCH_FAILED',
    `could not get the descriptor of ${describeHost(baseUrl)}: ${why}`,
    { cause },
  );
}

/** Renders zod issues as "path: message" lines for error messages. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.join('.') : '(document)'}: ${i.message}`)
    .join('; ');
}

/**
 * Fetches and validates a partner's descriptor. 404 means the partner does not
 * speak v2 (a stock µURU). Redirects are not followed: the descriptor must be
 * served at the base URL it names.
 */
export async function fetchDescriptor(
  baseUrl: string,
  deps: { fetch: typeof fetch; timeoutMs: number },
): Promise<DescriptorFetch> {
  let base: string;
  try {
    base = normalizeBaseUrl(baseUrl);
  } catch {
    throw new AppError('FED_MALFORMED', 'the partner address is not a valid web address');
  }
  let res: Response;
  let text: string;
  try {
    res = await deps.fetch(`${base}${DESCRIPTOR_PATH}`, {
      method: 'GET',
      headers: { accept: 'application/json' },
      redirect: 'manual',
      signal: AbortSignal.timeout(deps.timeoutMs),
    });
    if (res.status === 404 || res.status === 410) {
      await res.body?.cancel();
      return { kind: 'not_found' };
    }
    if (res.status !== 200) {
      await res.body?.cancel();
      throw fetchFailed(base, `HTTP ${res.status}`);
    }
    text = await readLimited(res, MAX_DESCRIPTOR_BYTES);
  } catch (e) {
    if (e instanceof AppError) throw e;
    throw fetchFailed(base, describeFetchFailure(e), e);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw fetchFailed(base, 'the response is not JSON');
  }
  const parsed = descriptorSchema.safeParse(json);
  if (!parsed.success) throw fetchFailed(base, `invalid descriptor: ${describeIssues(parsed.error)}`);
  const descriptor = parsed.data;
  if (normalizeBaseUrl(descriptor.base_url) !== base) {
    throw fetchFailed(
      base,
      `the descriptor names another base_url (host ${describeHost(descriptor.base_url)})`,
    );
  }
  descriptor.server_name = descriptor.server_name.toLowerCase();
  return { kind: 'found', descriptor };
}
