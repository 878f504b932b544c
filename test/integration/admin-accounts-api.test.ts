import { createAdminUser } from '../../src/http/admin/admin-users';
import { createApiToken } from '../../src/http/admin/api-tokens';
import { systemClock } from '../../src/core/clock';
import {
  adminApi,
  call,
  type HttpResult,
  type Instance,
  panelLogin,
  responseSchemaErrors,
  startInstance,
} from './admin-fixtures';

/**
 * The admin API routes the CLI's `token list|revoke`, `admin list|revoke`,
 * `status` and `asterisk config` stand on, against a real instance over real
 * HTTP; every answer is checked against the OpenAPI document it serves.
 */

let a: Instance;
let api: ReturnType<typeof adminApi>;
let doc: Record<string, unknown>;

beforeAll(async () => {
  a = await startInstance('accounts');
  api = adminApi(a);
  doc = (await call(a.adminUrl, 'GET', '/api/admin/openapi.json')).json as Record<string, unknown>;
});
afterAll(async () => {
  await a?.stop();
});

function documented(res: HttpResult, method: string, docPath: string, status: number): unknown {
  if (res.status !== status)
    throw new Error(`${method} ${docPath}: expected ${status}, got ${res.status} ${res.text}`);
  expect(responseSchemaErrors(doc, method, `/api/admin${docPath}`, status, res.json)).toEqual([]);
  return res.json;
}

describe('tokens', () => {
  it('lists stored tokens without their hashes, revokes one (refused from then on), 404 TOKEN_NOT_FOUND after', async () => {
    const t = await createApiToken(a.app.db!, systemClock, 'script one');
    expect((await api('GET', '/federation/peers', undefined, t.token)).status).toBe(200);
    const listed = documented(await api('GET', '/tokens'), 'GET', '/tokens', 200) as {
      tokens: Record<string, unknown>[];
    };
    const row = listed.tokens.find((x) => x.id === t.id)!;
    expect(row).toMatchObject({ name: 'script one' });
    expect(row.last_used_at).toEqual(expect.stringMatching(/^\d{4}-/));
    expect(Object.keys(row).sort()).toEqual(['created_at', 'id', 'last_used_at', 'name']);
    documented(await api('DELETE', `/tokens/${t.id}`), 'DELETE', '/tokens/{id}', 204);
    const refused = await api('GET', '/federation/peers', undefined, t.token);
    expect(refused.status).toBe(401);
    expect(refused.json).toMatchObject({ error: 'AUTH_INVALID' });
    const again = documented(await api('DELETE', `/tokens/${t.id}`), 'DELETE', '/tokens/{id}', 404);
    expect(again).toMatchObject({ error: 'TOKEN_NOT_FOUND' });
    // Both revokes are in the audit trail under the action's name, the second with its refusal.
    const audit = (await api('GET', '/audit?limit=5')).json as { events: Record<string, unknown>[] };
    expect(
      audit.events.filter((e) => e.target === t.id).map((e) => [e.action, e.error_code ?? e.outcome]),
    ).toEqual([
      ['token.revoke', 'TOKEN_NOT_FOUND'],
      ['token.revoke', 'ok'],
    ]);
  });
});

describe('admins', () => {
  it('lists admins without password hashes; deleting one ends its panel sessions; 404 ADMIN_NOT_FOUND after', async () => {
    const made = await createAdminUser(a.app.db!, systemClock, {
      username: 'erin',
      password: 'erin has a long password',
    });
    const session = await panelLogin(a, 'erin', 'erin has a long password');
    const withSession = () =>
      call(a.adminUrl, 'GET', '/api/admin/federation/peers', { headers: { cookie: session.cookie } });
    expect((await withSession()).status).toBe(200);
    const listed = documented(await api('GET', '/admins'), 'GET', '/admins', 200) as {
      admins: Record<string, unknown>[];
    };
    expect(listed.admins).toEqual([{ id: made.id, username: 'erin', created_at: expect.any(String) }]);
    documented(await api('DELETE', `/admins/${made.id}`), 'DELETE', '/admins/{id}', 204);
    expect((await withSession()).status).toBe(401);
    const again = documented(await api('DELETE', `/admins/${made.id}`), 'DELETE', '/admins/{id}', 404);
    expect(again).toMatchObject({ error: 'ADMIN_NOT_FOUND' });
    const audit = (await api('GET', '/audit?limit=5')).json as { events: Record<string, unknown>[] };
    expect(
      audit.events.filter((e) => e.target === made.id).map((e) => [e.action, e.error_code ?? e.outcome]),
    ).toEqual([
      ['admin.revoke', 'ADMIN_NOT_FOUND'],
      ['admin.revoke', 'ok'],
    ]);
  });
});

describe('status and the generated Asterisk configuration', () => {
  it('GET /status names the instance, the bound listeners and a peers summary', async () => {
    const s = documented(await api('GET', '/status'), 'GET', '/status', 200) as Record<string, unknown>;
    expect(s).toMatchObject({
      principal: 'bootstrap',
      instance: {
        public_url: a.federationUrl,
        iax2: '127.0.0.1:4569',
        version: expect.stringMatching(/^\d/),
      },
      listeners: {
        federation: a.federationUrl.replace('http://', ''),
        admin: a.adminUrl.replace('http://', ''),
      },
      peers: { total: 0, by_state: {}, by_apply_state: {}, by_reachability: {} },
      requests: { incoming_pending: 0, outgoing_pending: 0 },
    });
  });

  it('GET /asterisk/config renders the files even with Asterisk off, and says so', async () => {
    const c = documented(await api('GET', '/asterisk/config'), 'GET', '/asterisk/config', 200) as {
      enabled: boolean;
      files: { name: string; content: string }[];
    };
    expect(c.enabled).toBe(false);
    expect(c.files.map((f) => f.name)).toEqual([
      'iax-uuru-federation.conf',
      'extensions-uuru-federation.conf',
    ]);
    expect(c.files[1].content).toContain('[uuru-local-federation]');
  });
});
