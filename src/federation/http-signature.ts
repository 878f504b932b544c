import { randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import { contentDigest } from './content-digest';
import {
  type BareItem,
  type Dictionary,
  type InnerList,
  type Item,
  parseDictionary,
  serializeInnerList,
} from 'structured-headers';

/**
 * RFC 9421 HTTP Message Signatures, as far as uuru-fed/2 needs them: Ed25519
 * only, derived components of requests and plain header fields (no component
 * parameters such as ;sf or ;req). The generic pieces (signature base,
 * parsing) follow the RFC so its test vectors reproduce; the uuru-fed/2
 * profile (label sig1, tag, required parameters and components) is applied
 * in signRequest and parseUuruSignature.
 *
 * Structured fields (RFC 8941 / RFC 9651: the Signature-Input, Signature and
 * Content-Digest dictionaries, the @signature-params line) go through the
 * `structured-headers` package, which runs the HTTP working group's test
 * suite; a parser of our own at this boundary was one more thing to get
 * wrong. One limit of that package matters here: it keeps numbers as plain
 * JavaScript numbers, so a decimal without a fraction (`2.0`) reads as the
 * integer 2 and serializes as `2`. uuru-fed/2 signs only integers and
 * strings, so this costs nothing: `created=1234.0` is read as the 1234 the
 * base was signed with (the hand-written parser refused it), and a real
 * fraction is still refused as not an integer.
 */

export const SIGNATURE_LABEL = 'sig1';
export const SIGNATURE_TAG = 'uuru-fed/2';
export const SIGNATURE_ALG = 'ed25519';
/** `expires` = `created` + this, seconds. */
export const SIGNATURE_LIFETIME_SEC = 60;

export interface SigningKey {
  /** "<server_name>#<kid>" */
  keyId: string;
  privateKey: KeyObject;
}

export type SignatureFailure =
  | 'FED_SIGNATURE_MISSING'
  | 'FED_MALFORMED_SIGNATURE'
  | 'FED_CLOCK_SKEW'
  | 'FED_DIGEST_MISMATCH'
  | 'FED_DESTINATION_MISMATCH'
  | 'FED_SIGNER_MISMATCH'
  | 'FED_UNKNOWN_KEY'
  | 'FED_SIGNATURE_INVALID'
  | 'FED_REPLAY'
  | 'FED_KEY_FETCH_FAILED';

/** The parts of a request message the signature base is built from. */
export interface SignableMessage {
  method: string;
  /** Absolute URI of the request. */
  targetUri: string;
  headers: Record<string, string | string[] | undefined>;
}

export class SignatureBaseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SignatureBaseError';
  }
}

/** Joins repeated header lines the way HTTP combines them. */
export function headerValue(v: string | string[] | undefined): string | undefined {
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v.join(', ') : v;
}

/** A dictionary member is an inner list when its value is itself a list of items. */
export function isInnerList(member: Item | InnerList): member is InnerList {
  return Array.isArray(member[0]);
}

function lowerCaseHeaders(h: SignableMessage['headers']): Map<string, string | string[]> {
  const out = new Map<string, string | string[]>();
  for (const [k, v] of Object.entries(h)) if (v !== undefined) out.set(k.toLowerCase(), v);
  return out;
}

/** The target URI parsed once per signature base (each derived component reads it). */
function targetUrlOf(msg: SignableMessage): URL {
  try {
    return new URL(msg.targetUri);
  } catch {
    throw new SignatureBaseError('the target URI is not an absolute URI');
  }
}

/** The value of one covered component (RFC 9421 §2.1, §2.2). */
function componentValue(
  name: string,
  msg: SignableMessage,
  headers: Map<string, string | string[]>,
  target: () => URL,
): string {
  if (name.startsWith('@')) {
    if (name === '@method') return msg.method.toUpperCase();
    const url = target();
    switch (name) {
      case '@target-uri':
        return url.href;
      case '@authority':
        return url.host.toLowerCase();
      case '@scheme':
        return url.protocol.slice(0, -1).toLowerCase();
      case '@request-target':
        return `${url.pathname || '/'}${url.search}`;
      case '@path':
        return url.pathname || '/';
      case '@query':
        return url.search === '' ? '?' : url.search;
      default:
        throw new SignatureBaseError(`unsupported derived component ${name}`);
    }
  }
  const raw = headers.get(name);
  if (raw === undefined) throw new SignatureBaseError(`covered header ${name} is missing`);
  const lines = Array.isArray(raw) ? raw : [raw];
  // RFC 9421 §2.1: trim each field line, join multiple lines with ", ", fold obs-fold.
  return lines.map((l) => l.replace(/\r?\n[ \t]+/g, ' ').trim()).join(', ');
}

