import { ApiTokenEntity, PeerEntity } from '../../src/store/entities';
import { createApiToken } from '../../src/http/admin/api-tokens';
import { systemClock } from '../../src/core/clock';

import {
  adminApi,
  call,
  type HttpResult,
  type Instance,
  responseSchemaErrors,
  startInstance,
} from './admin-fixtures';
import { waitUntil } from '../harness/wait';

/**
 * Every admin API path against two real instances (A requests, B accepts)
 * over real HTTP, with the federation layer delivering between them. Each
 * response is also checked against the OpenAPI document the server serves.
 */

let a: Instance;
let b: Instance;
let doc: Record<string, unknown>;
let apiA: ReturnType<typeof adminApi>;
let apiB: ReturnType<typeof adminApi>;

beforeAll(async () => {
  [a, b] = await Promise.all([startInstance('api-a'), startInstance('api-b')]);
  apiA = adminApi(a);
  apiB = adminApi(b);
  const res = await call(a.adminUrl, 'GET', '/api/admin/openapi.json');
  expect(res.status).toBe(200);
  doc = res.json as Record<string, unknown>;
});

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
});

/** Asserts the status and that the body matches the documented schema for it. */
function documented(res: HttpResult, method: string, docPath: string, status: number): HttpResult {
  if (res.status !== status)
    throw new Error(`${method} ${docPath}: expected ${status}, got ${res.status} ${res.text}`);
  expect(responseSchemaErrors(doc, method, `/api/admin${docPath}`, status, res.json)).toEqual([]);
  return res;
}

describe('authentication', () => {
  it('refuses without credentials (401 AUTH_REQUIRED) and with a bad token (401 AUTH_INVALID)', async () => {
    const none = await apiA('GET', '/federation/peers', undefined, null);
    documented(none, 'GET', '/federation/peers', 401);
    expect(none.json).toMatchObject({ error: 'AUTH_REQUIRED' });
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
    const bad = await apiA('GET', '/federation/peers', undefined, 'uuf_not-a-real-token');
    expect(bad.status).toBe(401);
    expect(bad.json).toMatchObject({ error: 'AUTH_INVALID' });
    const malformed = await call(a.adminUrl, 'GET', '/api/admin/federation/peers', {
      headers: { authorization: 'Basic eDp5' },
    });
    expect(malformed.status).toBe(401);
    expect(malformed.json).toMatchObject({ error: 'AUTH_INVALID' });
    // B's bootstrap token is not A's
    expect((await apiA('GET', '/federation/peers', undefined, b.token)).status).toBe(401);
  });

  it('accepts a stored API token, keeps only its sha256 and records its use', async () => {
    const db = a.app.db!;
    const created = await createApiToken(db, systemClock, 'ci');
    const res = await apiA('GET', '/status', undefined, created.token);
    documented(res, 'GET', '/status', 200);
    expect(res.json).toMatchObject({ principal: 'ci', asterisk: { enabled: false, monitoring: 'disabled' } });
    const row = await db.getRepository(ApiTokenEntity).findOneByOrFail({ id: created.id });
    expect(row.tokenHash).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(row)).not.toContain(created.token);
    expect(row.lastUsedAt).not.toBeNull();
  });

  it('serves the OpenAPI document without credentials', async () => {
    expect(doc.openapi).toBe('3.1.0');
  });
});

