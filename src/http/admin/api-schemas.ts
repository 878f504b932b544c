import { z } from 'zod';
import { CODECS } from '../../config/schema';
import { isPartnerBaseUrl, isPeerEntry, PEER_ENTRY_RULE } from '../../core/network-address';
import { isPeeringName, PEERING_NAME_RULE } from '../../core/peering-name';
import { ASTERISK_LINK_STATES, MONITORING_STATES } from '../../core/asterisk-port';
import { MAP_STATES } from '../../core/federation-map';

/**
 * Request and response shapes of the admin API. Requests are strict (an
 * unknown field is refused); responses are parsed through their schema
 * before they leave, so nothing undocumented (say, a secret) can slip out.
 * The OpenAPI document is generated from these same schemas.
 */

export const peeringName = z.string().refine(isPeeringName, `a peering name is ${PEERING_NAME_RULE}`);
export const dialPrefix = z.string().regex(/^[0-9]{1,15}$/, 'a prefix is 1 to 15 digits');
/**
 * Control characters (C0, DEL, C1), lone surrogates, line and paragraph
 * separators, bidi overrides and isolates: refused in every admin text field,
 * never stripped (a value is stored as typed or not at all).
 */
const UNSAFE_TEXT = /[\p{Cc}\p{Cs}\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;
const noUnsafeText = (s: string) => !UNSAFE_TEXT.test(s);
const UNSAFE_TEXT_MESSAGE = 'control characters (newline, tab, NUL, ...) and bidi overrides are not allowed';
/**
 * The partner's base address: the federation layer's rule, so what passes
 * here is never refused there. A plain string, not z.url(): URL parsing drops
 * tabs and newlines and trims spaces, and the admin would get an address they
 * did not type.
 */
const httpUrl = z
  .string()
  .max(255, 'at most 255 characters')
  .refine(noUnsafeText, UNSAFE_TEXT_MESSAGE)
  .refine((s) => /^https?:\/\//i.test(s), 'a web address with http:// or https://')
  .refine(
    isPartnerBaseUrl,
    'a web address with a plain host name or IP address and no user name, password, query or fragment',
  );
const idParam = z
  .string()
  .regex(/^[A-Za-z0-9_.:@-]{1,255}$/, 'an id is 1 to 255 letters, digits or _ . : @ -');
const booleanFlag = z.enum(['true', 'false']).optional();

export const idParams = z.strictObject({ id: idParam });
export const noQuery = z.strictObject({});
export const localOnlyQuery = z.strictObject({ local_only: booleanFlag });
export const refreshQuery = z.strictObject({
  refresh: booleanFlag.describe("true: fetch the partner's phonebook now instead of using the cached copy"),
});
export const deliveriesQuery = z.strictObject({
  state: z
    .enum(['pending', 'failed'])
    .optional()
    .describe('only pending deliveries, or only those given up (default: both)'),
});

export const createOutgoingBody = z.strictObject({
  name: peeringName,
  partner_url: httpUrl,
  prefix: dialPrefix,
  codec: z.enum(CODECS),
  dialect: z.enum(['auto', 'v2', 'v1']).optional(),
});
export const acceptIncomingBody = z.strictObject({
  prefix: dialPrefix,
  local_only: z
    .boolean()
    .optional()
    .describe('true: create the peer without telling the partner (it is gone); v1 otherwise tells it first'),
});
export const declineIncomingBody = z.strictObject({
  local_only: z.boolean().optional(),
  reason: z.string().max(500).refine(noUnsafeText, UNSAFE_TEXT_MESSAGE).optional(),
});
export const emptyBody = z.strictObject({});

const peerAddress = z.string().max(261).refine(isPeerEntry, PEER_ENTRY_RULE);
export const policySchema = z.strictObject({
  mode: z.enum(['open', 'invite_only', 'closed']),
  allowed_peers: z.array(peerAddress).max(1000),
  blocked_peers: z.array(peerAddress).max(1000),
  allow_legacy: z.boolean(),
  unfederated_numbers: z
    .array(z.string().regex(/^[0-9]{1,15}\*?$/, 'digits, optionally ending in * for a range'))
    .max(1000),
});

const dialect = z.enum(['v2', 'v1']);
const isoTime = z.string();

export const outgoingRequestView = z.object({
  id: z.string(),
  name: z.string(),
  asterisk_name: z.string(),
  partner_url: z.string(),
  prefix: z.string(),
  codec: z.string(),
  dialect,
  state: z.enum(['pending', 'declined', 'failed']),
  decline_reason: z.string().nullable(),
  last_error: z.string().nullable(),
  pending_deliveries: z.number().int(),
  created_at: isoTime,
});

export const incomingRequestView = z.object({
  id: z.string(),
  request_id: z.string(),
  name: z.string(),
  asterisk_name: z.string(),
  partner_url: z.string(),
  partner_iax_host: z.string(),
  partner_extension_length: z.number().int(),
  codec: z.string(),
  dialect,
  state: z.enum(['pending', 'declined']),
  partner_key_fingerprint: z.string().nullable(),
  created_at: isoTime,
});

const testCallRecord = z.object({
  answered: z.boolean(),
  setupMs: z.number().nullable(),
  error: z.string().nullable(),
  at: z.number(),
});

export const peerView = z.object({
  id: z.string(),
  name: z.string(),
  asterisk_name: z.string(),
  prefix: z.string(),
  partner_url: z.string(),
  dialect,
  role: z.enum(['requester', 'acceptor']),
  state: z.enum(['active', 'partner_missing']),
  apply_state: z.enum(['pending', 'applied', 'failed']),
  apply_error: z.string().nullable(),
  apply_nodes: z
    .array(
      z.object({
        node: z.string(),
        apply_state: z.enum(['pending', 'applied', 'failed']),
        apply_error: z.string().nullable(),
        applied_at: isoTime.nullable(),
      }),
    )
    .optional()
    .describe(
      'replicas only: the apply state on each Asterisk node of the live replicas (apply_state is applied only when applied on every one)',
    ),
  reachability: z.enum(['unknown', 'reachable', 'lagged', 'unreachable', 'unmonitored']),
  latency_ms: z.number().nullable(),
  last_seen: isoTime.nullable(),
  link_error: z
    .string()
    .nullable()
    .describe('the last problem the Asterisk layer saw on the trunk (kept after it recovers)'),
  link_error_at: isoTime.nullable(),
  partner_error: z
    .string()
    .nullable()
    .describe("what is wrong on the partner's side of the peering (cleared when fixed)"),
  partner_error_at: isoTime.nullable(),
  last_error: z.string().nullable().describe('derived, for older clients: partner_error, else link_error'),
  partner_key_fingerprint: z.string().nullable(),
  partner_iax_host: z.string(),
  partner_extension_length: z.number().int(),
  codec: z.string(),
  last_test_call: testCallRecord.nullable(),
  pending_deliveries: z.number().int(),
  created_at: isoTime,
  trunk_rotation: z
    .object({
      length_seconds: z.number().int(),
      epoch: z.number().int(),
      next_rotation_at: isoTime,
      also_accepted: z.enum(['previous', 'next']).nullable(),
      forced_rotation_at: isoTime.nullable(),
      sends: z.enum(['epoch', 'v1']),
      switch_at: isoTime.nullable(),
      agreement_key_switch_at: isoTime.optional(),
    })
    .nullable()
    .describe(
      "the trunk secret's epochs agreed in the handshake: length, current epoch, next rotation, which neighbouring epoch's secret is accepted too during an overlap, and the moment of a forced rotation agreed with the partner until its overlap is over; for a peering upgraded from v1, which secret is sent (`v1` before the switch, the epoch secret then accepted only) and the switch moment while the v1 secret is kept; `agreement_key_switch_at` (present only then): the boundary from which the secret derives from rotated agreement keys, until that boundary's overlap is over; null for a fixed secret",
    ),
});

export const keyView = z.object({
  kid: z.string(),
  alg: z.enum(['ed25519', 'x25519']),
  status: z.string(),
  fingerprint: z.string(),
  public_key: z.string(),
  not_before: isoTime,
  expires_at: isoTime,
});

export const policyChangeReport = z.object({
  policy: policySchema,
  affected_peers: z.array(z.object({ name: z.string(), reason: z.string() })),
});

export const testCallResponse = z.object({
  answered: z.boolean(),
  setup_ms: z.number().nullable(),
  error: z.string().nullable(),
});

const qualityDirection = z
  .object({
    jitter_ms: z.number().nullable(),
    loss_ratio: z.number().min(0).max(1).nullable().describe('fraction of media frames lost, 0..1'),
  })
  .describe('null where Asterisk reported nothing real (no jitter buffer on that side, no report yet)');

export const trunkQualitySampleView = z.object({
  at: isoTime,
  source: z.enum(['call', 'probe']).describe('a real call, or a quality probe the sidecar placed'),
  calls: z.number().int().describe('IAX2 channels up on the trunk then'),
  rtt_ms: z.number().nullable().describe('IAX2 PING/PONG round trip; null before the first PONG'),
  inbound: qualityDirection.describe('partner to us, measured by our jitter buffer'),
  outbound: qualityDirection.describe("us to partner, as the partner's reports say"),
});

export const trunkQualityResponse = z.object({
  peer: z.string(),
  since: isoTime,
  samples: z.array(trunkQualitySampleView).describe('the last 24 h, oldest first'),
});

const mapState = z.enum(MAP_STATES);
const directionFigures = z.object({ jitter_ms: z.number().nullable(), loss_ratio: z.number().nullable() });

export const federationMapResponse = z.object({
  self: z.object({ server_name: z.string() }),
  peers: z.array(
    z.object({
      id: z.string(),
      name: z.string(),
      prefix: z.string(),
      dialect: z.enum(['v1', 'v2']),
      server_name: z.string(),
      state: mapState,
      latency_ms: z.number().nullable(),
      quality: z
        .object({
          at: isoTime,
          rtt_ms: z.number().nullable(),
          inbound: directionFigures,
          outbound: directionFigures,
        })
        .nullable()
        .describe('the newest call-quality sample of the last 24 h'),
      ring: z
        .discriminatedUnion('kind', [
          z.object({ kind: z.literal('absent') }),
          z.object({
            kind: z.literal('published'),
            fetched_at: isoTime.nullable(),
            peers: z.array(z.object({ server_name: z.string(), state: mapState })),
          }),
          z.object({
            kind: z.literal('refused'),
            code: z.literal('FED_PEER_MAP_INVALID'),
            reason: z.string(),
          }),
        ])
        .describe(
          "the partner's own peers as its descriptor publishes them (validated; refused whole when not)",
        ),
    }),
  ),
});

export const refreshResponse = z.object({
  server_name: z.string(),
  fingerprints: z.array(z.string()),
  confirmed: z.number().int(),
});

export const asteriskStatusView = z.object({
  enabled: z.boolean(),
  backend: z.enum(['files', 'realtime']),
  /** See ASTERISK_LINK_STATES: unreachable, wrong_port and login_refused say why a link is down. */
  ami: z.enum([...ASTERISK_LINK_STATES, 'disabled']),
  ari: z.enum([...ASTERISK_LINK_STATES, 'disabled']),
  /** Why the link is not connected (never a secret); null while connected. */
  amiDetail: z.string().nullable().optional(),
  ariDetail: z.string().nullable().optional(),
  monitoring: z.enum(MONITORING_STATES),
  lastReconcileAt: z.number().nullable(),
  lastReconcileError: z.string().nullable(),
});

export const reconcileRequest = z.strictObject({
  /**
   * full (default): read back everything Asterisk holds, including the whole dial plan, which also catches
   * edits made on the Asterisk CLI; changed: read back only what may have changed since it was last seen
   */
  verify: z.enum(['full', 'changed']).optional(),
});

export const reconcileResponse = z.object({
  /** true when the run happened and every peer verified */
  ok: z.boolean(),
  result: z.enum(['done', 'not_run', 'disabled']),
  changes: z.array(z.object({ action: z.enum(['add', 'change', 'remove']), object: z.string() })),
  reloaded: z.array(z.string()),
  verified: z.array(z.string()),
  failed: z.array(z.object({ name: z.string(), error: z.string() })),
  problems: z.array(z.string()),
  error: z.string().nullable(),
  started_at: isoTime.nullable(),
  finished_at: isoTime.nullable(),
  /**
   * milliseconds per phase of the run, adding up to it: read, build, the files backend's render, write and reload,
   * apply (the rest of it), verify, forced (a second apply after a failed verify), record
   */
  phases_ms: z.record(z.string(), z.number()),
  asterisk: asteriskStatusView,
});

export const partnerPhonebookView = z.object({
  peer: z.object({ id: z.string(), name: z.string(), prefix: z.string(), dialect }),
  entries: z.array(z.object({ dial: z.string(), extension: z.string(), name: z.string() })),
  fetched_at: isoTime.nullable(),
  error: z.string().nullable(),
  skipped: z.number().int(),
});

export const deliveryView = z.object({
  id: z.string(),
  kind: z.enum(['request', 'accept', 'decline', 'revoke', 'teardown']),
  dialect,
  partner: z.string(),
  peer_name: z.string().nullable(),
  request_id: z.string().nullable(),
  state: z.enum(['pending', 'failed']),
  attempts: z.number().int(),
  next_attempt_at: isoTime.nullable(),
  last_error: z.string().nullable(),
  created_at: isoTime,
  updated_at: isoTime,
});

export const partnerHealthView = z.object({
  server_name: z.string().describe("the partner's host[:port]"),
  peers: z.array(z.string()).describe('peers we hold with this partner'),
  outbound: z
    .object({
      state: z
        .enum(['ok', 'failing', 'suspended', 'unknown'])
        .describe(
          'ok: it answers; failing: our last calls got no answer (retried, never given up); suspended: failing on N distinct days; unknown: never called',
        ),
      consecutive_failures: z.number().int(),
      failing_since: isoTime.nullable(),
      failure_days: z.number().int().describe('distinct UTC days with a failure since it last answered'),
      next_attempt_at: isoTime.nullable().describe('its queue is not tried before this'),
      last_success_at: isoTime.nullable(),
      last_failure_at: isoTime.nullable(),
      last_error: z.string().nullable(),
      suspended_at: isoTime.nullable(),
      suspended_reason: z.string().nullable(),
    })
    .describe('our calls to the partner'),
  inbound: z
    .object({
      last_verified_at: isoTime
        .nullable()
        .describe('the last request from it whose signature verified (written at most once a minute)'),
    })
    .describe("the partner's calls to us"),
  queue: z.object({
    paused: z.boolean(),
    paused_at: isoTime.nullable(),
    pending: z.number().int().describe('notifications waiting for it'),
  }),
});

export const purgeQueueResponse = z.object({
  purged: z.number().int().describe('pending notifications given up (marked failed, "purged by an admin")'),
  partner: partnerHealthView,
});

export const retryDeliveriesResponse = z.object({
  attempted: z.number().int(),
  delivered: z.number().int(),
  pending: z.number().int(),
});
const counts = z.record(z.string(), z.number().int());
export const statusResponse = z.object({
  principal: z.string(),
  instance: z.object({
    public_url: z.string().describe('the web address partners are told (UURU_FEDERATION_UURU_HOST)'),
    iax2: z.string().describe('host:port partners reach our IAX2 at'),
    version: z.string(),
  }),
  listeners: z
    .object({ federation: z.string(), admin: z.string() })
    .describe('host:port each listener is bound to ("same": the admin API shares the federation listener)'),
  asterisk: asteriskStatusView,
  peers: z.object({
    total: z.number().int(),
    by_state: counts,
    by_apply_state: counts,
    by_reachability: counts,
  }),
  requests: z.object({ incoming_pending: z.number().int(), outgoing_pending: z.number().int() }),
  replicas: z
    .object({
      self: z.object({ replica_id: z.string(), asterisk_node: z.string().nullable() }),
      replicas: z.array(
        z.object({
          replica_id: z.string(),
          asterisk_node: z.string().nullable(),
          version: z.string(),
          started_at: isoTime,
          last_seen_at: isoTime,
          live: z.boolean().describe('seen within three heartbeats (ha.heartbeatMs)'),
        }),
      ),
      leases: z.array(
        z.object({
          job: z.string(),
          holder: z.string().nullable(),
          token: z.number().int().describe('the fencing token: grows with every lease of the job'),
          expires_at: isoTime,
          done: z.boolean(),
          state: z
            .enum(['free', 'held', 'done', 'running', 'expired'])
            .describe(
              "free: nobody holds it; held: an Asterisk node's lease (node:<name>) renewed by its holder; done or running: a job's period; expired: its holder stopped renewing (died) before it was done",
            ),
        }),
      ),
    })
    .optional()
    .describe(
      'replicas only (UURU_HA_ENABLED): the replicas, their Asterisk nodes and who holds which job lease',
    ),
});

export const errorResponse = z.looseObject({
  error: z.string(),
  message: z.string(),
  /** VALIDATION_FAILED: one entry per bad field. */
  issues: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
});

export const apiTokenView = z.object({
  id: z.string(),
  name: z.string(),
  created_at: isoTime,
  last_used_at: isoTime.nullable(),
});
export const adminUserView = z.object({ id: z.string(), username: z.string(), created_at: isoTime });

export const asteriskConfigView = z.object({
  enabled: z
    .boolean()
    .describe('false: Asterisk integration is off, nothing is written; this is what would be'),
  backend: z.enum(['files', 'realtime']),
  /** files: the two generated files; realtime: the rows, shown in the same notation. */
  files: z.array(z.object({ name: z.string(), content: z.string() })),
  refused: z
    .array(z.object({ name: z.string(), error: z.string() }))
    .describe('peers left out because a value would not be safe in Asterisk'),
});
