/**
 * Generated bad requests for every federation (v2, signed and unsigned),
 * legacy v1 and admin endpoint, from a seeded PRNG: the same seed gives the
 * same requests, so a failure is reproduced with UURU_FUZZ_SEED=<seed>.
 *
 * Every request that could change state carries at least one defect (wrong
 * type, missing or extra field, broken JSON, huge body, hostile string, bad
 * path parameter), so none of them may be accepted. The few well-formed
 * requests generated are reads (GET) or point at ids that do not exist.
 * Values that would make the sidecar call out (a partner URL that parses)
 * only ever name the one real partner, so no answer depends on the network.
 */

/** mulberry32: small, fast, good enough to pick test cases; seeded so runs repeat. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Strings aimed at the generated Asterisk config and dial plan, and at parsers in general. */
export const HOSTILE_STRINGS: readonly string[] = [
  'peer\n[evil]\ntype=friend',
  'peer\r\nhost=10.6.6.6',
  'a;comment',
  '[section]',
  'x]',
  '#include /etc/passwd',
  '#exec /bin/sh',
  '${SHELL(id)}',
  '$[1+1]',
  'a,b,c',
  'nul\u0000byte',
  '\u0000',
  'ехаmple_рeer', // Cyrillic look-alikes
  'ｐｅｅｒ', // fullwidth
  'peer\u200b', // zero-width space
  'peer\u202e', // right-to-left override
  '١٢٣٤', // Arabic-Indic digits
  '１２３',
  ' 123',
  '123 ',
  '12\t3',
  '../../etc/asterisk/iax.conf',
  'a'.repeat(300),
  '9'.repeat(5000),
  '',
  ' ',
  '-1',
  '%0A%5Bevil%5D',
  '\\n[evil]',
  'DROP TABLE peers;--',
  "' OR 1=1 --",
  '{"$gt":""}',
  '😀',
  '\ud800',
  'host=1.2.3.4\nsecret=x',
  'context=default',
  'IAX2/other/123&Local/1@x',
  '127.0.0.1;evil',
  '127.0.0.1\n[x]',
  '[::1',
  'exаmple.org', // Cyrillic a
  '10.0.0.1:99999',
];

/** URL-shaped values that must fail validation (no http(s) URL with a reachable authority among them). */
const HOSTILE_URLS: readonly string[] = [
  'javascript:alert(1)',
  'ftp://127.0.0.1/x',
  'file:///etc/passwd',
  'http://user:pass@127.0.0.1:1',
  'http://[::1',
  '127.0.0.1:1',
  '//127.0.0.1:1',
  'http://',
  'http:// a b',
  'http://127.0.0.1:1;[x]',
  'http://127.0.0.1:99999',
  'http://' + 'a'.repeat(300) + '.org',
  'gopher://127.0.0.1:1/_x',
  'data:text/plain,hi',
];

const WRONG_TYPES: readonly unknown[] = [
  null,
  true,
  false,
  0,
  -1,
  1.5,
  1e308,
  Number.MAX_SAFE_INTEGER + 2,
  [],
  ['x'],
  {},
  { nested: { deeper: [1, 2, 3] } },
  '4',
  '',
];

export type FuzzSurface = 'v2' | 'v1' | 'admin';

export interface FuzzCase {
  index: number;
  surface: FuzzSurface;
  /** Route label for the counts, e.g. "POST /federation/v2/peering-requests". */
  endpoint: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
  /** What was done to the request (for the failure report). */
  defect: string;
  /** Whether it is signed with the real partner's key (v2 only). */
  signedByPartner: boolean;
  /** A request that could change state if it were accepted (not a GET). */
  mutating: boolean;
}