describe('validation', () => {
  const valid = { name: 'vtest', partner_url: 'http://127.0.0.1:9', prefix: '55', codec: 'alaw' };
  it.each([
    ['an unknown field', { ...valid, secret: 'x' }, 'body: unknown field(s): secret'],
    ['a prefix with letters', { ...valid, prefix: '7a' }, 'body.prefix'],
    ['a bad peering name', { ...valid, name: 'no spaces' }, 'body.name'],
    ['a name chan_iax2 reserves', { ...valid, name: 'General' }, 'body.name'],
    ['an unknown codec', { ...valid, codec: 'opus' }, 'body.codec'],
    ['a non-http partner address', { ...valid, partner_url: 'ftp://x.example' }, 'body.partner_url'],
    ['a bad dialect', { ...valid, dialect: 'v3' }, 'body.dialect'],
    ['a missing field', { name: 'x', prefix: '1', codec: 'alaw' }, 'body.partner_url'],
  ])('refuses %s with 400 VALIDATION_FAILED naming the field', async (_what, body, field) => {
    const res = await apiA('POST', '/federation/outgoing-requests', body);
    documented(res, 'POST', '/federation/outgoing-requests', 400);
    expect(res.json).toMatchObject({ error: 'VALIDATION_FAILED' });
    expect((res.json as { message: string }).message).toContain(field);
    const list = await apiA('GET', '/federation/outgoing-requests');
    expect((list.json as { requests: unknown[] }).requests).toEqual([]);
  });

  it('refuses malformed JSON, unknown query parameters, bad flags and bodies where none belong', async () => {
    const broken = await call(a.adminUrl, 'POST', '/api/admin/federation/outgoing-requests', {
      token: a.token,
      rawBody: '{"name":',
    });
    expect(broken.status).toBe(400);
    expect(broken.json).toMatchObject({ error: 'INVALID_JSON' });
    const query = await apiA('GET', '/federation/peers?verbose=1');
    expect(query.status).toBe(400);
    expect((query.json as { message: string }).message).toContain('query: unknown field(s): verbose');
    const flag = await apiA('DELETE', '/federation/outgoing-requests/abc?local_only=yes');
    expect(flag.status).toBe(400);
    expect((flag.json as { message: string }).message).toContain('query.local_only');
    const id = await apiA('DELETE', '/federation/peers/' + encodeURIComponent('a b'));
    expect(id.status).toBe(400);
    const reconcileBody = await apiA('POST', '/reconcile', { now: true });
    expect(reconcileBody.status).toBe(400);
    const policy = await apiA('PUT', '/federation/policy', { mode: 'open' });
    expect(policy.status).toBe(400);
    const tooBig = await apiA('PUT', '/federation/policy', { mode: 'x'.repeat(70 * 1024) });
    expect(tooBig.status).toBe(413);
    // One code for one refusal: the admin API answers an oversized body as the federation does.
    expect(tooBig.json).toMatchObject({ error: 'FED_TOO_LARGE' });
  });

  it('refuses a partner address with credentials or a query (400 VALIDATION_FAILED) without repeating it', async () => {
    for (const partnerUrl of [
      'http://user:pass@127.0.0.1:9',
      'http://user@127.0.0.1:9',
      'http://127.0.0.1:9/?secret=abc',
      'http://exаmple.org',
    ]) {
      const res = await apiA('POST', '/federation/outgoing-requests', { ...valid, partner_url: partnerUrl });
      documented(res, 'POST', '/federation/outgoing-requests', 400);
      expect(res.json).toMatchObject({ error: 'VALIDATION_FAILED' });
      expect(res.text).toContain('body.partner_url');
      expect(res.text).not.toMatch(/user:pass|user@|secret=abc|127\.0\.0\.1/);
    }
    const list = await apiA('GET', '/federation/outgoing-requests');
    expect((list.json as { requests: unknown[] }).requests).toEqual([]);
  });

  it('names an unreachable partner by its host only', async () => {
    const res = await apiA('POST', '/federation/outgoing-requests', {
      ...valid,
      partner_url: 'http://127.0.0.1:9/some/path',
    });
    // The partner is unreachable, not this sidecar: 502 FED_PARTNER_UNREACHABLE (503 FED_UNAVAILABLE is our own outage).
    expect(res.status).toBe(502);
    expect(res.json).toMatchObject({ error: 'FED_PARTNER_UNREACHABLE' });
    expect((res.json as { message: string }).message).toContain('127.0.0.1:9');
    expect(res.text).not.toContain('/some/path');
  });

  it('a path parameter that is not valid percent-encoding is 400 VALIDATION_FAILED, not a 500', async () => {
    for (const [method, p] of [
      ['GET', '/federation/peers/%'],
      ['DELETE', '/federation/peers/%zz?local_only=true'],
      ['DELETE', '/federation/outgoing-requests/%'],
      ['POST', '/federation/incoming-requests/%/decline'],
    ] as const) {
      const res = await apiA(method, p, method === 'POST' ? { local_only: true } : undefined);
      expect({ method, p, status: res.status, error: (res.json as { error?: string }).error }).toEqual({
        method,
        p,
        status: 400,
        error: 'VALIDATION_FAILED',
      });
    }
  });

  it('answers unknown ids with 404 and a code', async () => {
    for (const [method, p, docPath] of [
      ['DELETE', '/federation/outgoing-requests/nope', '/federation/outgoing-requests/{id}'],
      ['POST', '/federation/incoming-requests/nope/decline', '/federation/incoming-requests/{id}/decline'],
      ['GET', '/federation/peers/nope', '/federation/peers/{id}'],
      ['DELETE', '/federation/peers/nope', '/federation/peers/{id}'],
      ['POST', '/federation/peers/nope/test-call', '/federation/peers/{id}/test-call'],
    ] as const) {
      const res = await apiA(method, p, method === 'POST' ? {} : undefined);
      documented(res, method, docPath, 404);
      expect((res.json as { error: string }).error).toMatch(/^[A-Z_]+$/);
    }
    const accept = await apiA('POST', '/federation/incoming-requests/nope/accept', { prefix: '5' });
    documented(accept, 'POST', '/federation/incoming-requests/{id}/accept', 404);
  });
});

