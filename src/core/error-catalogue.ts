/**
 * Every error code this service answers or reports, once: its HTTP status,
 * its kind and what it means. AppError takes its status and kind from here,
 * so a throw site names a refusal and cannot pick another status for it;
 * docs/protocol.md's error table and the admin OpenAPI document are checked
 * against (or built from) this list.
 *
 * kind: 'user' (the caller's mistake, 4xx, logged at info), 'operational'
 * (transient: a dependency is down, logged at warn), 'bug' (500, error).
 *
 * surfaces: where the code can be seen.
 * - federation: a uuru-fed/2 answer to a partner (`{"error": CODE}` on the wire)
 * - v1: a stock-µURU answer; µURU's shape is `{"detail": text}`, so the code
 *   shows only in metrics and logs, the status on the wire
 * - admin: the admin API (and the panel, which shows the code with a hint)
 * - cli: `uuru-fed` output, also for checks the CLI makes itself
 * - internal: startup refusals and logs, never an HTTP answer
 */

export type ErrorKind = 'user' | 'operational' | 'bug';
export type ErrorSurface = 'federation' | 'v1' | 'admin' | 'cli' | 'internal';

export interface ErrorSpec {
  status: number;
  kind: ErrorKind;
  meaning: string;
  surfaces: readonly ErrorSurface[];
  /** Raised while opening the database at start-up, retrying cannot heal it: the app stops instead of retrying. */
  stopsStartup?: true;
}

const FA = ['federation', 'admin'] as const;

