/**
 * Behind reverse proxies (UURU_HTTP_TRUST_PROXY), over real HTTP against real
 * sidecar processes, with clients bound to different loopback source
 * addresses (127.0.0.x are all this machine): the per-IP limit and the panel's
 * login throttle key on the first untrusted hop counted from the right of
 * X-Forwarded-For, never on the left-most entry, which the client writes.
 * A forged header from an address that is not a trusted proxy is ignored;
 * through a trusted proxy, only the address the proxy appended counts. Named
 * proxies (address and CIDR), a hop count and the old `true` are covered.
 */
import http from 'node:http';
import { destroyAll, startSidecar, type Sidecar } from '../harness/sidecar';

jest.setTimeout(180_000);

const PER_IP = 5;
const LOGIN_PER_ADDRESS = 20;
const PROXY = '127.0.0.2';
const UNTRUSTED = '127.0.0.3';

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

/** One request from a chosen loopback source address (node:http, no connection reuse). */
function send(
  from: string,
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: opts.method ?? 'GET',
        localAddress: from,
        agent: false,
        headers: {
          ...(opts.headers ?? {}),
          ...(opts.body !== undefined ? { 'content-length': String(Buffer.byteLength(opts.body)) } : {}),
        },
      },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString('utf8')));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Sends `count` descriptor requests, each with its own forged left-most X-Forwarded-For entry; the statuses. */
async function forged(
  s: Sidecar,
  from: string,
  count: number,
  xff: (i: number) => string,
): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < count; i++) {
    const r = await send(from, `${s.federationUrl}/.well-known/uuru-federation`, {
      headers: { 'x-forwarded-for': xff(i) },
    });
    statuses.push(r.status);
  }
  return statuses;
}

const allowed = (statuses: number[]) => statuses.filter((s) => s === 200).length;

/** A failed panel sign-in from `from` with the given X-Forwarded-For; the status and error code. */
async function failedLogin(s: Sidecar, from: string, xff: string, username: string): Promise<Answer> {
  const headers = { 'x-forwarded-for': xff };
  const page = await send(from, `${s.adminUrl}/panel/login`, { headers });
  const cookie = (page.headers['set-cookie'] ?? [])
    .map((c) => /^uuru_fed_login_csrf=([^;]*)/.exec(c)?.[1])
    .find((v) => v !== undefined);
  const csrf = /name="_csrf" value="([^"]+)"/.exec(page.text)?.[1];
  if (!cookie || !csrf) throw new Error(`no login form: ${page.status}`);
  return send(from, `${s.adminUrl}/panel/login`, {
    method: 'POST',
    headers: {
      ...headers,
      'content-type': 'application/x-www-form-urlencoded',
      cookie: `uuru_fed_login_csrf=${cookie}`,
    },
    body: new URLSearchParams({ _csrf: csrf, username, password: 'not the password' }).toString(),
  });
}

const limits = { federation: { rateLimitPerIpPerMinute: PER_IP } };

