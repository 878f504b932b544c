import { MAX_EPOCH_SECONDS, MIN_EPOCH_SECONDS } from '../core/trunk-secret-epochs';
import { CODECS, type Codec } from '../config/schema';
import { AppError } from '../core/errors';
import { isHostnameOrIp, isPort } from '../core/network-address';
import { isAsteriskPeerName, PEERING_NAME_PATTERN, V1_PEERING_NAME_RULE } from '../core/peering-name';

/**
 * Every value that ends up in an Asterisk config file or realtime row passes
 * through here first. The rules are allow-lists: a newline, `;`, `[`, `]`, `=`,
 * `#`, `$`, `,`, `/`, a space, NUL or another control character can never
 * satisfy them, so nothing a partner sends can change the structure of what
 * we write. Only a name may hold letters beyond ASCII (a v1 partner's Unicode
 * word characters, none of which is syntax to Asterisk); every other field is
 * ASCII.
 */

export const INVALID_VALUE = 'ASTERISK_INVALID_VALUE';

const DIGITS = /^[0-9]{1,16}$/;
/** b64url (v2 derived secrets) and alphanumerics (v1); 40 fits iaxfriends.secret varchar(40). */
const SECRET = /^[A-Za-z0-9_-]{16,40}$/;
const BLOCKED_EXTEN = /^(?:[0-9]{1,16}|_(?:[0-9X]|\[[0-9]-[0-9]\]){1,16})$/;

/** The refusal for one field. The value itself is never echoed: it may be a secret or hostile. */
export function invalidValue(field: string, reason: string, subject?: string): AppError {
  const who = subject && PEERING_NAME_PATTERN.test(subject) ? ` of peer ${subject}` : '';
  return new AppError(INVALID_VALUE, `${field}${who} is not valid: ${reason}`, { details: { field } });
}

export function assertName(field: string, value: unknown, subject?: string): string {
  // A v1 partner's name may be Unicode word characters: IAX2 authenticates by the exact name, so it is
  // written as it is; none of its characters is syntax to Asterisk, and its byte length fits a section name.
  if (!isAsteriskPeerName(value)) throw invalidValue(field, `expected ${V1_PEERING_NAME_RULE}`, subject);
  return value;
}

export function assertDigits(field: string, value: unknown, subject?: string): string {
  if (typeof value !== 'string' || !DIGITS.test(value)) {
    throw invalidValue(field, 'expected 1 to 16 digits 0-9', subject);
  }
  return value;
}

export function assertPort(field: string, value: unknown, subject?: string): number {
  if (!isPort(value)) {
    throw invalidValue(field, 'expected a whole number from 1 to 65535', subject);
  }
  return value;
}

export function assertIntInRange(
  field: string,
  value: unknown,
  min: number,
  max: number,
  subject?: string,
): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalidValue(field, `expected a whole number from ${min} to ${max}`, subject);
  }
  return value;
}

export function assertCodec(field: string, value: unknown, subject?: string): Codec {
  if (typeof value !== 'string' || !(CODECS as readonly string[]).includes(value)) {
    throw invalidValue(field, `expected one of ${CODECS.join(', ')}`, subject);
  }
  return value as Codec;
}

export function assertSecret(field: string, value: unknown, subject?: string): string {
  if (typeof value !== 'string' || !SECRET.test(value)) {
    throw invalidValue(field, 'expected 16 to 40 characters from A-Z, a-z, 0-9, _ and -', subject);
  }
  return value;
}

/** A DNS hostname (ASCII labels only) or an IPv4/IPv6 address: the rule the federation layer applies on receipt. */
export function assertHost(field: string, value: unknown, subject?: string): string {
  if (isHostnameOrIp(value)) return value;
  throw invalidValue(field, 'expected a hostname or an IP address', subject);
}

/** A hang-up extension of a blocked local number: digits, or `_` and digits, X and [a-b] classes. */
export function assertBlockedExten(field: string, value: unknown): string {
  if (typeof value !== 'string' || !BLOCKED_EXTEN.test(value)) {
    throw invalidValue(field, 'expected digits, or _ followed by digits, X and [a-b] classes');
  }
  return value;
}