describe('a peering through the admin API', () => {
  let outgoingId = '';
  let peerA = '';
  let peerB = '';

  it('A creates an outgoing request (201 {id, state, dialect}) and lists it', async () => {
    const res = documented(
      await apiA('POST', '/federation/outgoing-requests', {
        name: 'alpha',
        partner_url: b.federationUrl,
        prefix: '71',
        codec: 'alaw',
      }),
      'POST',
      '/federation/outgoing-requests',
      201,
    );
    expect(res.json).toMatchObject({ state: 'pending', dialect: 'v2', name: 'alpha', prefix: '71' });
    outgoingId = (res.json as { id: string }).id;
    const list = documented(
      await apiA('GET', '/federation/outgoing-requests'),
      'GET',
      '/federation/outgoing-requests',
      200,
    );
    expect((list.json as { requests: { id: string }[] }).requests.map((r) => r.id)).toContain(outgoingId);
  });

  it('B lists the incoming request and accepts it; both sides end up with the peer', async () => {
    const incoming = await waitUntil(
      async () => {
        const res = documented(
          await apiB('GET', '/federation/incoming-requests'),
          'GET',
          '/federation/incoming-requests',
          200,
        );
        return (
          res.json as { requests: { id: string; name: string; partner_key_fingerprint: string | null }[] }
        ).requests.find((r) => r.name === 'alpha');
      },
      { what: 'B sees the request' },
    );
    expect(incoming.partner_key_fingerprint).toBeTruthy();
    const badPrefix = await apiB('POST', `/federation/incoming-requests/${incoming.id}/accept`, {
      prefix: 'x',
    });
    expect(badPrefix.status).toBe(400);
    const accepted = documented(
      await apiB('POST', `/federation/incoming-requests/${incoming.id}/accept`, { prefix: '81' }),
      'POST',
      '/federation/incoming-requests/{id}/accept',
      200,
    );
    expect(accepted.json).toMatchObject({ name: 'alpha', prefix: '81', role: 'acceptor', dialect: 'v2' });
    peerB = (accepted.json as { id: string }).id;
    const onA = await waitUntil(
      async () => {
        const res = await apiA('GET', '/federation/peers');
        return (res.json as { peers: { id: string; name: string }[] }).peers.find((p) => p.name === 'alpha');
      },
      { what: 'A has the peer' },
    );
    peerA = onA.id;
    const peers = documented(await apiA('GET', '/federation/peers'), 'GET', '/federation/peers', 200);
    const p = (peers.json as { peers: Record<string, unknown>[] }).peers[0];
    for (const field of [
      'id',
      'name',
      'prefix',
      'partner_url',
      'dialect',
      'state',
      'apply_state',
      'reachability',
      'latency_ms',
      'last_seen',
      'link_error',
      'link_error_at',
      'partner_error',
      'partner_error_at',
      'last_error',
      'partner_key_fingerprint',
    ]) {
      expect(p).toHaveProperty(field);
    }
    expect(p).toMatchObject({ prefix: '71', partner_url: b.federationUrl, role: 'requester' });
    expect(JSON.stringify(peers.json)).not.toMatch(/secret/i);
    const rows = await a.app.db!.getRepository(PeerEntity).find();
    expect(rows[0].secret.length).toBeGreaterThan(10);
    expect(JSON.stringify(peers.json)).not.toContain(rows[0].secret);
    const outgoing = await apiA('GET', '/federation/outgoing-requests');
    expect((outgoing.json as { requests: { id: string }[] }).requests.map((r) => r.id)).not.toContain(
      outgoingId,
    );
    documented(await apiA('GET', `/federation/peers/${peerA}`), 'GET', '/federation/peers/{id}', 200);
  });

  it('runs a test call and answers its outcome (Asterisk switched off here: not answered, with the reason, and nothing kept on the peer)', async () => {
    const res = documented(
      await apiA('POST', `/federation/peers/${peerA}/test-call`, {}),
      'POST',
      '/federation/peers/{id}/test-call',
      200,
    );
    expect(res.json).toEqual({ answered: false, setup_ms: null, error: expect.stringContaining('disabled') });
    // last_test_call has one writer, the Asterisk layer's test caller: with Asterisk switched off no
    // call was placed, and the admin route does not write the peer row itself.
    const peer = await apiA('GET', `/federation/peers/${peerA}`);
    expect(peer.json).toMatchObject({ last_test_call: null });
  });

  it("refetches the partner's keys", async () => {
    const res = documented(
      await apiA('POST', `/federation/foreign/${peerA}/refresh`, {}),
      'POST',
      '/federation/foreign/{id}/refresh',
      200,
    );
    expect((res.json as { server_name: string }).server_name).toBe(new URL(b.federationUrl).host);
    expect((res.json as { fingerprints: string[] }).fingerprints.length).toBeGreaterThan(0);
  });

  // Same name and same partner: the partner check comes first (the name check alone is in the unit test of
  // the peering rules).
  it('refuses a second peering with the same partner under the same name (409 FED_ALREADY_PEERED)', async () => {
    const res = await apiA('POST', '/federation/outgoing-requests', {
      name: 'alpha',
      partner_url: b.federationUrl,
      prefix: '72',
      codec: 'alaw',
    });
    expect({ status: res.status, error: (res.json as { error: string }).error }).toEqual({
      status: 409,
      error: 'FED_ALREADY_PEERED',
    });
  });

  it('refuses an overlapping prefix', async () => {
    // To another partner (one that is not even up): the prefix is checked here before anyone is asked, and
    // the same partner would be refused first as already peered.
    const res = await apiA('POST', '/federation/outgoing-requests', {
      name: 'beta',
      partner_url: 'http://127.0.0.1:9',
      prefix: '7',
      codec: 'alaw',
    });
    expect(res.status).toBe(409);
    expect(res.json).toMatchObject({ error: 'PREFIX_CONFLICT' });
    expect((res.json as { message: string }).message).toContain('alpha');
  });

  it('tears the peer down on both sides', async () => {
    documented(await apiA('DELETE', `/federation/peers/${peerA}`), 'DELETE', '/federation/peers/{id}', 204);
    expect((await apiA('GET', `/federation/peers/${peerA}`)).status).toBe(404);
    await waitUntil(async () => (await apiB('GET', `/federation/peers/${peerB}`)).status === 404, {
      what: 'B dropped the peer',
    });
  });
});

