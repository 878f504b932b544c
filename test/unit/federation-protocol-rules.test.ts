import { ManualClock } from '../harness/manual-clock';
import { AppError } from '../../src/core/errors';
import type { Policy } from '../../src/core/federation-admin';
import {
  v1AcceptOutgoingRequest,
  v1CreateIncomingRequest,
  v1DeclineOutgoingRequest,
  v1RevokeIncomingRequest,
  v1Teardown,
} from '../../src/federation/legacy-calls';
import { DEFAULT_EMERGENCY_NUMBERS, unfederatedSet } from '../../src/core/unfederated-numbers';
import { checkPrefix } from '../../src/federation/numbering-plan';
import { randomV1Secret, secretsEqual } from '../../src/federation/v1-secret';
import { parseCsv } from '../../src/federation/phonebook-file';
import { admits } from '../../src/federation/policy';
import { RateLimiter } from '../../src/federation/rate-limiter';
import { backoffDelay, classifyStatus, refusalTearsDownAccept } from '../../src/federation/retry-policy';

function refusal(fn: () => void): { code: string; status: number; message: string } {
  try {
    fn();
  } catch (e) {
    if (e instanceof AppError) return { code: e.code, status: e.status, message: e.message };
    throw e;
  }
  throw new Error('expected a refusal');
}

describe('dial prefix rules', () => {
  const unfederated = unfederatedSet({
    extensionDigits: 4,
    policy: [],
    reserved: [
      { kind: 'stem', stem: '9' },
      { kind: 'exact', digits: '5000' },
    ],
    emergency: DEFAULT_EMERGENCY_NUMBERS,
  });
  const plan = { extensionDigits: 4, unfederated };
  const holders = [
    { label: "peer 'berlin'", prefix: '70' },
    { label: "pending request 'paris'", prefix: '81' },
  ];
  const check =
    (prefix: string, partnerExtensionLength: number | null = 4) =>
    () =>
      checkPrefix(prefix, { holders, plan, partnerExtensionLength });

  it('accepts a free prefix', () => {
    expect(check('71')).not.toThrow();
    expect(check('6', 4)).not.toThrow();
  });

  it('refuses non-digits and bad lengths with FED_PREFIX_INVALID (400)', () => {
    for (const p of ['', '7a', ' 7', '123456789', '+7']) {
      expect(refusal(check(p))).toMatchObject({ code: 'FED_PREFIX_INVALID', status: 400 });
    }
  });

  it('refuses overlaps with peers and pending requests in both directions, naming them', () => {
    expect(refusal(check('7'))).toEqual({
      code: 'PREFIX_CONFLICT',
      status: 409,
      message: "prefix 7 overlaps peer 'berlin' (prefix 70)",
    });
    expect(refusal(check('701')).message).toBe("prefix 701 overlaps peer 'berlin' (prefix 70)");
    expect(refusal(check('81')).message).toBe("prefix 81 overlaps pending request 'paris' (prefix 81)");
  });

  it('refuses emergency numbers and reserved numbers and ranges', () => {
    expect(refusal(check('11')).message).toMatch(/emergency number 110/);
    expect(refusal(check('1123')).message).toMatch(/emergency number 112/);
    expect(refusal(check('91')).message).toMatch(/emergency number 911/);
    expect(refusal(check('95')).message).toMatch(/reserved range 9\*/);
    expect(refusal(check('50')).message).toMatch(/reserved number 5000/);
  });

  it('refuses a prefix whose numbers would have the local extension length', () => {
    expect(refusal(check('12', 2))).toMatchObject({ code: 'PREFIX_CONFLICT' });
    expect(refusal(check('12', 2)).message).toMatch(/length of local extensions/);
    expect(check('12', 3)).not.toThrow();
    expect(check('12', null)).not.toThrow();
  });

  it('knows which local numbers are unfederated', () => {
    expect(unfederated.blocking('110')?.source).toBe('emergency');
    expect(unfederated.blocking('1105')?.source).toBe('emergency');
    expect(unfederated.blocking('9115')?.source).toBe('emergency');
    expect(unfederated.blocking('9123')?.source).toBe('reserved');
    expect(unfederated.blocking('5000')?.source).toBe('reserved');
    expect(unfederated.blocking('5001')).toBeNull();
  });
});

describe('policy admission', () => {
  const base: Policy = {
    mode: 'open',
    allowed_peers: [],
    blocked_peers: [],
    allow_legacy: true,
    unfederated_numbers: [],
  };
  const v2 = (serverName: string) => ({ serverName, dialect: 'v2' as const });

  it('open admits anyone not blocked; blocked_peers wins in every mode, by server name or *. wildcard', () => {
    expect(admits(base, v2('pbx.example.org')).ok).toBe(true);
    expect(admits({ ...base, blocked_peers: ['PBX.example.org'] }, v2('pbx.example.org')).ok).toBe(false);
    expect(admits({ ...base, blocked_peers: ['*.example.org'] }, v2('pbx.example.org')).ok).toBe(false);
    expect(admits({ ...base, blocked_peers: ['*.example.org'] }, v2('example.org')).ok).toBe(true);
    expect(
      admits(
        {
          ...base,
          mode: 'invite_only',
          allowed_peers: ['pbx.example.org'],
          blocked_peers: ['pbx.example.org'],
        },
        v2('pbx.example.org'),
      ).ok,
    ).toBe(false);
  });

  it('invite_only admits only allowed peers (port-sensitive); closed admits nobody', () => {
    const p: Policy = { ...base, mode: 'invite_only', allowed_peers: ['pbx.example.org:8443'] };
    expect(admits(p, v2('pbx.example.org:8443')).ok).toBe(true);
    expect(admits(p, v2('pbx.example.org')).ok).toBe(false);
    expect(admits({ ...base, mode: 'closed' }, v2('pbx.example.org'))).toEqual({
      ok: false,
      reason: expect.stringMatching(/closed/),
    });
  });

  it('allow_legacy false refuses v1 partners only', () => {
    const p = { ...base, allow_legacy: false };
    expect(admits(p, { serverName: 'uuru.example', dialect: 'v1' }).ok).toBe(false);
    expect(admits(p, v2('uuru.example')).ok).toBe(true);
  });
});

