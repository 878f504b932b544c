/**
 * The part of RFC 8941 (Structured Field Values) that RFC 9421 and RFC 9530
 * need: parsing dictionaries (Signature-Input, Signature, Content-Digest) and
 * serializing inner lists with parameters (the @signature-params line).
 * Parsing is strict: anything the RFC says to fail on throws, so a malformed
 * header is refused instead of being half-understood.
 */

export type BareItem =
  | { type: 'integer'; value: number }
  | { type: 'decimal'; value: number }
  | { type: 'string'; value: string }
  | { type: 'token'; value: string }
  | { type: 'bytes'; value: Buffer }
  | { type: 'boolean'; value: boolean };

/** Parameters keep their order: the signature base depends on it. */
export type Parameters = Array<[string, BareItem]>;

export interface Item {
  kind: 'item';
  value: BareItem;
  params: Parameters;
}

export interface InnerList {
  kind: 'inner-list';
  items: Item[];
  params: Parameters;
}

export type DictionaryMember = Item | InnerList;

export class StructuredFieldError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StructuredFieldError';
  }
}

const KEY_START = /[a-z*]/;
const KEY_CHAR = /[a-z0-9_\-.*]/;
const TOKEN_START = /[A-Za-z*]/;
const TOKEN_CHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z:/]/;
const BASE64_CHARS = /^[A-Za-z0-9+/]*={0,2}$/;

class Parser {
  private i = 0;
  constructor(private readonly s: string) {}

  private peek(): string {
    return this.s[this.i] ?? '';
  }
  private done(): boolean {
    return this.i >= this.s.length;
  }
  private fail(what: string): never {
    throw new StructuredFieldError(`${what} at position ${this.i}`);
  }
  private skipSp(): void {
    while (this.peek() === ' ') this.i++;
  }
  private skipOws(): void {
    while (this.peek() === ' ' || this.peek() === '\t') this.i++;
  }

  parseDictionary(): Map<string, DictionaryMember> {
    const out = new Map<string, DictionaryMember>();
    this.skipSp();
    if (this.done()) return out;
    for (;;) {
      const key = this.parseKey();
      let member: DictionaryMember;
      if (this.peek() === '=') {
        this.i++;
        member = this.parseItemOrInnerList();
      } else {
        member = { kind: 'item', value: { type: 'boolean', value: true }, params: this.parseParameters() };
      }
      // RFC 8941: a later duplicate key overwrites; deleting first keeps the later position.
      out.delete(key);
      out.set(key, member);
      this.skipOws();
      if (this.done()) return out;
      if (this.peek() !== ',') this.fail('expected "," between dictionary members');
      this.i++;
      this.skipOws();
      if (this.done()) this.fail('trailing comma in dictionary');
    }
  }

  finish(): void {
    this.skipSp();
    if (!this.done()) this.fail('unexpected trailing characters');
  }

  private parseItemOrInnerList(): DictionaryMember {
    if (this.peek() === '(') return this.parseInnerList();
    return this.parseItem();
  }

  private parseInnerList(): InnerList {
    this.i++; // (
    const items: Item[] = [];
    for (;;) {
      this.skipSp();
      if (this.peek() === ')') {
        this.i++;
        return { kind: 'inner-list', items, params: this.parseParameters() };
      }
      if (this.done()) this.fail('unterminated inner list');
      items.push(this.parseItem());
      const c = this.peek();
      if (c !== ' ' && c !== ')') this.fail('expected space or ")" in inner list');
    }
  }

  private parseItem(): Item {
    const value = this.parseBareItem();
    return { kind: 'item', value, params: this.parseParameters() };
  }

  private parseParameters(): Parameters {
    const params: Parameters = [];
    while (this.peek() === ';') {
      this.i++;
      this.skipSp();
      const key = this.parseKey();
      let value: BareItem = { type: 'boolean', value: true };
      if (this.peek() === '=') {
        this.i++;
        value = this.parseBareItem();
      }
      const existing = params.findIndex(([k]) => k === key);
      if (existing >= 0) params.splice(existing, 1);
      params.push([key, value]);
    }
    return params;
  }

  private parseKey(): string {
    const start = this.i;
    if (!KEY_START.test(this.peek())) this.fail('expected a key');
    while (!this.done() && KEY_CHAR.test(this.peek())) this.i++;
    return this.s.slice(start, this.i);
  }

