import { z } from 'zod';
import { CODECS } from '../config/schema';

/**
 * The bodies that cross the wire, both dialects. v2 bodies are strict (an
 * unknown field is refused with FED_MALFORMED); v1 bodies are the exact
 * shapes stock µURU sends (pydantic models serialised with exclude_unset).
 */

/** One shared peering name: the IAX2 friend name and username on both sides. */
export const PEERING_NAME = /^[A-Za-z0-9_]{1,32}$/;
export const peeringName = z.string().regex(PEERING_NAME, 'name must be 1-32 characters of A-Z, a-z, 0-9, _');

const codec = z.enum(CODECS);
const extensionLength = z.number().int().min(1).max(12);
const iax2Endpoint = z.strictObject({
  host: z.string().min(1).max(255),
  port: z.number().int().min(1).max(65535),
});
const kid = z.string().min(1).max(64);
/** request ids are UUIDs in practice; accept any URL-safe token so other implementations fit. */
export const REQUEST_ID = /^[A-Za-z0-9_-]{8,64}$/;
const requestId = z.string().regex(REQUEST_ID, 'request_id must be 8-64 URL-safe characters');
const httpUrl = z
  .string()
  .max(255)
  .refine((s) => {
    try {
      const u = new URL(s);
      return (u.protocol === 'http:' || u.protocol === 'https:') && u.username === '' && u.password === '';
    } catch {
      return false;
    }
  }, 'must be an http(s) URL');

export const v2PeeringRequestBody = z.strictObject({
  request_id: requestId,
  name: peeringName,
  codec,
  extension_length: extensionLength,
  base_url: httpUrl,
  iax2: iax2Endpoint,
  agreement_kid: kid,
});
export type V2PeeringRequestBody = z.infer<typeof v2PeeringRequestBody>;

export const v2AcceptBody = z.strictObject({
  extension_length: extensionLength,
  iax2: iax2Endpoint,
  agreement_kid: kid,
});
export type V2AcceptBody = z.infer<typeof v2AcceptBody>;

export const v2DeclineBody = z.strictObject({ reason: z.string().max(500).optional() });
export const v2TeardownBody = z.strictObject({ request_id: requestId });

export const v2PeeringState = z.enum(['pending', 'active', 'declined', 'unknown']);
export type V2PeeringState = z.infer<typeof v2PeeringState>;
export const v2PeeringStateAnswer = z.object({ request_id: z.string(), state: v2PeeringState });

/** v1 secrets: µURU's generate_peer_secret (32 of [A-Za-z0-9]). */
export const V1_SECRET = /^[A-Za-z0-9]{32}$/;

export const v1IncomingRequestBody = z.strictObject({
  id: z.string().min(1).max(64),
  name: peeringName,
  partner_uuru_host: httpUrl,
  partner_iax_host: z.string().min(1).max(255),
  partner_extension_length: extensionLength,
  secret: z.string().regex(V1_SECRET, 'secret must be 32 characters of A-Z, a-z, 0-9'),
  codec: codec.default('g722'),
});
export type V1IncomingRequestBody = z.infer<typeof v1IncomingRequestBody>;

export const v1OutgoingStatusBody = z.strictObject({
  accept: z.boolean(),
  secret: z.string().max(64),
  extension_length: extensionLength.optional(),
  partner_iax_host: z.string().min(1).max(255).optional(),
  partner_uuru_host: httpUrl.optional(),
});
export type V1OutgoingStatusBody = z.infer<typeof v1OutgoingStatusBody>;

export const v1TeardownBody = z.strictObject({ name: z.string().max(64), secret: z.string().max(64) });

/** "path: message" lines for a refusal message. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.join('.') : '(body)'}: ${i.message}`)
    .join('; ');
}
