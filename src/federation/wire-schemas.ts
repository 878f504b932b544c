import { MAX_EPOCH_SECONDS, MIN_EPOCH_SECONDS } from '../core/trunk-secret-epochs';
import { z } from 'zod';
import { CODECS } from '../config/schema';
import { isHostnameOrIp, isPartnerBaseUrl, isPort, parseHostPort } from '../core/network-address';
import {
  isPeeringName,
  isV1PeeringName,
  PEERING_NAME_RULE,
  V1_PEERING_NAME_RULE,
} from '../core/peering-name';

/**
 * The bodies that cross the wire, both dialects. v2 bodies are strict (an
 * unknown field is refused with FED_MALFORMED); v1 bodies are the shapes
 * stock µURU sends (pydantic models serialised with exclude_unset), read as
 * leniently as µURU reads them: unknown fields are ignored (pydantic's
 * default; µURU added `codec` once and may add more), names are µURU's.
 */

/** One shared peering name: the IAX2 friend name and username on both sides. */
export const peeringName = z.string().refine(isPeeringName, `name must be ${PEERING_NAME_RULE}`);
/** A name as stock µURU accepts it (Unicode word characters); see isV1PeeringName. */
export const v1PeeringName = z.string().refine(isV1PeeringName, `name must be ${V1_PEERING_NAME_RULE}`);

const codec = z.enum(CODECS);
const extensionLength = z.number().int().min(1).max(12);
/** The rule the Asterisk layer applies before it writes a peer: checked on receipt, so a refused host is never stored. */
export const iax2Host = z.string().refine(isHostnameOrIp, 'must be a hostname or an IP address');
const iax2Endpoint = z.strictObject({
  host: iax2Host,
  port: z.number().refine(isPort, 'must be a whole number from 1 to 65535'),
});
/** The kid syntax the descriptor uses: the same key is named in both places. */
const kid = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1-64 characters of A-Z, a-z, 0-9, ., _, -');
/** request ids are UUIDs in practice; accept any URL-safe token so other implementations fit. */
export const REQUEST_ID = /^[A-Za-z0-9_-]{8,64}$/;
const requestId = z.string().regex(REQUEST_ID, 'request_id must be 8-64 URL-safe characters');
const httpUrl = z
  .string()
  .refine(
    isPartnerBaseUrl,
    'must be an http(s) URL of at most 255 characters with a valid host and no credentials, query or fragment',
  );
/** µURU sends its IAX2 address as "host" or "host:port". */
const v1IaxHost = z
  .string()
  .max(261)
  .refine((s) => parseHostPort(s) !== null, 'must be a hostname or an IP address, optionally with :port');
/** µURU's request ids are UUIDs; they go back into the URL of our answer, so only URL-safe characters. */
export const V1_REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;
export const V1_REQUEST_ID_RULE = '1-64 characters of A-Z, a-z, 0-9, ., _, :, -';
const v1RequestId = z.string().regex(V1_REQUEST_ID, `id must be ${V1_REQUEST_ID_RULE}`);

const secretEpochSeconds = z.number().int().min(MIN_EPOCH_SECONDS).max(MAX_EPOCH_SECONDS);

export const v2PeeringRequestBody = z.strictObject({
  request_id: requestId,
  name: peeringName,
  codec,
  extension_length: extensionLength,
  base_url: httpUrl,
  iax2: iax2Endpoint,
  agreement_kid: kid,
  /** The trunk secret epoch length the requester proposes (seconds); sent only to a partner that offers epochs. */
  secret_epoch_seconds: secretEpochSeconds.optional(),
});
export type V2PeeringRequestBody = z.infer<typeof v2PeeringRequestBody>;

export const v2AcceptBody = z.strictObject({
  extension_length: extensionLength,
  iax2: iax2Endpoint,
  agreement_kid: kid,
  /** The epoch length both keep: the request's, echoed; absent when the request had none. */
  secret_epoch_seconds: secretEpochSeconds.optional(),
});
export type V2AcceptBody = z.infer<typeof v2AcceptBody>;

/** Free text a partner sends for an admin to read: no control characters, lone surrogates or bidi overrides. */
const partnerText = z
  .string()
  .max(500)
  .refine(
    (s) => !/[\p{Cc}\p{Cs}\u202a-\u202e\u2066-\u2069]/u.test(s),
    'must be text without control characters',
  );
export const v2DeclineBody = z.strictObject({ reason: partnerText.optional() });
export const v2TeardownBody = z.strictObject({ request_id: requestId });

/** A MAC on the wire: HMAC-SHA256, base64url without padding (43 characters). */
const mac = z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'must be an HMAC-SHA256 in base64url (43 characters)');
const rfc3339 = z.iso.datetime({ offset: true });