export interface FuzzContext {
  /** Signs a v2 request with the real partner's key, for the receiver's public URL. */
  sign(
    method: string,
    path: string,
    body: Buffer | undefined,
    contentType: string | undefined,
  ): Record<string, string>;
  /** The real partner's base URL: the only URL a well-formed value may name. */
  partnerUrl: string;
  /** Signs as a real instance that is not peered yet (new peering requests come from it). */
  signAsStranger(
    method: string,
    path: string,
    body: Buffer | undefined,
    contentType: string | undefined,
  ): Record<string, string>;
  /** Base URL of that instance: the receiver may fetch its descriptor (first contact). */
  strangerUrl: string;
  /** That instance's published agreement kid, so a request from it can get past the key lookup. */
  strangerAgreementKid: string;
  adminToken: string;
  bodyLimitBytes: number;
}

type Json = Record<string, unknown>;

interface EndpointSpec {
  surface: FuzzSurface;
  method: string;
  /** Label with {params}. */
  route: string;
  /** Builds the path from generated parameter values. */
  params: string[];
  template?: () => Json;
  /** Endpoints whose empty body is valid and that act when accepted: never send them a body that parses to {}. */
  actsOnEmptyBody?: boolean;
  /** Optional or free-text fields: leaving them out or filling them with odd text may be valid, so that is no defect. */
  lenient?: string[];
}