  private parseBareItem(): BareItem {
    const c = this.peek();
    if (c === '-' || (c >= '0' && c <= '9')) return this.parseNumber();
    if (c === '"') return this.parseString();
    if (c === ':') return this.parseBytes();
    if (c === '?') return this.parseBoolean();
    if (TOKEN_START.test(c)) return this.parseToken();
    return this.fail('expected an item');
  }

  private parseNumber(): BareItem {
    const m = /^-?(\d+)(\.(\d+))?/.exec(this.s.slice(this.i));
    if (!m) return this.fail('invalid number');
    const intPart = m[1];
    const frac = m[3];
    if (frac === undefined) {
      if (intPart.length > 15) this.fail('integer too long');
      this.i += m[0].length;
      return { type: 'integer', value: Number(m[0]) };
    }
    if (intPart.length > 12 || frac.length > 3) this.fail('decimal too long');
    this.i += m[0].length;
    return { type: 'decimal', value: Number(m[0]) };
  }

  private parseString(): BareItem {
    this.i++;
    let out = '';
    for (;;) {
      if (this.done()) this.fail('unterminated string');
      const c = this.s[this.i++];
      if (c === '\\') {
        const n = this.s[this.i++];
        if (n !== '"' && n !== '\\') this.fail('invalid escape in string');
        out += n;
      } else if (c === '"') {
        return { type: 'string', value: out };
      } else {
        const code = c.charCodeAt(0);
        if (code < 0x20 || code > 0x7e) this.fail('invalid character in string');
        out += c;
      }
    }
  }

  private parseToken(): BareItem {
    const start = this.i;
    this.i++;
    while (!this.done() && TOKEN_CHAR.test(this.peek())) this.i++;
    return { type: 'token', value: this.s.slice(start, this.i) };
  }

  private parseBytes(): BareItem {
    this.i++;
    const end = this.s.indexOf(':', this.i);
    if (end < 0) this.fail('unterminated byte sequence');
    const b64 = this.s.slice(this.i, end);
    if (!BASE64_CHARS.test(b64)) this.fail('invalid base64 in byte sequence');
    this.i = end + 1;
    return { type: 'bytes', value: Buffer.from(b64, 'base64') };
  }

  private parseBoolean(): BareItem {
    this.i++;
    const c = this.s[this.i++];
    if (c === '1') return { type: 'boolean', value: true };
    if (c === '0') return { type: 'boolean', value: false };
    return this.fail('invalid boolean');
  }
}

/** Parses a Dictionary header value (RFC 8941 §4.2.2). Throws StructuredFieldError. */
export function parseDictionary(input: string): Map<string, DictionaryMember> {
  const p = new Parser(input);
  const d = p.parseDictionary();
  p.finish();
  return d;
}

export function serializeBareItem(v: BareItem): string {
  switch (v.type) {
    case 'integer':
      if (!Number.isInteger(v.value) || Math.abs(v.value) > 999_999_999_999_999) {
        throw new StructuredFieldError(`integer out of range: ${v.value}`);
      }
      return String(v.value);
    case 'decimal':
      return Number.isInteger(v.value) ? `${v.value}.0` : String(Math.round(v.value * 1000) / 1000);
    case 'string':
      if (!/^[\x20-\x7e]*$/.test(v.value))
        throw new StructuredFieldError('string has non-printable characters');
      return `"${v.value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
    case 'token':
      return v.value;
    case 'bytes':
      return `:${v.value.toString('base64')}:`;
    case 'boolean':
      return v.value ? '?1' : '?0';
  }
}

export function serializeParameters(params: Parameters): string {
  return params
    .map(([k, v]) => (v.type === 'boolean' && v.value ? `;${k}` : `;${k}=${serializeBareItem(v)}`))
    .join('');
}

export function serializeInnerList(list: InnerList): string {
  const items = list.items
    .map((it) => serializeBareItem(it.value) + serializeParameters(it.params))
    .join(' ');
  return `(${items})${serializeParameters(list.params)}`;
}

/** Joins repeated header lines the way HTTP combines them. */
export function headerValue(v: string | string[] | undefined): string | undefined {
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v.join(', ') : v;
}