/**
 * The signature base (RFC 9421 §2.5) for the covered components and
 * signature parameters. Throws SignatureBaseError when a component cannot be
 * resolved (a covered header is absent, an unsupported derived component).
 */
export function createSignatureBase(signatureParams: InnerList, msg: SignableMessage): string {
  const headers = lowerCaseHeaders(msg.headers);
  let url: URL | null = null;
  const target = (): URL => (url ??= targetUrlOf(msg));
  const lines: string[] = [];
  const seen = new Set<string>();
  const [items] = signatureParams;
  for (const [name, params] of items) {
    if (typeof name !== 'string') throw new SignatureBaseError('component identifiers must be strings');
    if (params.size > 0) throw new SignatureBaseError('component parameters are not supported');
    if (name !== name.toLowerCase()) throw new SignatureBaseError(`component ${name} must be lower case`);
    if (seen.has(name)) throw new SignatureBaseError(`component ${name} is covered twice`);
    seen.add(name);
    const value = componentValue(name, msg, headers, target);
    if (/[\r\n]/.test(value)) throw new SignatureBaseError(`component ${name} contains a line break`);
    lines.push(`"${name}": ${value}`);
  }
  let signatureParamsLine: string;
  try {
    signatureParamsLine = serializeInnerList(signatureParams);
  } catch (e) {
    // Only reachable with values built in code (parsed ones always serialize).
    throw new SignatureBaseError(`the signature parameters cannot be serialized: ${(e as Error).message}`);
  }
  lines.push(`"@signature-params": ${signatureParamsLine}`);
  return lines.join('\n');
}

/** Builds the inner list of a signature's parameters from component names and parameter values. */
export function signatureParamsList(
  components: string[],
  params: Array<[string, string | number]>,
): InnerList {
  // A JavaScript number with no fraction serializes as an integer, a string as a string.
  const items: Item[] = components.map((c) => [c, new Map()]);
  return [items, new Map<string, BareItem>(params)];
}

export function signBase(base: string, privateKey: KeyObject): Buffer {
  return sign(null, Buffer.from(base, 'utf8'), privateKey);
}

export function verifyBase(base: string, signature: Buffer, publicKey: KeyObject): boolean {
  if (signature.length !== 64) return false;
  try {
    return verify(null, Buffer.from(base, 'utf8'), publicKey, signature);
  } catch {
    return false;
  }
}

/** Components uuru-fed/2 covers: content-digest and content-type only with a body. */
export function requiredComponents(hasBody: boolean): string[] {
  return hasBody ? ['@method', '@target-uri', 'content-digest', 'content-type'] : ['@method', '@target-uri'];
}

function bodyBuffer(body: Buffer | string | undefined): Buffer | undefined {
  if (body === undefined) return undefined;
  const b = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  return b.length === 0 ? undefined : b;
}

/**
 * Signs a request the uuru-fed/2 way and returns the headers to add. The
 * caller must send exactly `body` (same bytes) to exactly `url`.
 * `expiresInSec` exists so tests can probe the `created` window on its own.
 */
export function signRequest(p: {
  method: string;
  url: string;
  body?: Buffer | string;
  contentType?: string;
  key: SigningKey;
  now: number;
  nonce?: string;
  expiresInSec?: number;
}): Record<string, string> {
  const body = bodyBuffer(p.body);
  const created = Math.floor(p.now / 1000);
  const out: Record<string, string> = {};
  if (body) {
    out['Content-Digest'] = contentDigest(body);
    out['Content-Type'] = p.contentType ?? 'application/json';
  }
  const params = signatureParamsList(requiredComponents(body !== undefined), [
    ['created', created],
    ['expires', created + (p.expiresInSec ?? SIGNATURE_LIFETIME_SEC)],
    ['nonce', p.nonce ?? randomBytes(16).toString('base64url')],
    ['keyid', p.key.keyId],
    ['alg', SIGNATURE_ALG],
    ['tag', SIGNATURE_TAG],
  ]);
  const base = createSignatureBase(params, { method: p.method, targetUri: p.url, headers: out });
  const sig = signBase(base, p.key.privateKey);
  out['Signature-Input'] = `${SIGNATURE_LABEL}=${serializeInnerList(params)}`;
  out['Signature'] = `${SIGNATURE_LABEL}=:${sig.toString('base64')}:`;
  return out;
}

