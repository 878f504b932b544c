/**
 * What an admin types is stored as typed or refused, never repaired: control
 * characters in any field (a partner_url with an embedded newline was
 * accepted with the newline dropped), and policy lists that take only server
 * names (host[:port], IPv6 in brackets, `*.example.org`), through the admin
 * API, the panel's forms and the CLI, over real HTTP against a real instance
 * (SQLite). Every refusal is 400 VALIDATION_FAILED naming the field, and
 * nothing changes.
 */
import { systemClock } from '../../src/core/clock';
import { createAdminUser } from '../../src/http/admin/admin-users';
import { SettingEntity } from '../../src/store/entities';
import {
  adminApi,
  panelLogin,
  type PanelSession,
  startInstance,
  tryLogin,
  type Instance,
} from './admin-fixtures';
import { cli } from './cli-fixtures';

jest.setTimeout(120_000);

const PASSWORD = 'a long enough password';
let a: Instance;
let panel: PanelSession;

beforeAll(async () => {
  a = await startInstance('input-rules');
  await createAdminUser(a.app.db!, systemClock, { username: 'admin', password: PASSWORD });
  panel = await panelLogin(a, 'admin', PASSWORD);
});
afterAll(async () => {
  await a?.stop();
});

const api = (method: string, path: string, body?: unknown) => adminApi(a)(method, path, body);

const refusedFor = (res: { status: number; json: unknown }, field: string) => {
  expect(res.status).toBe(400);
  expect(res.json).toMatchObject({ error: 'VALIDATION_FAILED', message: expect.stringContaining(field) });
};

const openPolicy = {
  mode: 'open',
  allowed_peers: [],
  blocked_peers: [],
  allow_legacy: true,
  unfederated_numbers: [],
};

describe('control characters are refused, never stripped', () => {
  it.each([
    ['a newline inside the host', 'http://pbx-b.exa\nmple.org'],
    ['a trailing newline', 'http://pbx-b.example.org\n'],
    ['a carriage return', 'http://pbx-b.example.org\r'],
    ['a tab', 'http://pbx\t-b.example.org'],
    ['a leading space', ' http://pbx-b.example.org'],
    ['a NUL', 'http://pbx-b.example.org\u0000'],
    ['a bidi override', 'http://pbx-b.example.org/\u202e'],
  ])('partner_url with %s: 400, no request stored', async (_what, partnerUrl) => {
    const res = await api('POST', '/federation/outgoing-requests', {
      name: 'ctl',
      partner_url: partnerUrl,
      prefix: '70',
      codec: 'g722',
    });
    refusedFor(res, 'body.partner_url');
    const list = await api('GET', '/federation/outgoing-requests');
    expect((list.json as { requests: unknown[] }).requests).toEqual([]);
  });

  it.each([
    ['a newline', 'no\nthanks'],
    ['a NUL', 'no\u0000thanks'],
    ['an escape sequence', 'no \u001b[31mthanks'],
    ['a bidi override', 'no \u202ethanks'],
  ])('a decline reason with %s: 400 before any lookup', async (_what, reason) => {
    const res = await api(
      'POST',
      '/federation/incoming-requests/00000000-0000-4000-8000-000000000000/decline',
      {
        reason,
      },
    );
    refusedFor(res, 'body.reason');
  });

  it('the CLI passes a newline in --partner-url on as typed, and the API refuses it (exit 1, VALIDATION_FAILED)', async () => {
    const run = await cli(
      [
        'requests',
        'create',
        '--name',
        'clictl',
        '--partner-url',
        'http://pbx-b.exa\nmple.org',
        '--prefix',
        '70',
        '--codec',
        'g722',
      ],
      { UURU_ADMIN_URL: a.adminUrl, UURU_ADMIN_TOKEN: a.token },
    );
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('VALIDATION_FAILED');
    expect(run.stderr).toContain('partner_url');
  });
});

describe('panel sign-in', () => {
  it('refuses a username with a control character before the lookup, and does not log it', async () => {
    const res = await tryLogin(a, 'admin\nforged log line', PASSWORD);
    expect(res.status).toBe(400);
    expect(res.text).toContain('VALIDATION_FAILED');
    expect(a.logs()).not.toContain('forged log line');
  });
});