export const ERROR_CATALOGUE = {
  // Any surface
  INTERNAL: {
    status: 500,
    kind: 'bug',
    meaning: 'an unexpected error on our side; the log has the details',
    surfaces: ['federation', 'admin', 'cli'],
  },
  NOT_FOUND: {
    status: 404,
    kind: 'user',
    meaning: 'no route for this method and path',
    surfaces: FA,
  },

  // uuru-fed/2: reading the request
  FED_MALFORMED: {
    status: 400,
    kind: 'user',
    meaning:
      'the request or its body is not what the protocol allows (schema, JSON, path, an invalid partner address)',
    surfaces: FA,
  },
  FED_TOO_LARGE: {
    status: 413,
    kind: 'user',
    meaning: 'the request body is larger than the configured limit',
    surfaces: FA,
  },

  // uuru-fed/2: signatures
  FED_SIGNATURE_MISSING: {
    status: 401,
    kind: 'user',
    meaning: 'the request is not signed',
    surfaces: ['federation'],
  },
  FED_MALFORMED_SIGNATURE: {
    status: 400,
    kind: 'user',
    meaning: 'the Signature or Signature-Input header cannot be parsed or lacks required parameters',
    surfaces: ['federation'],
  },
  FED_CLOCK_SKEW: {
    status: 401,
    kind: 'user',
    meaning: 'the signature is outside its time window (the answer carries server_time)',
    surfaces: ['federation'],
  },
  FED_DIGEST_MISMATCH: {
    status: 401,
    kind: 'user',
    meaning: 'Content-Digest does not match the body',
    surfaces: ['federation'],
  },
  FED_DESTINATION_MISMATCH: {
    status: 401,
    kind: 'user',
    meaning: 'the request was signed for another host',
    surfaces: ['federation'],
  },
  FED_SIGNER_MISMATCH: {
    status: 401,
    kind: 'user',
    meaning: 'the keyid names another server than the partner the record belongs to',
    surfaces: ['federation'],
  },
  FED_UNKNOWN_KEY: {
    status: 401,
    kind: 'user',
    meaning: 'the signing key is not (or not yet) trusted for that partner',
    surfaces: ['federation'],
  },
  FED_SIGNATURE_INVALID: {
    status: 401,
    kind: 'user',
    meaning: 'the signature does not verify',
    surfaces: ['federation'],
  },
  FED_REPLAY: {
    status: 401,
    kind: 'user',
    meaning: 'the nonce was used before',
    surfaces: ['federation'],
  },
  FED_KEY_FETCH_FAILED: {
    status: 503,
    kind: 'operational',
    meaning: "the partner's descriptor (its keys) could not be fetched; retry later",
    surfaces: FA,
  },

  // uuru-fed/2: the state machine
  FED_RATE_LIMITED: {
    status: 429,
    kind: 'user',
    meaning:
      'too many requests from this address or origin, or the unsolicited budget is spent (Retry-After)',
    surfaces: FA,
  },
  FED_POLICY_DENIED: {
    status: 403,
    kind: 'user',
    meaning: 'the policy does not admit this partner or dialect',
    surfaces: FA,
  },
  FED_NOT_PEERED: {
    status: 403,
    kind: 'user',
    meaning: 'the signer is not an active v2 peer of this instance',
    surfaces: ['federation'],
  },
  FED_UPGRADE_BINDING_INVALID: {
    status: 403,
    kind: 'user',
    meaning:
      "a v1 → v2 upgrade's binding does not match the v1 peering's secret (the other side is not the v1 partner); nothing changed",
    surfaces: ['federation'],
  },
  FED_NAME_CONFLICT: {
    status: 409,
    kind: 'user',
    meaning: 'the peering name is in use (by another partner, request or peer)',
    surfaces: FA,
  },
  FED_ALREADY_PEERED: {
    status: 409,
    kind: 'user',
    meaning: 'this instance already peers with that partner',
    surfaces: FA,
  },
  FED_STATE_CONFLICT: {
    status: 409,
    kind: 'user',
    meaning: 'the request or peering is in a state that does not allow this (or changed meanwhile)',
    surfaces: FA,
  },
  FED_UNKNOWN_REQUEST: {
    status: 404,
    kind: 'user',
    meaning: 'no such peering request (for this partner)',
    surfaces: FA,
  },
  FED_UNKNOWN_PEER: {
    status: 404,
    kind: 'user',
    meaning: 'no such peer (for this partner); also the CLI for a peer name or id it cannot find',
    surfaces: ['federation', 'admin', 'cli'],
  },
  FED_PEER_MAP_INVALID: {
    status: 502,
    kind: 'operational',
    meaning:
      "a partner's published peer map (descriptor peer_map) breaks its rules (size, server names, states): none of it is shown",
    surfaces: ['admin'],
  },
  FED_ROTATION_UNAVAILABLE: {
    status: 409,
    kind: 'user',
    meaning:
      'a forced trunk secret rotation is not possible for this peering: it is v1 or on a fixed secret, its epochs are too short for the overlap, or the moment asked for does not fit',
    surfaces: ['federation', 'admin', 'cli'],
  },
  FED_ROTATION_PENDING: {
    status: 409,
    kind: 'user',
    meaning:
      'a forced trunk secret rotation agreed before is not over yet (its overlap has not ended), or the partner counts a different one',
    surfaces: ['federation', 'admin', 'cli'],
  },
  FED_UNKNOWN_PARTNER: {
    status: 404,
    kind: 'user',
    meaning: 'no partner of that server name (host[:port]) or peer id: none is peered, asked or called',
    surfaces: ['admin', 'cli'],
  },
  FED_UNAVAILABLE: {
    status: 503,
    kind: 'operational',
    meaning: 'this sidecar cannot serve now: it is starting or its database is unreachable; retry shortly',
    surfaces: ['federation', 'admin', 'cli'],
  },
  VALKEY_UNAVAILABLE: {
    status: 503,
    kind: 'operational',
    meaning:
      'the Valkey/Redis server of the replicas (UURU_HA_VALKEY_URL) does not answer: panel sign-ins and session requests are refused until it does (API tokens still work)',
    surfaces: ['admin', 'internal'],
  },
  PHONEBOOK_UNAVAILABLE: {
    status: 503,
    kind: 'operational',
    meaning: 'the configured phonebook source cannot be read',
    surfaces: FA,
  },

  // Admin actions on peerings
  FED_PREFIX_INVALID: {
    status: 400,
    kind: 'user',
    meaning: 'the dial prefix is missing or not digits of an allowed length',
    surfaces: ['admin'],
  },
  PREFIX_CONFLICT: {
    status: 409,
    kind: 'user',
    meaning: 'the dial prefix overlaps another peer, local extensions or emergency numbers',
    surfaces: ['admin'],
  },
  FED_DIALECT_UNAVAILABLE: {
    status: 400,
    kind: 'user',
    meaning: 'the partner does not offer the requested (or any common) dialect',
    surfaces: ['admin'],
  },
  FED_V1_IAX2_PORT: {
    status: 409,
    kind: 'user',
    meaning: 'v1 cannot carry our IAX2 port, which is not 4569',
    surfaces: ['admin'],
  },
  FED_AGREEMENT_KEY_UNKNOWN: {
    status: 409,
    kind: 'user',
    meaning: "the partner's agreement key named in the request is no longer known; refresh its keys",
    surfaces: ['admin'],
  },
  FED_PARTNER_REFUSED: {
    status: 409,
    kind: 'user',
    meaning: "the partner refused (its answer's code is not ours, or v1); the message quotes it",
    surfaces: ['admin'],
  },
  FED_PARTNER_UNREACHABLE: {
    status: 502,
    kind: 'operational',
    meaning:
      'the partner could not be reached or did not take the request: no answer, a timeout, an unreadable descriptor, 401 or 5xx (for a v1 accept also 408 and 429); nothing was stored',
    surfaces: ['admin', 'cli'],
  },
  FED_PARTNER_ANSWER_TOO_LARGE: {
    status: 502,
    kind: 'operational',
    meaning: "the partner's answer exceeded the size limit",
    surfaces: ['admin'],
  },
  POLICY_INVALID: {
    status: 400,
    kind: 'user',
    meaning: 'the policy does not match its schema',
    surfaces: ['admin'],
  },

  // Admin API and panel: requests, credentials
  VALIDATION_FAILED: {
    status: 400,
    kind: 'user',
    meaning: 'a field of the path, query or body is invalid (details.issues names each)',
    surfaces: ['admin'],
  },
  INVALID_JSON: {
    status: 400,
    kind: 'user',
    meaning: 'the request body is not valid JSON',
    surfaces: ['admin'],
  },
  UNSUPPORTED_ENCODING: {
    status: 415,
    kind: 'user',
    meaning: 'the request body is not UTF-8 or has an unsupported Content-Encoding',
    surfaces: ['admin'],
  },
  BAD_REQUEST: {
    status: 400,
    kind: 'user',
    meaning: 'the request cannot be read (cut off, or a length that does not match)',
    surfaces: ['admin'],
  },
  AUTH_REQUIRED: {
    status: 401,
    kind: 'user',
    meaning: 'no credentials, or the panel session ended',
    surfaces: ['admin'],
  },
  AUTH_INVALID: {
    status: 401,
    kind: 'user',
    meaning: 'the token, or the username and password, are not valid',
    surfaces: ['admin'],
  },
  CSRF_INVALID: {
    status: 403,
    kind: 'user',
    meaning: 'a panel session changed something without a valid X-CSRF-Token',
    surfaces: ['admin'],
  },
  LOGIN_THROTTLED: {
    status: 429,
    kind: 'user',
    meaning: 'too many failed sign-ins; retry after Retry-After',
    surfaces: ['admin'],
  },

  // CLI administration
  PASSWORD_TOO_SHORT: {
    status: 400,
    kind: 'user',
    meaning: 'the admin password is shorter than the minimum',
    surfaces: ['cli'],
  },
  PASSWORD_TOO_LONG: {
    status: 400,
    kind: 'user',
    meaning: 'the admin password is longer than the maximum',
    surfaces: ['cli'],
  },
  USERNAME_INVALID: {
    status: 400,
    kind: 'user',
    meaning: 'a username is 1 to 64 letters, digits or . _ @ -',
    surfaces: ['cli'],
  },
  TOKEN_NAME_INVALID: {
    status: 400,
    kind: 'user',
    meaning: 'a token name is 1 to 64 letters, digits, spaces or . _ -',
    surfaces: ['cli'],
  },
  ADMIN_EXISTS: {
    status: 409,
    kind: 'user',
    meaning: 'an admin with that name exists (replace it explicitly)',
    surfaces: ['cli'],
  },
  ADMIN_NOT_FOUND: {
    status: 404,
    kind: 'user',
    meaning: 'no admin account with that id (or, in the CLI, that name)',
    surfaces: ['admin', 'cli'],
  },
  TOKEN_NOT_FOUND: {
    status: 404,
    kind: 'user',
    meaning: 'no API token with that id (or, in the CLI, that name)',
    surfaces: ['admin', 'cli'],
  },
  CLI_DATABASE_MISSING: {
    status: 404,
    kind: 'user',
    meaning:
      'the CLI found no sidecar database where the configuration points (UURU_DATA_DIR, UURU_DATABASE_*); --init creates one',
    surfaces: ['cli'],
  },
  // uuru-fed adopt (taking over a stock µURU deployment); nothing is changed when one is raised
  ADOPT_SCHEMA_UNKNOWN: {
    status: 409,
    kind: 'user',
    meaning:
      "µURU's application database is at a schema version (alembic_version) this sidecar does not know",
    surfaces: ['cli'],
  },
  ADOPT_NAME_CONFLICT: {
    status: 409,
    kind: 'user',
    meaning:
      'a µURU peering or request has the name (or request id) of a different peer or request of the sidecar',
    surfaces: ['cli'],
  },
  ADOPT_PREFIX_CONFLICT: {
    status: 409,
    kind: 'user',
    meaning: "a µURU peering's dial prefix overlaps a prefix the sidecar (or another µURU peering) uses",
    surfaces: ['cli'],
  },
  ADOPT_EMPTY_PREFIX: {
    status: 409,
    kind: 'user',
    meaning: 'a µURU peering or request has an empty dial prefix (its pattern would take local numbers)',
    surfaces: ['cli'],
  },
  ADOPT_HALF_DONE: {
    status: 409,
    kind: 'user',
    meaning:
      "µURU's two databases disagree: a peer without its iaxfriends or dial plan row, or such a row without its peer",
    surfaces: ['cli'],
  },
  ADOPT_UNSUPPORTED_VALUE: {
    status: 409,
    kind: 'user',
    meaning: 'a µURU record holds a value the sidecar cannot carry (name, prefix, address, codec)',
    surfaces: ['cli'],
  },
  ADOPT_SOURCE_UNAVAILABLE: {
    status: 503,
    kind: 'operational',
    meaning: "one of µURU's databases cannot be reached or read",
    surfaces: ['cli'],
  },
  CLI_AMBIGUOUS_NAME: {
    status: 409,
    kind: 'user',
    meaning: 'the CLI was given a name that several requests or tokens share; give the id instead',
    surfaces: ['cli'],
  },
  CLI_CONFIRMATION_REQUIRED: {
    status: 400,
    kind: 'user',
    meaning:
      'a destructive CLI command was not confirmed: answer the prompt on a terminal, or pass --yes in scripts',
    surfaces: ['cli'],
  },

  // Asterisk
  ASTERISK_INVALID_VALUE: {
    status: 400,
    kind: 'user',
    meaning: 'a value would not be safe in an Asterisk configuration (name, host, digits)',
    surfaces: ['admin', 'internal'],
  },
  ASTERISK_NOT_CONNECTED: {
    status: 503,
    kind: 'operational',
    meaning: 'the Asterisk link (AMI/ARI) is down',
    surfaces: ['admin', 'internal'],
  },
  ASTERISK_RELOAD_FAILED: {
    status: 503,
    kind: 'operational',
    meaning: 'Asterisk did not reload a module',
    surfaces: ['admin', 'internal'],
  },
  ASTERISK_CONFIG_DIR_UNWRITABLE: {
    status: 503,
    kind: 'operational',
    meaning: 'the Asterisk configuration folder cannot be written',
    surfaces: ['admin', 'internal'],
  },
  ASTERISK_REALTIME_DB: {
    status: 503,
    kind: 'operational',
    meaning: "Asterisk's realtime database is unreachable",
    surfaces: ['admin', 'internal'],
  },
  ASTERISK_REALTIME_CHARSET: {
    status: 503,
    kind: 'operational',
    meaning:
      "Asterisk's realtime columns cannot hold a peer's values (character set): that peer fails (apply_error), the others apply",
    surfaces: ['admin', 'internal'],
  },
  ASTERISK_REALTIME_SCHEMA: {
    status: 503,
    kind: 'operational',
    meaning: "Asterisk's realtime tables are missing or lack columns",
    surfaces: ['admin', 'internal'],
  },

  // Our own state
  FED_NO_LOCAL_KEY: {
    status: 500,
    kind: 'bug',
    meaning: 'no active key of ours (ensureKeys() was not run)',
    surfaces: ['internal'],
  },
  FED_KEY_DECRYPT_FAILED: {
    status: 500,
    kind: 'bug',
    meaning: 'a stored private key or secret cannot be decrypted (wrong or missing key-encryption secret)',
    surfaces: ['internal', 'cli'],
    stopsStartup: true,
  },
  CONFIG_VALKEY_URL: {
    status: 400,
    kind: 'user',
    meaning:
      'UURU_HA_VALKEY_URL is not a redis:// or rediss:// address (host, optional port, password and database number), or is set without UURU_HA_ENABLED',
    surfaces: ['internal', 'cli'],
  },
  DB_CHARSET_UNSUPPORTED: {
    status: 503,
    kind: 'operational',
    meaning: 'the MariaDB/MySQL database cannot store full Unicode (utf8mb4)',
    surfaces: ['internal', 'cli'],
    stopsStartup: true,
  },

  // v1 (stock µURU): the answer is {"detail": text} with this status
  V1_BAD_REQUEST: {
    status: 400,
    kind: 'user',
    meaning: 'an accept lacks the fields µURU requires',
    surfaces: ['v1'],
  },
  V1_FORBIDDEN: {
    status: 403,
    kind: 'user',
    meaning: "µURU's refusal: unknown request or peer, wrong secret, policy, name or port conflict",
    surfaces: ['v1'],
  },
  V1_UNPROCESSABLE: {
    status: 422,
    kind: 'user',
    meaning: 'the body or path fails validation, as FastAPI answers it',
    surfaces: ['v1'],
  },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCatalogue = typeof ERROR_CATALOGUE;
export type ErrorCode = keyof ErrorCatalogue;
/** The status a code answers with, as a literal type. */
export type StatusOf<C extends ErrorCode> = ErrorCatalogue[C]['status'];

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERROR_CATALOGUE, code);
}

export function errorSpec(code: ErrorCode): ErrorSpec {
  return ERROR_CATALOGUE[code];
}

/** Every code in catalogue order. */
export const ERROR_CODES = Object.keys(ERROR_CATALOGUE) as ErrorCode[];