describe('trusted proxies over HTTP', () => {
  let named: Sidecar;
  let hops: Sidecar;
  let legacyTrue: Sidecar;

  beforeAll(async () => {
    [named, hops, legacyTrue] = await Promise.all([
      startSidecar({
        name: 'tp_named',
        config: limits,
        env: { UURU_HTTP_TRUST_PROXY: `${PROXY}, 10.0.0.0/8` },
      }),
      startSidecar({ name: 'tp_hops', config: limits, env: { UURU_HTTP_TRUST_PROXY: '2' } }),
      startSidecar({ name: 'tp_true', config: limits, env: { UURU_HTTP_TRUST_PROXY: 'true' } }),
    ]);
  }, 180_000);

  afterAll(() => destroyAll([named, hops, legacyTrue]));

  describe('named proxies (an address and a CIDR)', () => {
    it('ignores X-Forwarded-For from an address that is not a trusted proxy: forged entries give no fresh budget', async () => {
      const statuses = await forged(named, UNTRUSTED, PER_IP + 3, (i) => `203.0.113.${i + 1}`);
      expect(allowed(statuses)).toBe(PER_IP);
      expect(statuses.slice(PER_IP)).toEqual([429, 429, 429]);
    });

    it('through the trusted proxy, counts the address it appended, whatever the client wrote to its left', async () => {
      const client = '198.51.100.7';
      const statuses = await forged(named, PROXY, PER_IP + 3, (i) => `192.0.2.${i + 1}, ${client}`);
      expect(allowed(statuses)).toBe(PER_IP);
      expect(statuses.slice(PER_IP)).toEqual([429, 429, 429]);
      // Another client behind the same proxy has its own budget.
      expect(await forged(named, PROXY, 1, () => `${client}, 198.51.100.8`)).toEqual([200]);
    });

    it('walks through a chain of trusted proxies (10.0.0.0/8 behind the proxy) to the first untrusted hop', async () => {
      const client = '198.51.100.20';
      const statuses = await forged(named, PROXY, PER_IP + 2, (i) => `192.0.2.${i + 1}, ${client}, 10.1.2.3`);
      expect(allowed(statuses)).toBe(PER_IP);
      expect(statuses.slice(PER_IP)).toEqual([429, 429]);
    });

    it('an entry that is no address (what a client may write) falls back to the proxy: no fresh budget either', async () => {
      const statuses = await forged(named, PROXY, PER_IP + 2, (i) => `not-an-address-${i}`);
      expect(allowed(statuses)).toBe(PER_IP);
      expect(statuses.slice(PER_IP)).toEqual([429, 429]);
      // They were counted as the proxy's own requests.
      expect((await send(PROXY, `${named.federationUrl}/.well-known/uuru-federation`)).status).toBe(429);
    });

    it('the panel login throttle counts the same client address', async () => {
      const client = '198.51.100.40';
      for (let i = 0; i < LOGIN_PER_ADDRESS; i++) {
        const r = await failedLogin(named, PROXY, `192.0.2.${i + 1}, ${client}`, `nobody${i}`);
        expect(r.status).toBe(401);
      }
      const locked = await failedLogin(named, PROXY, `192.0.2.99, ${client}`, 'somebody');
      expect(locked.status).toBe(429);
      expect(locked.headers['x-error-code']).toBe('LOGIN_THROTTLED');
      // Another client behind the proxy is not locked out.
      const other = await failedLogin(named, PROXY, `${client}, 198.51.100.41`, 'somebody');
      expect(other.status).toBe(401);
    });
  });

  describe('a hop count', () => {
    it('trusts exactly that many hops: the client is the second X-Forwarded-For entry from the right', async () => {
      const client = '192.0.2.50';
      const statuses = await forged(
        hops,
        UNTRUSTED,
        PER_IP + 3,
        (i) => `203.0.113.${i + 1}, ${client}, 127.0.0.9`,
      );
      expect(allowed(statuses)).toBe(PER_IP);
      expect(statuses.slice(PER_IP)).toEqual([429, 429, 429]);
      expect(await forged(hops, UNTRUSTED, 1, () => `${client}, 192.0.2.51, 127.0.0.9`)).toEqual([200]);
    });
  });

  describe('the old `true`', () => {
    it('is read as loopback with a warning, not as "every hop": the left-most entry never gives a fresh budget', async () => {
      // The client on the far side of a proxy on this machine writes the left-most entries; the proxy appends the real one.
      const client = '198.51.100.30';
      const statuses = await forged(
        legacyTrue,
        UNTRUSTED,
        PER_IP + 3,
        (i) => `203.0.113.${i + 1}, ${client}`,
      );
      expect(allowed(statuses)).toBe(PER_IP);
      expect(statuses.slice(PER_IP)).toEqual([429, 429, 429]);
      expect(legacyTrue.logs()).toContain('UURU_HTTP_TRUST_PROXY=true is read as');
    });
  });
});