describe('outbox retry policy', () => {
  it('doubles the delay per attempt with jitter in [d/2, d], capped', () => {
    const p = { baseMs: 1000, maxMs: 8000 };
    expect(backoffDelay(1, p, () => 0)).toBe(500);
    expect(backoffDelay(1, p, () => 1)).toBe(1000);
    expect(backoffDelay(3, p, () => 1)).toBe(4000);
    expect(backoffDelay(10, p, () => 1)).toBe(8000);
    expect(backoffDelay(10, p, () => 0)).toBe(4000);
  });

  it('is final on 4xx except 408 and 429; retries 5xx', () => {
    expect([200, 201, 204].map(classifyStatus)).toEqual(['delivered', 'delivered', 'delivered']);
    expect([400, 403, 404, 409].map(classifyStatus)).toEqual(['final', 'final', 'final', 'final']);
    expect([408, 429, 500, 502, 503].map(classifyStatus)).toEqual([
      'retry',
      'retry',
      'retry',
      'retry',
      'retry',
    ]);
  });
});

describe('a refused queued accept', () => {
  it('tears the peering down on a final refusal, but not on 401 (we were not authenticated) or a retryable answer', () => {
    expect([400, 403, 404, 409, 410, 422].map(refusalTearsDownAccept)).toEqual([
      true,
      true,
      true,
      true,
      true,
      true,
    ]);
    expect([401, 408, 429, 500, 503, 200].map(refusalTearsDownAccept)).toEqual([
      false,
      false,
      false,
      false,
      false,
      false,
    ]);
  });
});

describe('rate limiter', () => {
  it('refuses over the limit with the seconds until the window resets, per key', () => {
    const clock = new ManualClock();
    const rl = new RateLimiter(clock, 2, 60_000);
    expect(rl.take('a').ok).toBe(true);
    expect(rl.take('a').ok).toBe(true);
    expect(rl.take('b').ok).toBe(true);
    clock.advance(15_000);
    expect(rl.take('a')).toEqual({ ok: false, retryAfterS: 45 });
    clock.advance(45_000);
    expect(rl.take('a').ok).toBe(true);
  });
});

describe('v1 (stock µURU) call shapes', () => {
  it('match µURU’s pydantic models as its client serialises them', () => {
    const req = v1CreateIncomingRequest('https://b.example/', {
      id: 'u-1',
      name: 'peer_1',
      ownUrl: 'https://a.example',
      ownIaxHost: '10.0.0.1',
      ownExtensionLength: 4,
      secret: 's'.repeat(32),
      codec: 'g722',
    });
    expect(req).toEqual({
      dialect: 'v1',
      method: 'POST',
      url: 'https://b.example/api/v1/federation/incoming/request',
      body: {
        id: 'u-1',
        name: 'peer_1',
        partner_uuru_host: 'https://a.example',
        partner_iax_host: '10.0.0.1',
        partner_extension_length: 4,
        secret: 's'.repeat(32),
        codec: 'g722',
      },
    });
    expect(v1RevokeIncomingRequest('https://b.example', 'u-1', 'abc').url).toBe(
      'https://b.example/api/v1/federation/incoming/request/u-1?secret=abc',
    );
    expect(
      v1AcceptOutgoingRequest('https://a.example', 'u-1', {
        secret: 'x',
        ownExtensionLength: 3,
        ownIaxHost: 'h',
        ownUrl: 'https://b.example',
      }),
    ).toMatchObject({
      method: 'PUT',
      url: 'https://a.example/api/v1/federation/outgoing/request/u-1',
      body: {
        accept: true,
        secret: 'x',
        extension_length: 3,
        partner_iax_host: 'h',
        partner_uuru_host: 'https://b.example',
      },
    });
    // exclude_none: a decline carries only accept and secret.
    expect(v1DeclineOutgoingRequest('https://a.example', 'u-1', 'x').body).toEqual({
      accept: false,
      secret: 'x',
    });
    expect(v1Teardown('https://a.example', 'peer_1', 'x')).toMatchObject({
      method: 'POST',
      url: 'https://a.example/api/v1/federation/peer/teardown',
      body: { name: 'peer_1', secret: 'x' },
    });
  });

  it('secrets are 32 characters of [A-Za-z0-9], distinct, and compared in constant time', () => {
    const s = new Set(Array.from({ length: 200 }, randomV1Secret));
    expect(s.size).toBe(200);
    for (const x of s) expect(x).toMatch(/^[A-Za-z0-9]{32}$/);
    const [one] = s;
    expect(secretsEqual(one, one)).toBe(true);
    expect(secretsEqual(one, one.slice(0, 31))).toBe(false);
    expect(secretsEqual(one, `${one.slice(0, 31)}${one[31] === 'a' ? 'b' : 'a'}`)).toBe(false);
  });
});

describe('phonebook CSV', () => {
  it('parses quoted fields, CRLF and a header row', () => {
    expect(parseCsv('extension,name\r\n2001,"Doe, ""Jane"""\r\n\r\n2002,Bob\n')).toEqual([
      { extension: '2001', name: 'Doe, "Jane"' },
      { extension: '2002', name: 'Bob' },
    ]);
  });
});