/** The peer fields the Asterisk layer writes, validated together. */
export interface PeerInput {
  name: string;
  prefix: string;
  partnerIaxHost: string;
  partnerIaxPort: number;
  partnerExtensionLength: number;
  codec: string;
  /** The root secret (v2 with epochs: what the epoch secrets are derived from). */
  secret: string;
  /** The agreed trunk secret epoch length (seconds), or null/absent: `secret` as it is. */
  secretEpochSeconds?: number | null;
  /** A v1 → v2 upgrade going on: the v1 secret, sent until secretSwitchAt and accepted for the overlap after it. */
  previousSecret?: string | null;
  secretSwitchAt?: number | null;
  /** Forced rotations (src/core/trunk-secret-epochs.ts, EpochSchedule); absent: none. */
  secretEpochOffset?: number;
  secretShiftAt?: number | null;
  /** An agreement key rotation: the root of the periods from nextSecretFrom on (NextRoot); absent: none. */
  nextSecret?: string | null;
  nextSecretFrom?: number | null;
}

export interface ValidPeer {
  name: string;
  prefix: string;
  host: string;
  port: number;
  extensionLength: number;
  codec: Codec;
  /** The secret sent on outgoing calls (and accepted). */
  secret: string;
  /** On epochs: the epoch whose secret is sent (src/core/trunk-secret-epochs.ts). */
  sendEpoch?: number | null;
  /** On epochs: the epochs whose secrets are accepted inbound now, with their secrets. */
  acceptEpochs?: { epoch: number; secret: string }[];
  /**
   * After a v1 → v2 upgrade's switch, during the overlap: the v1 secret, still
   * accepted inbound under the peering name (the friend's first secret line;
   * the sent one is the last). See withEpochSecrets.
   */
  alsoAcceptFirst?: string;
  secretEpochSeconds: number | null;
  previousSecret: string | null;
  secretSwitchAt: number | null;
  nextSecret: string | null;
  nextSecretFrom: number | null;
}

/** null for an absent value (null or undefined), else the value checked. */
const unlessAbsent = <V, T>(v: V | null | undefined, check: (v: V) => T): T | null =>
  v === null || v === undefined ? null : check(v);

/**
 * Validates a peer before anything is written. The federation layer can call
 * this before it stores a peer; the Asterisk layer calls it again before it
 * renders one, so a bad row in the database is refused too.
 */
export function validatePeer(p: PeerInput): ValidPeer {
  const name = assertName('name', p.name);
  return {
    name,
    prefix: assertDigits('prefix', p.prefix, name),
    host: assertHost('partnerIaxHost', p.partnerIaxHost, name),
    port: assertPort('partnerIaxPort', p.partnerIaxPort, name),
    extensionLength: assertIntInRange('partnerExtensionLength', p.partnerExtensionLength, 1, 12, name),
    codec: assertCodec('codec', p.codec, name),
    secret: assertSecret('secret', p.secret, name),
    secretEpochSeconds: unlessAbsent(p.secretEpochSeconds, (v) =>
      assertIntInRange('secretEpochSeconds', v, MIN_EPOCH_SECONDS, MAX_EPOCH_SECONDS, name),
    ),
    previousSecret: unlessAbsent(p.previousSecret, (v) => assertSecret('previousSecret', v, name)),
    secretSwitchAt: unlessAbsent(p.secretSwitchAt, (v) =>
      assertIntInRange('secretSwitchAt', v, 0, Number.MAX_SAFE_INTEGER, name),
    ),
    nextSecret: unlessAbsent(p.nextSecret, (v) => assertSecret('nextSecret', v, name)),
    nextSecretFrom: unlessAbsent(p.nextSecretFrom, (v) =>
      assertIntInRange('nextSecretFrom', v, 0, Number.MAX_SAFE_INTEGER, name),
    ),
  };
}