describe('policy lists take server names only', () => {
  beforeEach(async () => {
    expect((await api('PUT', '/federation/policy', openPolicy)).status).toBe(200);
  });

  it('stores server names, host:port, bracketed IPv6 and *. wildcards as typed', async () => {
    const policy = {
      ...openPolicy,
      allowed_peers: ['pbx.example.org', 'PBX-B.Example.org:8443', '*.example.net', '[::1]:8090', '10.0.0.1'],
      blocked_peers: ['*.evil.example'],
    };
    const res = await api('PUT', '/federation/policy', policy);
    expect(res.status).toBe(200);
    expect((await api('GET', '/federation/policy')).json).toMatchObject({
      allowed_peers: policy.allowed_peers,
      blocked_peers: policy.blocked_peers,
    });
  });

  it.each([
    ['a newline', 'evil.example\nallow'],
    ['a NUL', 'evil.example\u0000'],
    ['a tab', 'evil.example\t'],
    ['markup', '<script>alert(1)</script>'],
    ['a web address', 'https://pbx.example.org'],
    ['a path', 'pbx.example.org/federation'],
    ['a space', 'pbx example.org'],
    ['an empty entry', ''],
    ['a bare star', '*'],
    ['a wildcard over an address', '*.10.0.0.1'],
    ['a wildcard inside a name', 'pbx.*.example.org'],
    ['an unbracketed IPv6 address', '::1'],
    ['a port out of range', 'pbx.example.org:70000'],
    ['a look-alike letter', 'pbх.example.org'],
  ])('refuses %s in either list with 400 naming the list; the policy is unchanged', async (_what, entry) => {
    for (const list of ['allowed_peers', 'blocked_peers'] as const) {
      const res = await api('PUT', '/federation/policy', {
        ...openPolicy,
        mode: 'invite_only',
        [list]: [entry],
      });
      refusedFor(res, `body.${list}`);
      expect((await api('GET', '/federation/policy')).json).toEqual(openPolicy);
    }
  });

  it('the panel form refuses a tab or NUL inside an entry instead of trimming it', async () => {
    for (const text of ['good.example\r\nbad.example\t', 'good.example\r\nbad\u0000.example']) {
      const res = await panel.post('/panel/policy', {
        _csrf: panel.csrf,
        mode: 'invite_only',
        allowed_peers: text,
      });
      expect(res.status).toBe(303);
      const page = await panel.get('/panel/policy');
      expect(page.text).toMatch(/<div class="flash error"[^>]*>[^<]*allowed_peers/);
      expect((await api('GET', '/federation/policy')).json).toEqual(openPolicy);
    }
    // One entry per line, spaces around it ignored: the same form with clean lines is saved.
    const ok = await panel.post('/panel/policy', {
      _csrf: panel.csrf,
      mode: 'invite_only',
      allowed_peers: ' good.example \r\n*.friends.example',
    });
    expect(ok.status).toBe(303);
    expect((await api('GET', '/federation/policy')).json).toMatchObject({
      mode: 'invite_only',
      allowed_peers: ['good.example', '*.friends.example'],
    });
  });

  it('the CLI keeps a tab in a --blocked entry and the API refuses it', async () => {
    const run = await cli(['policy', 'set', '--blocked', 'good.example,\tbad.example'], {
      UURU_ADMIN_URL: a.adminUrl,
      UURU_ADMIN_TOKEN: a.token,
    });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('VALIDATION_FAILED');
    expect((await api('GET', '/federation/policy')).json).toEqual(openPolicy);
  });

  it('a policy stored by an older version (base URLs, any text) is read with server names, the rest left out', async () => {
    await a.app.db!.getRepository(SettingEntity).save({
      key: 'policy',
      value: {
        ...openPolicy,
        mode: 'invite_only',
        allowed_peers: ['https://PBX.example.org:8443/', 'http://friend.example:80', 'friend.example\n<b>'],
        blocked_peers: ['evil.example', 'evil.example\u0000'],
      },
      updatedAt: Date.now(),
    });
    await a.halt();
    await a.resume();
    expect((await api('GET', '/federation/policy')).json).toEqual({
      ...openPolicy,
      mode: 'invite_only',
      allowed_peers: ['pbx.example.org:8443', 'friend.example'],
      blocked_peers: ['evil.example'],
    });
  });
});
