import { createPrivateKey, createPublicKey } from 'node:crypto';
import { contentDigest, verifyContentDigest } from '../../src/federation/content-digest';
import { type InnerList, parseDictionary, ParseError, serializeInnerList } from 'structured-headers';
import {
  createSignatureBase,
  isInnerList,
  signatureParamsList,
  signBase,
  verifyBase,
  type SignableMessage,
} from '../../src/federation/http-signature';

/**
 * Test vectors from the RFCs themselves: RFC 9421 Appendix B.2.6 (ed25519 over
 * the B.2 test request with the B.1.4 test key) and the Content-Digest values
 * of RFC 9530 for the body {"hello": "world"}.
 */

// RFC 9421 B.1.4 "test-key-ed25519" (PKCS#8 / SPKI as printed in the RFC).
const TEST_KEY_ED25519_PRIVATE = `-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF
-----END PRIVATE KEY-----`;
const TEST_KEY_ED25519_PUBLIC = `-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=
-----END PUBLIC KEY-----`;

// RFC 9421 B.2 test request.
const TEST_BODY = '{"hello": "world"}';
const testRequest: SignableMessage = {
  method: 'POST',
  targetUri: 'https://example.com/foo?param=Value&Pet=dog',
  headers: {
    Host: 'example.com',
    Date: 'Tue, 20 Apr 2021 02:07:55 GMT',
    'Content-Type': 'application/json',
    'Content-Digest':
      'sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:',
    'Content-Length': '18',
  },
};

const B26_SIGNATURE_INPUT =
  'sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519"';
const B26_SIGNATURE =
  'sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:';
/** The sig-b26 member of the B.2.6 Signature-Input, which must be an inner list. */
function b26Input(): InnerList {
  const input = parseDictionary(B26_SIGNATURE_INPUT).get('sig-b26');
  if (input === undefined || !isInnerList(input)) throw new Error('sig-b26 must parse as an inner list');
  return input;
}

const B26_BASE = [
  '"date": Tue, 20 Apr 2021 02:07:55 GMT',
  '"@method": POST',
  '"@path": /foo',
  '"@authority": example.com',
  '"content-type": application/json',
  '"content-length": 18',
  '"@signature-params": ("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519"',
].join('\n');

describe('RFC 9421 Appendix B.2.6 (ed25519)', () => {
  const privateKey = createPrivateKey(TEST_KEY_ED25519_PRIVATE);
  const publicKey = createPublicKey(TEST_KEY_ED25519_PUBLIC);

  it('builds the signature base of the RFC from the parsed Signature-Input', () => {
    const input = b26Input();
    expect(createSignatureBase(input, testRequest)).toBe(B26_BASE);
    expect(`sig-b26=${serializeInnerList(input)}`).toBe(B26_SIGNATURE_INPUT);
  });

  it('reproduces the signature value of the RFC (Ed25519 is deterministic)', () => {
    const params = signatureParamsList(
      ['date', '@method', '@path', '@authority', 'content-type', 'content-length'],
      [
        ['created', 1618884473],
        ['keyid', 'test-key-ed25519'],
      ],
    );
    const sig = signBase(createSignatureBase(params, testRequest), privateKey);
    expect(`sig-b26=:${sig.toString('base64')}:`).toBe(B26_SIGNATURE);
  });

  it("verifies the RFC's signature with the public test key, and refuses it for a changed request", () => {
    const sigValue = parseDictionary(B26_SIGNATURE).get('sig-b26')?.[0];
    if (!(sigValue instanceof ArrayBuffer)) throw new Error('sig-b26 must be bytes');
    const signature = Buffer.from(sigValue);
    const input = b26Input();
    expect(verifyBase(createSignatureBase(input, testRequest), signature, publicKey)).toBe(true);
    const changed = { ...testRequest, targetUri: 'https://example.com/bar?param=Value&Pet=dog' };
    expect(verifyBase(createSignatureBase(input, changed), signature, publicKey)).toBe(false);
  });
});

