/**
 * Rate limits of a real sidecar B over real HTTP, with clients bound to
 * different loopback source addresses (127.0.0.x) so each counts on its own:
 * the per-IP limit shared by every federation and legacy endpoint (429,
 * Retry-After, FED_RATE_LIMITED; µURU's {"detail"} on v1) while another
 * address still gets through; the unsolicited peering requests per origin
 * per hour; and the per-origin limit on signed calls, whatever the address.
 * Request counts are bounded by the small limits configured here.
 */
import crypto, { type KeyObject } from 'node:crypto';
import http from 'node:http';
import { signRequest } from '../../src/federation/http-signature';
import {
  activeKeys,
  adminOk,
  destroyAll,
  incomingByName,
  startSidecar,
  type Sidecar,
} from '../harness/sidecar';

jest.setTimeout(120_000);

const PER_IP = 6;
const UNSOLICITED_PER_HOUR = 2;
const PER_ORIGIN = 4;

interface Answer {
  status: number;
  retryAfter: string | undefined;
  json: Record<string, unknown>;
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
        res.on('end', () => {
          let json: Record<string, unknown>;
          try {
            json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
          } catch {
            json = { raw: text };
          }
          const ra = res.headers['retry-after'];
          resolve({ status: res.statusCode ?? 0, retryAfter: Array.isArray(ra) ? ra[0] : ra, json });
        });
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

function expectLimited(r: Answer, max: number): void {
  expect(r.status).toBe(429);
  const after = Number(r.retryAfter);
  expect(Number.isInteger(after)).toBe(true);
  expect(after).toBeGreaterThanOrEqual(1);
  expect(after).toBeLessThanOrEqual(max);
}

describe('rate limits over HTTP', () => {
  let a: Sidecar;
  let b: Sidecar;

  beforeAll(async () => {
    [a, b] = await Promise.all([
      startSidecar({ name: 'rl_a' }),
      startSidecar({
        name: 'rl_b',
        config: {
          federation: {
            rateLimitPerIpPerMinute: PER_IP,
            rateLimitPerOriginPerMinute: PER_ORIGIN,
            unsolicitedRequestsPerOriginPerHour: UNSOLICITED_PER_HOUR,
          },
        },
      }),
    ]);
  }, 120_000);

  afterAll(() => destroyAll([a, b]));

  const descriptor = () => `${b.federationUrl}/.well-known/uuru-federation`;
  const v2Request = () => `${b.federationUrl}/federation/v2/peering-requests`;
  const v1Phonebook = () => `${b.federationUrl}/api/v1/extension/phonebook`;
  const v1Request = () => `${b.federationUrl}/api/v1/federation/incoming/request`;

  it('floods from one address: 429 FED_RATE_LIMITED with Retry-After on v2, {"detail"} on v1; another address gets through', async () => {
    const flooder = '127.0.0.4';
    for (let i = 0; i < PER_IP; i++) expect((await send(flooder, descriptor())).status).toBe(200);

    const v2 = await send(flooder, v2Request(), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expectLimited(v2, 60);
    expect(v2.json).toEqual({
      error: 'FED_RATE_LIMITED',
      message: expect.stringContaining('too many requests'),
    });
    expectLimited(await send(flooder, descriptor()), 60);

    for (const call of [
      () => send(flooder, v1Phonebook()),
      () =>
        send(flooder, v1Request(), {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{}',
        }),
    ]) {
      const v1 = await call();
      expectLimited(v1, 60);
      expect(v1.json).toEqual({ detail: expect.stringContaining('too many requests') });
    }

    // Another source address has its own budget, on both dialects.
    expect((await send('127.0.0.2', descriptor())).status).toBe(200);
    const other = await send('127.0.0.2', v1Phonebook());
    expect(other.status).toBe(200);
    expect(other.json).toEqual([]);
  });

  it('the legacy endpoints alone exhaust the same per-address budget', async () => {
    const flooder = '127.0.0.5';
    for (let i = 0; i < PER_IP; i++) expect((await send(flooder, v1Phonebook())).status).toBe(200);
    const v1 = await send(flooder, v1Phonebook());
    expectLimited(v1, 60);
    expect(Object.keys(v1.json)).toEqual(['detail']);
    const v2 = await send(flooder, descriptor());
    expectLimited(v2, 60);
    expect(v2.json.error).toBe('FED_RATE_LIMITED');
  });

  it('each request counts once, whatever the spelling of its path; health and metrics stay open to a limited address', async () => {
    const flooder = '127.0.0.7';
    const spellings = [
      descriptor(),
      `${b.federationUrl}/.WELL-KNOWN/uuru-federation`,
      `${b.federationUrl}/Api/V1/extension/phonebook`,
    ];
    // Exactly PER_IP answers get through: a request counted both before routing and at its route
    // would use up the budget in half as many.
    const passed: number[] = [];
    for (let i = 0; i < PER_IP + 2; i++)
      passed.push((await send(flooder, spellings[i % spellings.length])).status);
    expect(passed.filter((s) => s !== 429)).toHaveLength(PER_IP);
    expect(passed.slice(PER_IP)).toEqual([429, 429]);
    const upper = await send(flooder, `${b.federationUrl}/FEDERATION/v2/peering-requests`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expectLimited(upper, 60);
    expect(upper.json.error).toBe('FED_RATE_LIMITED');
    expect((await send(flooder, `${b.federationUrl}/healthz`)).status).toBe(200);
    const metrics = await send(flooder, `${b.adminUrl}/metrics`);
    expect(metrics.status).toBe(200);
  });

  describe('signed calls from A', () => {
    let key: { keyId: string; privateKey: KeyObject };
    let agreementKid: string;

    beforeAll(async () => {
      ({ signing: key, agreementKid } = await activeKeys(a));
    });

    const signed = (from: string, method: string, url: string, body?: unknown): Promise<Answer> => {
      const text = body === undefined ? undefined : JSON.stringify(body);
      const headers = signRequest({ method, url, body: text, key, now: Date.now() });
      return send(from, url, { method, headers, body: text });
    };

    const peeringRequest = (from: string, name: string) =>
      signed(from, 'POST', v2Request(), {
        request_id: crypto.randomUUID(),
        name,
        codec: 'g722',
        extension_length: 4,
        base_url: a.federationUrl,
        iax2: { host: '127.0.0.1', port: 4569 },
        agreement_kid: agreementKid,
      });

    it('counts only pending unsolicited requests per origin (declined ones do not), then limits signed calls per origin whatever the address', async () => {
      for (let i = 1; i <= UNSOLICITED_PER_HOUR; i++) {
        const r = await peeringRequest('127.0.0.3', `unsolicited_${i}`);
        expect(r.status).toBe(201);
        // Declined locally so that the next request is not refused as a duplicate.
        const inc = await incomingByName(b, `unsolicited_${i}`);
        await adminOk(
          b,
          'POST',
          `/federation/incoming-requests/${inc?.id}/decline`,
          { local_only: true },
          204,
        );
      }
      // Only pending requests count against the budget (issue 11): declined ones freed their place.
      const third = await peeringRequest('127.0.0.3', 'unsolicited_3');
      expect(third.status).toBe(201);
      expect(await incomingByName(b, 'unsolicited_3')).toMatchObject({ state: 'pending' });

      // Three signed calls so far this minute; the per-origin limit is PER_ORIGIN, counted on any address.
      const state = () =>
        signed('127.0.0.6', 'GET', `${b.federationUrl}/federation/v2/peerings/${crypto.randomUUID()}`);
      const fourth = await state();
      expect(fourth.status).toBe(200);
      const fifth = await state();
      expectLimited(fifth, 60);
      expect(fifth.json).toEqual({
        error: 'FED_RATE_LIMITED',
        message: expect.stringContaining(`too many calls from ${new URL(a.federationUrl).host}`),
      });
    });
  });
});