describe('decline and revoke', () => {
  it('B declines; A shows the request as declined; A revokes it locally', async () => {
    const created = await apiA('POST', '/federation/outgoing-requests', {
      name: 'gamma',
      partner_url: b.federationUrl,
      prefix: '73',
      codec: 'ulaw',
    });
    expect(created.status).toBe(201);
    const id = (created.json as { id: string }).id;
    const incoming = await waitUntil(
      async () => {
        const res = await apiB('GET', '/federation/incoming-requests');
        return (res.json as { requests: { id: string; name: string }[] }).requests.find(
          (r) => r.name === 'gamma',
        );
      },
      { what: 'B sees gamma' },
    );
    const unknownField = await apiB('POST', `/federation/incoming-requests/${incoming.id}/decline`, {
      why: 'x',
    });
    expect(unknownField.status).toBe(400);
    documented(
      await apiB('POST', `/federation/incoming-requests/${incoming.id}/decline`, { reason: 'not now' }),
      'POST',
      '/federation/incoming-requests/{id}/decline',
      204,
    );
    await waitUntil(
      async () => {
        const res = await apiA('GET', '/federation/outgoing-requests');
        const r = (res.json as { requests: { id: string; state: string }[] }).requests.find(
          (x) => x.id === id,
        );
        return r?.state === 'declined';
      },
      { what: 'A sees the decline' },
    );
    documented(
      await apiA('DELETE', `/federation/outgoing-requests/${id}?local_only=true`),
      'DELETE',
      '/federation/outgoing-requests/{id}',
      204,
    );
    const after = await apiA('GET', '/federation/outgoing-requests');
    expect((after.json as { requests: { id: string }[] }).requests.map((r) => r.id)).not.toContain(id);
  });

  it('A revokes a pending request and B forgets it', async () => {
    const created = await apiA('POST', '/federation/outgoing-requests', {
      name: 'delta',
      partner_url: b.federationUrl,
      prefix: '74',
      codec: 'g722',
    });
    const id = (created.json as { id: string }).id;
    await waitUntil(
      async () => {
        const res = await apiB('GET', '/federation/incoming-requests');
        return (res.json as { requests: { name: string }[] }).requests.some((r) => r.name === 'delta');
      },
      { what: 'B sees delta' },
    );
    documented(
      await apiA('DELETE', `/federation/outgoing-requests/${id}`),
      'DELETE',
      '/federation/outgoing-requests/{id}',
      204,
    );
    await waitUntil(
      async () => {
        const res = await apiB('GET', '/federation/incoming-requests');
        return !(res.json as { requests: { name: string }[] }).requests.some((r) => r.name === 'delta');
      },
      { what: 'B dropped delta' },
    );
  });
});