/** A uuru-fed/2 signature, parsed and checked for shape (not yet for validity). */
export interface ParsedSignature {
  params: InnerList;
  components: string[];
  created: number;
  expires: number;
  nonce: string;
  keyId: string;
  serverName: string;
  kid: string;
  signature: Buffer;
}

export class SignatureParseError extends Error {
  constructor(
    readonly code: 'FED_SIGNATURE_MISSING' | 'FED_MALFORMED_SIGNATURE',
    message: string,
  ) {
    super(message);
    this.name = 'SignatureParseError';
  }
}

const NONCE = /^[A-Za-z0-9_-]{16,64}$/;
const KID = /^[A-Za-z0-9._-]{1,64}$/;

function param(list: InnerList, name: string): BareItem | undefined {
  return list[1].get(name);
}

function isInteger(v: BareItem | undefined): v is number {
  return typeof v === 'number' && Number.isInteger(v);
}

function malformed(message: string): never {
  throw new SignatureParseError('FED_MALFORMED_SIGNATURE', message);
}

/**
 * Parses the sig1 signature of a request and checks the uuru-fed/2 profile:
 * required parameters, tag, alg, keyid shape, covered components.
 */
export function parseUuruSignature(headers: SignableMessage['headers'], hasBody: boolean): ParsedSignature {
  const h = lowerCaseHeaders(headers);
  const inputHeader = headerValue(h.get('signature-input'));
  const sigHeader = headerValue(h.get('signature'));
  if (inputHeader === undefined || sigHeader === undefined) {
    throw new SignatureParseError(
      'FED_SIGNATURE_MISSING',
      'this call must be signed (Signature-Input and Signature headers, RFC 9421)',
    );
  }
  let inputs: Dictionary;
  let sigs: Dictionary;
  try {
    inputs = parseDictionary(inputHeader);
    sigs = parseDictionary(sigHeader);
  } catch (e) {
    // Whatever the parser throws on a sender's header means we cannot read it: refuse, never a 500.
    malformed(`Signature-Input or Signature is not a valid dictionary: ${(e as Error).message}`);
  }
  const input = inputs.get(SIGNATURE_LABEL);
  const sigMember = sigs.get(SIGNATURE_LABEL);
  if (input === undefined || sigMember === undefined) {
    malformed(`no signature labelled ${SIGNATURE_LABEL} in both Signature-Input and Signature`);
  }
  if (!isInnerList(input)) malformed('Signature-Input sig1 must be an inner list');
  const sigValue = sigMember[0];
  if (!(sigValue instanceof ArrayBuffer)) malformed('Signature sig1 must be a byte sequence');
  const signature = Buffer.from(sigValue);
  if (signature.length !== 64) malformed('an ed25519 signature is 64 bytes');

  const components: string[] = [];
  for (const [name, params] of input[0]) {
    if (typeof name !== 'string' || params.size > 0) malformed('covered components must be plain strings');
    components.push(name);
  }
  for (const c of requiredComponents(hasBody)) {
    if (!components.includes(c)) malformed(`the signature must cover "${c}"`);
  }

  const created = param(input, 'created');
  const expires = param(input, 'expires');
  const nonce = param(input, 'nonce');
  const keyid = param(input, 'keyid');
  const alg = param(input, 'alg');
  const tag = param(input, 'tag');
  // Strings are JavaScript strings; tokens are Token objects, so typeof tells them apart.
  if (!isInteger(created)) malformed('created must be an integer');
  if (!isInteger(expires)) malformed('expires must be an integer');
  if (expires <= created) malformed('expires must be after created');
  if (typeof nonce !== 'string' || !NONCE.test(nonce)) malformed('nonce must be a base64url string');
  if (typeof keyid !== 'string') malformed('keyid must be a string');
  if (alg !== SIGNATURE_ALG) malformed(`alg must be "${SIGNATURE_ALG}"`);
  if (tag !== SIGNATURE_TAG) malformed(`tag must be "${SIGNATURE_TAG}"`);
  const hash = keyid.lastIndexOf('#');
  const serverName = keyid.slice(0, hash).toLowerCase();
  const kid = keyid.slice(hash + 1);
  if (hash <= 0 || !KID.test(kid)) malformed('keyid must be "<server_name>#<kid>"');

  return {
    params: input,
    components,
    created,
    expires,
    nonce,
    keyId: keyid,
    serverName,
    kid,
    signature,
  };
}