/** What each side of an upgrade states, in the proposal and in the answer alike: its agreement key, the values both keep, its binding. */
const upgradeTerms = {
  agreement_kid: kid,
  secret_epoch_seconds: secretEpochSeconds,
  /** When both sides start sending the v2 secret. */
  switch_at: rfc3339,
  /** HMAC-SHA256 keyed by the v1 secret over the side's terms (upgradeBindingText). */
  binding: mac,
};

/** v1 → v2 upgrade proposal (docs/protocol.md, "Upgrading a v1 peering"): the v1 requester → the v1 acceptor. */
export const v2UpgradeBody = z.strictObject({
  /** The v1 peering's request id (its requester's outgoing request UUID). */
  request_id: v1RequestId,
  base_url: httpUrl,
  iax2: iax2Endpoint,
  extension_length: extensionLength,
  ...upgradeTerms,
});
export type V2UpgradeBody = z.infer<typeof v2UpgradeBody>;

/** The acceptor's answer: its agreement key, the values both keep, and its own binding. */
export const v2UpgradeAnswer = z.object({
  name: peeringName,
  request_id: v1RequestId,
  state: z.literal('upgraded'),
  ...upgradeTerms,
});
export type V2UpgradeAnswer = z.infer<typeof v2UpgradeAnswer>;
/**
 * A v2 peering made before epochs moves onto them (docs/protocol.md, "Trunk
 * secret epochs"): its requester proposes an epoch length and a switch moment;
 * the acceptor answers the terms it stored (the first ones, for a repeat).
 */
export const v2SecretEpochsBody = z.strictObject({
  request_id: requestId,
  secret_epoch_seconds: z.number().int().min(MIN_EPOCH_SECONDS).max(MAX_EPOCH_SECONDS),
  switch_at: z.iso.datetime({ offset: false }),
});
export type V2SecretEpochsBody = z.infer<typeof v2SecretEpochsBody>;
export const v2SecretEpochsAnswer = z.object({
  name: z.string(),
  request_id: z.string(),
  secret_epoch_seconds: z.number().int(),
  switch_at: z.iso.datetime({ offset: false }),
});

/**
 * A forced trunk secret rotation: from `at` on, the epoch offset is
 * `epoch_offset` (one more than the peering's settled one), with the usual
 * overlap around `at`. The answer carries the same fields as agreed (the
 * moment already agreed, when a retry finds one).
 */
export const v2SecretRotationBody = z.strictObject({
  request_id: requestId,
  epoch_offset: z.number().int().min(1).max(1_000_000),
  at: z.iso.datetime({ offset: false }),
});
export const v2SecretRotationAnswer = z.object({
  name: z.string(),
  epoch_offset: z.number().int(),
  at: z.iso.datetime({ offset: false }),
});

export const v2PeeringState = z.enum(['pending', 'active', 'declined', 'unknown']);
export type V2PeeringState = z.infer<typeof v2PeeringState>;
/**
 * A peering's trunk secret epochs as one side holds them (anti-entropy compares them): the agreed length,
 * the forced rotations agreed so far (settled ones and the last one), and the last one's moment.
 */
export const v2TrunkEpochs = z.object({
  length_seconds: z.number().int().positive(),
  forced_rotations: z.number().int().min(0),
  forced_rotation_at: z.iso.datetime({ offset: false }).nullable(),
});
export type V2TrunkEpochs = z.infer<typeof v2TrunkEpochs>;
/** `trunk_epochs`: only for an active peering on epochs, and only from sidecars that send it (optional). */
export const v2PeeringStateAnswer = z.object({
  request_id: z.string(),
  state: v2PeeringState,
  trunk_epochs: v2TrunkEpochs.optional(),
});

/** v1 secrets: µURU's generate_peer_secret (32 of [A-Za-z0-9]). */
export const V1_SECRET = /^[A-Za-z0-9]{32}$/;

export const v1IncomingRequestBody = z.object({
  id: v1RequestId,
  name: v1PeeringName,
  partner_uuru_host: httpUrl,
  partner_iax_host: v1IaxHost,
  partner_extension_length: extensionLength,
  secret: z.string().regex(V1_SECRET, 'secret must be 32 characters of A-Z, a-z, 0-9'),
  codec: codec.default('g722'),
});
export type V1IncomingRequestBody = z.infer<typeof v1IncomingRequestBody>;

export const v1OutgoingStatusBody = z.object({
  accept: z.boolean(),
  secret: z.string().max(64),
  extension_length: extensionLength.optional(),
  partner_iax_host: v1IaxHost.optional(),
  partner_uuru_host: httpUrl.optional(),
});
export type V1OutgoingStatusBody = z.infer<typeof v1OutgoingStatusBody>;

export const v1TeardownBody = z.object({ name: v1PeeringName, secret: z.string().max(64) });

/** "path: message" lines for a refusal message. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.join('.') : '(body)'}: ${i.message}`)
    .join('; ');
}