describe('policy, keys and reconcile', () => {
  it('reads and replaces the policy, refusing invalid ones', async () => {
    const before = documented(await apiA('GET', '/federation/policy'), 'GET', '/federation/policy', 200);
    expect(before.json).toMatchObject({ mode: 'open', allow_legacy: true });
    const next = {
      mode: 'invite_only',
      allowed_peers: [new URL(b.federationUrl).host],
      blocked_peers: ['evil.example'],
      allow_legacy: false,
      unfederated_numbers: ['110', '112', '9*'],
    };
    const put = documented(await apiA('PUT', '/federation/policy', next), 'PUT', '/federation/policy', 200);
    expect(put.json).toMatchObject({ policy: next, affected_peers: [] });
    expect((await apiA('GET', '/federation/policy')).json).toEqual(next);
    const bad = await apiA('PUT', '/federation/policy', { ...next, unfederated_numbers: ['11a'] });
    documented(bad, 'PUT', '/federation/policy', 400);
    expect((bad.json as { message: string }).message).toContain('unfederated_numbers');
    const mode = await apiA('PUT', '/federation/policy', { ...next, mode: 'whatever' });
    expect(mode.status).toBe(400);
    documented(
      await apiA('PUT', '/federation/policy', {
        ...next,
        mode: 'open',
        allowed_peers: [],
        allow_legacy: true,
      }),
      'PUT',
      '/federation/policy',
      200,
    );
  });

  it('lists keys with fingerprints (no private parts) and rotates', async () => {
    const keys = documented(await apiA('GET', '/federation/keys'), 'GET', '/federation/keys', 200);
    const list = (keys.json as { keys: { kid: string; alg: string; fingerprint: string }[] }).keys;
    expect(list.some((k) => k.alg === 'ed25519')).toBe(true);
    expect(list.some((k) => k.alg === 'x25519')).toBe(true);
    expect(JSON.stringify(keys.json)).not.toMatch(/private/i);
    const rotated = documented(
      await apiA('POST', '/federation/keys/rotate', {}),
      'POST',
      '/federation/keys/rotate',
      200,
    );
    const after = (rotated.json as { keys: { kid: string }[] }).keys.map((k) => k.kid);
    expect(after.some((kid) => !list.map((k) => k.kid).includes(kid))).toBe(true);
  });

  it('reconcile on demand reports that Asterisk is disabled here (a real run: admin-reconcile-asterisk.test.ts)', async () => {
    const res = documented(await apiA('POST', '/reconcile', {}), 'POST', '/reconcile', 200);
    expect(res.json).toMatchObject({
      ok: false,
      result: 'disabled',
      changes: [],
      error: expect.stringContaining('Asterisk integration is disabled'),
      asterisk: { enabled: false },
    });
  });

  it('never logged a token', () => {
    expect(a.logs()).not.toContain(a.token);
    expect(b.logs()).not.toContain(b.token);
  });
});