describe('RFC 9530 Content-Digest', () => {
  it('computes the sha-256 example of RFC 9530', () => {
    expect(contentDigest(TEST_BODY)).toBe('sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:');
    expect(contentDigest(Buffer.from(TEST_BODY))).toBe(
      'sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:',
    );
  });

  it('accepts the sha-256 and sha-512 examples, alone and together', () => {
    const body = Buffer.from(TEST_BODY);
    const sha256 = 'sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:';
    const sha512 =
      'sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:';
    expect(verifyContentDigest(sha256, body)).toBe(true);
    expect(verifyContentDigest(sha512, body)).toBe(true);
    expect(verifyContentDigest(`${sha256}, ${sha512}`, body)).toBe(true);
  });

  it('refuses a wrong, missing, malformed or unknown-only digest', () => {
    const body = Buffer.from(TEST_BODY);
    const good = 'sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:';
    expect(verifyContentDigest(good, Buffer.from('{"hello": "world!"}'))).toBe(false);
    expect(verifyContentDigest(undefined, body)).toBe(false);
    expect(verifyContentDigest('', body)).toBe(false);
    expect(verifyContentDigest('sha-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=', body)).toBe(false);
    expect(verifyContentDigest('md5=:CY9rzUYh03PK3k6DJie09g==:', body)).toBe(false);
    // A correct sha-256 does not excuse a wrong sha-512 next to it.
    expect(verifyContentDigest(`${good}, sha-512=:AAAA:`, body)).toBe(false);
    // Truncated digest of the right prefix.
    expect(verifyContentDigest('sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9D:', body)).toBe(false);
  });
});

/**
 * Our own vectors, kept from the hand-written parser this replaced: they pin
 * what the signature code relies on from `structured-headers`.
 */
describe('structured field parsing (RFC 8941 / RFC 9651, through structured-headers)', () => {
  it('parses inner lists with parameters in order, and byte sequences', () => {
    const d = parseDictionary('a=("x" "@y");n=1;s="q\\"uote";t=tok;b, sig=:AQID:');
    const a = d.get('a');
    if (a === undefined || !isInnerList(a)) throw new Error('a must be an inner list');
    const [items, params] = a;
    expect(items.map(([value]) => value)).toEqual(['x', '@y']);
    expect([...params.keys()]).toEqual(['n', 's', 't', 'b']);
    expect(params.get('s')).toBe('q"uote');
    // A token is not a string: the profile checks (alg, tag, keyid) tell them apart by typeof.
    expect(typeof params.get('t')).toBe('object');
    expect(String(params.get('t'))).toBe('tok');
    const sig = d.get('sig')?.[0];
    expect(sig instanceof ArrayBuffer && [...new Uint8Array(sig)]).toEqual([1, 2, 3]);
  });

  it('serializes a signature-params inner list exactly as it was sent', () => {
    const line =
      '("@method" "@target-uri");created=1618884473;expires=1618884533;keyid="a.example#k1";alg="ed25519"';
    const input = parseDictionary(`sig1=${line}`).get('sig1');
    if (input === undefined || !isInnerList(input)) throw new Error('sig1 must be an inner list');
    expect(serializeInnerList(input)).toBe(line);
    expect(
      serializeInnerList(
        signatureParamsList(
          ['@method', '@target-uri'],
          [
            ['created', 1618884473],
            ['expires', 1618884533],
            ['keyid', 'a.example#k1'],
            ['alg', 'ed25519'],
          ],
        ),
      ),
    ).toBe(line);
  });

  it.each([
    ['unterminated string', 'a=("x'],
    ['trailing comma', 'a=1,'],
    ['bad key', 'A=1'],
    ['garbage after member', 'a=1 b'],
    ['bad base64', 'a=:%%%:'],
    ['control character in string', 'a="x\u0001"'],
  ])('throws on %s', (_what, input) => {
    expect(() => parseDictionary(input)).toThrow(ParseError);
  });
});