class Gen {
  constructor(private readonly rnd: () => number) {}
  int(n: number): number {
    return Math.floor(this.rnd() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
  chance(p: number): boolean {
    return this.rnd() < p;
  }
  token(len: number, alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789'): string {
    let s = '';
    for (let i = 0; i < len; i++) s += alphabet[this.int(alphabet.length)];
    return s;
  }
  /** A well-formed id that names nothing. */
  unknownId(): string {
    return `fz${this.token(14)}`;
  }
  secret(): string {
    return this.token(32, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789');
  }
}

function endpoints(g: Gen, ctx: FuzzContext): EndpointSpec[] {
  const iax2 = () => ({ host: '127.0.0.1', port: 4569 });
  const name = () => `fz_${g.token(8)}`;
  return [
    { surface: 'v2', method: 'GET', route: '/.well-known/uuru-federation', params: [] },
    {
      surface: 'v2',
      method: 'POST',
      route: '/federation/v2/peering-requests',
      params: [],
      template: () => ({
        request_id: g.unknownId(),
        name: name(),
        codec: 'ulaw',
        extension_length: 4,
        base_url: ctx.strangerUrl,
        iax2: iax2(),
        agreement_kid: ctx.strangerAgreementKid,
      }),
    },
    {
      surface: 'v2',
      method: 'DELETE',
      route: '/federation/v2/peering-requests/{request_id}',
      params: ['request_id'],
    },
    {
      surface: 'v2',
      method: 'POST',
      route: '/federation/v2/peering-requests/{request_id}/accept',
      params: ['request_id'],
      template: () => ({ extension_length: 4, iax2: iax2(), agreement_kid: g.token(8) }),
    },
    {
      surface: 'v2',
      method: 'POST',
      route: '/federation/v2/peering-requests/{request_id}/decline',
      params: ['request_id'],
      template: () => ({ reason: 'no' }),
    },
    {
      surface: 'v2',
      method: 'POST',
      route: '/federation/v2/peers/{name}/teardown',
      params: ['name'],
      template: () => ({ request_id: g.unknownId() }),
    },
    { surface: 'v2', method: 'GET', route: '/federation/v2/peerings/{request_id}', params: ['request_id'] },
    { surface: 'v2', method: 'GET', route: '/federation/v2/phonebook', params: [] },
    {
      surface: 'v1',
      method: 'POST',
      route: '/api/v1/federation/incoming/request',
      params: [],
      template: () => ({
        id: g.unknownId(),
        name: name(),
        // v1 never calls this host on receipt; a name in .invalid (RFC 6761) never resolves anyway.
        partner_uuru_host: `http://fz-${g.token(10)}.invalid:8080`,
        partner_iax_host: '127.0.0.1',
        partner_extension_length: 4,
        secret: g.secret(),
        codec: 'ulaw',
      }),
      // codec defaults to g722 (as in µURU); id is the requester's opaque request id, never put in Asterisk config.
      lenient: ['codec', 'id'],
    },
    {
      surface: 'v1',
      method: 'DELETE',
      route: '/api/v1/federation/incoming/request/{id}',
      params: ['id', '?secret'],
    },
    {
      surface: 'v1',
      method: 'PUT',
      route: '/api/v1/federation/outgoing/request/{id}',
      params: ['id'],
      template: () => ({
        accept: true,
        secret: g.secret(),
        extension_length: 4,
        partner_iax_host: '127.0.0.1',
        partner_uuru_host: ctx.partnerUrl,
      }),
    },
    {
      surface: 'v1',
      method: 'POST',
      route: '/api/v1/federation/peer/teardown',
      params: [],
      template: () => ({ name: name(), secret: g.secret() }),
    },
    { surface: 'v1', method: 'GET', route: '/api/v1/extension/phonebook', params: [] },
    ...[
      '/status',
      '/openapi.json',
      '/federation/outgoing-requests',
      '/federation/incoming-requests',
      '/federation/peers',
      '/federation/policy',
      '/federation/keys',
    ].map((route): EndpointSpec => ({
      surface: 'admin',
      method: 'GET',
      route: `/api/admin${route}`,
      params: [],
    })),
    { surface: 'admin', method: 'GET', route: '/api/admin/federation/peers/{id}', params: ['id'] },
    {
      surface: 'admin',
      method: 'POST',
      route: '/api/admin/federation/outgoing-requests',
      params: [],
      template: () => ({
        name: name(),
        partner_url: ctx.partnerUrl,
        prefix: String(100 + g.int(800)),
        codec: 'ulaw',
        dialect: 'auto',
      }),
      lenient: ['dialect'],
    },
    {
      surface: 'admin',
      method: 'DELETE',
      route: '/api/admin/federation/outgoing-requests/{id}',
      params: ['id', '?local_only'],
    },
    {
      surface: 'admin',
      method: 'POST',
      route: '/api/admin/federation/incoming-requests/{id}/accept',
      params: ['id'],
      template: () => ({ prefix: String(100 + g.int(800)) }),
    },
    {
      surface: 'admin',
      method: 'POST',
      route: '/api/admin/federation/incoming-requests/{id}/decline',
      params: ['id'],
      template: () => ({ local_only: true, reason: 'no' }),
    },
    {
      surface: 'admin',
      method: 'DELETE',
      route: '/api/admin/federation/peers/{id}',
      params: ['id', '?local_only'],
    },
    {
      surface: 'admin',
      method: 'POST',
      route: '/api/admin/federation/peers/{id}/test-call',
      params: ['id'],
      template: () => ({}),
      actsOnEmptyBody: true,
    },
    {
      surface: 'admin',
      method: 'POST',
      route: '/api/admin/federation/foreign/{id}/refresh',
      params: ['id'],
      template: () => ({}),
      actsOnEmptyBody: true,
    },
    {
      surface: 'admin',
      method: 'PUT',
      route: '/api/admin/federation/policy',
      params: [],
      template: () => ({
        mode: 'open',
        allowed_peers: [],
        blocked_peers: [],
        allow_legacy: true,
        unfederated_numbers: ['112'],
      }),
    },
    {
      surface: 'admin',
      method: 'POST',
      route: '/api/admin/federation/keys/rotate',
      params: [],
      template: () => ({}),
      actsOnEmptyBody: true,
    },
    {
      surface: 'admin',
      method: 'POST',
      route: '/api/admin/reconcile',
      params: [],
      template: () => ({}),
      actsOnEmptyBody: true,
    },
  ];
}

/** Percent-encodes every byte outside the unreserved set (lone surrogates included, unlike encodeURIComponent). */
function percentEncode(v: string): string {
  let out = '';
  for (const byte of Buffer.from(v, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9_.~-]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** A hostile or well-formed-but-unknown path parameter. */
function paramValue(g: Gen, hostile: boolean): string {
  if (!hostile) return g.unknownId();
  const v = g.pick(HOSTILE_STRINGS);
  // Keep the request line valid HTTP: the hostile value reaches the router percent-encoded
  // (an empty one becomes a lone '%', a malformed escape).
  return v === '' ? '%' : percentEncode(v);
}

function pathOf(g: Gen, spec: EndpointSpec, hostileParam: boolean): string {
  let p = spec.route;
  const query: string[] = [];
  const hostileAt = hostileParam ? g.int(spec.params.length) : -1;
  spec.params.forEach((param, i) => {
    const v = paramValue(g, i === hostileAt);
    if (param.startsWith('?'))
      query.push(`${param.slice(1)}=${i === hostileAt ? v : g.pick(['true', 'false', g.secret()])}`);
    else p = p.replace(`{${param}}`, v === '' ? 'x' : v);
  });
  if (g.chance(0.1))
    query.push(`${percentEncode(g.pick(HOSTILE_STRINGS))}=${percentEncode(g.pick(HOSTILE_STRINGS))}`);
  return query.length ? `${p}?${query.join('&')}` : p;
}

/** Applies one defect to a JSON object (deep in iax2 too); returns a label. */
function damageFields(
  g: Gen,
  body: Json,
  isUrlField: (k: string) => boolean,
  lenient: string[] = [],
  /** Fields an earlier defect of the same body touched: a second one must not undo the first. */
  taken: Set<string> = new Set(),
): string {
  const keys = Object.keys(body).filter((k) => !lenient.includes(k) && !taken.has(k));
  const roll = g.int(keys.length === 0 ? 2 : 5);
  if (roll === 0 || keys.length === 0) {
    const extra = g.pick(['admin', '__proto__', 'constructor', 'secret', 'host', g.token(6)]);
    // defineProperty, so "__proto__" becomes an own key that is serialised (a prototype-pollution probe).
    Object.defineProperty(body, extra, {
      value: structuredClone(g.pick([...WRONG_TYPES, g.pick(HOSTILE_STRINGS)])),
      enumerable: true,
      writable: true,
      configurable: true,
    });
    taken.add(extra);
    return `extra field ${extra}`;
  }
  if (roll === 1) {
    const k = g.pick(keys);
    taken.add(k);
    delete body[k];
    return `missing ${k}`;
  }
  const k = g.pick(keys);
  taken.add(k);
  const current = body[k];
  if (current && typeof current === 'object' && !Array.isArray(current)) {
    return `${k}.${damageFields(g, current as Json, isUrlField, lenient)}`;
  }
  if (roll === 2) {
    const kind = (x: unknown) => (x === null ? 'null' : Array.isArray(x) ? 'array' : typeof x);
    let v = structuredClone(g.pick(WRONG_TYPES));
    while (kind(v) === kind(current)) v = structuredClone(g.pick(WRONG_TYPES));
    body[k] = v;
    return `wrong type for ${k}`;
  }
  const hostile = isUrlField(k) ? g.pick(HOSTILE_URLS) : g.pick(HOSTILE_STRINGS);
  body[k] = typeof current === 'number' && g.chance(0.3) ? `${current}${hostile}` : hostile;
  return `hostile ${k}`;
}

const URL_FIELDS = new Set(['base_url', 'partner_uuru_host', 'partner_url']);

export interface BodyPlan {
  body?: Buffer;
  contentType?: string;
  defect: string;
  /** True when the body itself is defective (so the request cannot be accepted). */
  broken: boolean;
}

/** Bodies that can never parse to a valid `{}`: for routes where an empty object is a complete, valid call. */
function emptyBodyRouteBody(g: Gen, limit: number): BodyPlan {
  const size = limit + 1 + g.int(limit);
  const body = g.pick([
    '{"unexpected":1}',
    `{"x":${JSON.stringify(g.pick(HOSTILE_STRINGS))}}`,
    '{',
    '{}}',
    '[]',
    '[{}]',
    'null',
    '"x"',
    '7',
    `{"pad":"${'a'.repeat(size)}"}`,
    '['.repeat(2000) + ']'.repeat(2000),
  ]);
  return {
    body: Buffer.from(body),
    contentType: 'application/json',
    defect: `body ${body.slice(0, 24)}${body.length > 24 ? '…' : ''}`,
    broken: true,
  };
}

/** A cut or garbled serialisation that is certainly not JSON. */
function brokenJson(g: Gen, text: string): string {
  const variants = [
    text.slice(0, 1 + g.int(Math.max(1, text.length - 1))),
    text.replace(/"/, ''),
    `${text},`,
    `{${text}`,
    text.replace(/:/, '='),
    `${text}}`,
    `\u0000${text}`,
  ];
  for (let i = 0; i < 10; i++) {
    const v = g.pick(variants);
    try {
      JSON.parse(v);
    } catch {
      if (v.trim().length > 0) return v;
    }
  }
  return `${text}{`;
}

function planBody(g: Gen, spec: EndpointSpec, limit: number): BodyPlan {
  const template = spec.template?.();
  if (spec.actsOnEmptyBody) return emptyBodyRouteBody(g, limit);
  if (!template) {
    // Bodiless routes get an occasional stray body.
    if (!g.chance(0.15)) return { defect: 'none', broken: false };
    return {
      body: Buffer.from(JSON.stringify({ x: g.pick(HOSTILE_STRINGS) })),
      contentType: 'application/json',
      defect: 'stray body',
      broken: true,
    };
  }
  const kind = g.int(10);
  switch (kind) {
    case 0: {
      const cut = brokenJson(g, JSON.stringify(template));
      return { body: Buffer.from(cut), contentType: 'application/json', defect: 'broken JSON', broken: true };
    }
    case 1: {
      const size = limit + 1 + g.int(limit * 2);
      const big = g.chance(0.5) ? JSON.stringify({ ...template, pad: 'a'.repeat(size) }) : 'x'.repeat(size);
      return {
        body: Buffer.from(big),
        contentType: 'application/json',
        defect: `huge body (${size} bytes)`,
        broken: true,
      };
    }
    case 2: {
      const v = g.pick<unknown>([[template], 'string', 42, null, true, [], '']);
      return {
        body: Buffer.from(JSON.stringify(v)),
        contentType: 'application/json',
        defect: 'not an object',
        broken: true,
      };
    }
    case 3: {
      const depth = 200 + g.int(3000);
      return {
        body: Buffer.from('['.repeat(depth) + ']'.repeat(depth)),
        contentType: 'application/json',
        defect: `nested ${depth} deep`,
        broken: true,
      };
    }
    case 4: {
      // A wrong content type alone leaves a valid body on routes that ignore the type: add a defect too.
      const label = damageFields(g, template, (k) => URL_FIELDS.has(k), spec.lenient);
      const ct = g.pick([
        'text/plain',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        'application/xml',
        'application/json; charset=utf-16',
        '',
      ]);
      const raw = g.chance(0.5)
        ? JSON.stringify(template)
        : Object.entries(template)
            .map(([k, v]) => `${percentEncode(k)}=${percentEncode(JSON.stringify(v) ?? '')}`)
            .join('&');
      return {
        body: Buffer.from(raw),
        contentType: ct,
        defect: `content-type "${ct}" + ${label}`,
        broken: true,
      };
    }
    default: {
      const pristine = JSON.stringify(template);
      // A second defect on another field: "wrong type" twice on one field could land on the right type again.
      const taken = new Set<string>();
      const labels = [damageFields(g, template, (k) => URL_FIELDS.has(k), spec.lenient, taken)];
      if (g.chance(0.3)) {
        labels.push(damageFields(g, template, (k) => URL_FIELDS.has(k), spec.lenient, taken));
      }
      // Two defects can cancel out (an extra field added, then removed): keep one.
      if (JSON.stringify(template) === pristine) {
        template.unexpected = 1;
        labels.push('extra field unexpected');
      }
      const text = JSON.stringify(template);
      return {
        body: Buffer.from(text),
        contentType: 'application/json',
        defect: labels.join(', '),
        broken: true,
      };
    }
  }
}

/** The seeded sequence of cases; `count` of them, cycling fairly over every endpoint. */
export function* fuzzCases(seed: number, count: number, ctx: FuzzContext): Generator<FuzzCase> {
  const g = new Gen(seededRandom(seed));
  for (let index = 0; index < count; index++) {
    const specs = endpoints(g, ctx);
    const spec = specs[index % specs.length];
    const mutating = spec.method !== 'GET';
    // Mutating calls with a body always carry a body defect; bodiless ones a hostile or unknown id.
    const hostileParam = spec.params.length > 0 && g.chance(spec.template ? 0.3 : 0.6);
    const path = pathOf(g, spec, hostileParam);
    const plan = planBody(g, spec, ctx.bodyLimitBytes);
    const headers: Record<string, string> = {};
    let signedByPartner = false;
    let authDefect = '';
    if (spec.surface === 'admin') {
      headers.authorization = `Bearer ${ctx.adminToken}`;
    } else if (spec.surface === 'v2' && spec.route !== '/.well-known/uuru-federation') {
      const how = g.int(6);
      // A new peering request is signed by the instance it names in base_url, not yet a partner.
      const sign = spec.route === '/federation/v2/peering-requests' ? ctx.signAsStranger : ctx.sign;
      if (how <= 2) {
        Object.assign(headers, sign(spec.method, path, plan.body, plan.contentType));
        signedByPartner = true;
        authDefect = 'signed by the partner';
      } else if (how === 3) {
        authDefect = 'unsigned';
      } else if (how === 4) {
        Object.assign(headers, sign(spec.method, path, plan.body, plan.contentType));
        const h = g.pick(['Signature', 'Signature-Input', 'Content-Digest']);
        const key = Object.keys(headers).find((k) => k.toLowerCase() === h.toLowerCase());
        if (key)
          headers[key] = g.pick([
            headers[key].slice(0, -3),
            `${headers[key]}, junk`,
            g.pick(HOSTILE_STRINGS).replace(/[^\x20-\x7e]/g, '?'),
          ]);
        authDefect = `tampered ${h}`;
      } else {
        // Signed for another path: the signature must not carry over.
        Object.assign(headers, sign(spec.method, `${path}x`, plan.body, plan.contentType));
        authDefect = 'signed for another target';
      }
    }
    if (plan.body !== undefined && plan.contentType !== undefined) {
      const existing = Object.keys(headers).find((k) => k.toLowerCase() === 'content-type');
      if (existing) delete headers[existing];
      if (plan.contentType !== '') headers['content-type'] = plan.contentType;
    }
    yield {
      index,
      surface: spec.surface,
      endpoint: `${spec.method} ${spec.route}`,
      method: spec.method,
      path,
      headers,
      body: plan.body,
      defect:
        [authDefect, hostileParam ? 'hostile path parameter' : '', plan.defect]
          .filter((d) => d && d !== 'none')
          .join('; ') || 'well-formed read',
      signedByPartner,
      mutating,
    };
  }
}

/** One line that reproduces a case: seed, index, and the request itself (long bodies cut). */
export function describeCase(seed: number, c: FuzzCase): string {
  const body =
    c.body === undefined
      ? ''
      : c.body.length > 400
        ? `${c.body.subarray(0, 400).toString('utf8')}… (${c.body.length} bytes)`
        : c.body.toString('utf8');
  return `seed=${seed} index=${c.index} ${c.method} ${c.path} [${c.defect}] headers=${JSON.stringify(c.headers)} body=${JSON.stringify(body)}`;
}
