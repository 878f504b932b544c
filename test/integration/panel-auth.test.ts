import { ManualClock } from '../harness/manual-clock';
import { createAdminUser } from '../../src/http/admin/admin-users';
import { AdminUserEntity } from '../../src/store/entities';
import {
  call,
  cookieValue,
  form,
  type Instance,
  loginForm,
  panelLogin,
  setCookies,
  startInstance,
  tryLogin,
} from './admin-fixtures';

/** Panel sign-in, session cookie, CSRF and login throttling over real HTTP. */

const PASSWORD = 'a long enough password';
let a: Instance;
const clock = new ManualClock(Date.now());

beforeAll(async () => {
  a = await startInstance('panel-auth', { clock });
  await createAdminUser(a.app.db!, clock, { username: 'alice', password: PASSWORD });
  await createAdminUser(a.app.db!, clock, { username: 'bob', password: PASSWORD });
});
afterAll(async () => {
  await a?.stop();
});

describe('sign-in', () => {
  it('sends visitors without a session to the login page', async () => {
    for (const p of ['/', '/panel', '/panel/federation', '/panel/keys', '/panel/policy']) {
      const res = await call(a.adminUrl, 'GET', p);
      expect(res.status).toBe(303);
      expect(res.headers.get('location')).toMatch(/^\/panel\/(login|federation)$/);
    }
    const login = await call(a.adminUrl, 'GET', '/panel/login');
    expect(login.status).toBe(200);
    expect(login.text).toContain('Sign in');
    expect(login.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(login.headers.get('x-frame-options')).toBe('DENY');
  });

  it('refuses a wrong password (401 AUTH_INVALID) and an unknown user the same way', async () => {
    const wrong = await tryLogin(a, 'alice', 'not the password');
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('x-error-code')).toBe('AUTH_INVALID');
    expect(wrong.text).toContain('Wrong username or password');
    expect(cookieValue(wrong, 'uuru_fed_session')).toBeNull();
    const unknown = await tryLogin(a, 'mallory', 'whatever password');
    expect(unknown.status).toBe(401);
    expect(unknown.text).toContain('Wrong username or password');
  });

  it('refuses a login post without the login form token (403 CSRF_INVALID)', async () => {
    const { loginCookie } = await loginForm(a);
    const noCookie = await call(a.adminUrl, 'POST', '/panel/login', {
      rawBody: form({ _csrf: loginCookie, username: 'alice', password: PASSWORD }),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(noCookie.status).toBe(403);
    expect(noCookie.headers.get('x-error-code')).toBe('CSRF_INVALID');
    const wrongToken = await call(a.adminUrl, 'POST', '/panel/login', {
      rawBody: form({ _csrf: 'forged', username: 'alice', password: PASSWORD }),
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        cookie: `uuru_fed_login_csrf=${loginCookie}`,
      },
    });
    expect(wrongToken.status).toBe(403);
    expect(cookieValue(wrongToken, 'uuru_fed_session')).toBeNull();
  });

  it('signs in with a session cookie that is HttpOnly, SameSite=Strict and not readable by scripts', async () => {
    const ok = await tryLogin(a, 'alice', PASSWORD);
    expect(ok.status).toBe(303);
    expect(ok.headers.get('location')).toBe('/panel/federation');
    const cookie = setCookies(ok).find((c) => c.startsWith('uuru_fed_session='))!;
    expect(cookie).toMatch(/; HttpOnly/);
    expect(cookie).toMatch(/; SameSite=Strict/);
    expect(cookie).toMatch(/; Path=\//);
    expect(cookie).not.toMatch(/; Secure/); // publicUrl is plain http here
    const page = await call(a.adminUrl, 'GET', '/panel/federation', {
      headers: { cookie: cookie.split(';')[0] },
    });
    expect(page.status).toBe(200);
    expect(page.text).toContain('Peers');
    expect(page.text).toContain('alice');
    const user = await a.app.db!.getRepository(AdminUserEntity).findOneByOrFail({ username: 'alice' });
    expect(page.text).not.toContain(user.passwordHash);
  });

  it('marks the cookie Secure when configured (or when the public address is https)', async () => {
    const secure = await startInstance('panel-secure', { overrides: { admin: { secureCookies: 'true' } } });
    try {
      await createAdminUser(secure.app.db!, clock, { username: 'alice', password: PASSWORD });
      const ok = await tryLogin(secure, 'alice', PASSWORD);
      expect(setCookies(ok).find((c) => c.startsWith('uuru_fed_session='))).toMatch(/; Secure(;|$)/);
    } finally {
      await secure.stop();
    }
  });

  it('logs out: the cookie is cleared and no longer accepted', async () => {
    const s = await panelLogin(a, 'alice', PASSWORD);
    const out = await s.post('/panel/logout', { _csrf: s.csrf });
    expect(out.status).toBe(303);
    expect(out.headers.get('location')).toBe('/panel/login');
    expect(setCookies(out).find((c) => c.startsWith('uuru_fed_session='))).toMatch(/Max-Age=0/);
    const after = await s.get('/panel/federation');
    expect(after.status).toBe(303);
    const api = await call(a.adminUrl, 'GET', '/api/admin/federation/peers', {
      headers: { cookie: s.cookie },
    });
    expect(api.status).toBe(401);
  });
});

describe('CSRF', () => {
  it('refuses panel posts without or with a wrong token (403 CSRF_INVALID) and changes nothing', async () => {
    const s = await panelLogin(a, 'alice', PASSWORD);
    const fields = {
      name: 'csrftest',
      partner_url: 'http://127.0.0.1:9',
      prefix: '44',
      codec: 'alaw',
      dialect: 'auto',
    };
    const none = await s.post('/panel/federation/outgoing-requests', fields);
    expect(none.status).toBe(403);
    expect(none.headers.get('x-error-code')).toBe('CSRF_INVALID');
    expect(none.text).toContain('CSRF_INVALID');
    const wrong = await s.post('/panel/federation/outgoing-requests', {
      ...fields,
      _csrf: s.csrf.slice(1) + 'x',
    });
    expect(wrong.status).toBe(403);
    const other = await panelLogin(a, 'bob', PASSWORD);
    const foreign = await s.post('/panel/federation/outgoing-requests', { ...fields, _csrf: other.csrf });
    expect(foreign.status).toBe(403);
    for (const p of [
      '/panel/keys/rotate',
      '/panel/policy',
      '/panel/logout',
      '/panel/federation/peers/x/teardown',
      '/panel/federation/peers/x/test-call',
    ]) {
      expect((await s.post(p, {})).status).toBe(403);
    }
    const json = await s.post('/panel/federation/outgoing-requests', fields, { accept: 'application/json' });
    expect(json.status).toBe(403);
    expect(json.json).toMatchObject({ error: 'CSRF_INVALID' });
    const list = await call(a.adminUrl, 'GET', '/api/admin/federation/outgoing-requests', { token: a.token });
    expect((list.json as { requests: unknown[] }).requests).toEqual([]);
  });

  it('lets a session use the JSON API, with the X-CSRF-Token header on changes', async () => {
    const s = await panelLogin(a, 'alice', PASSWORD);
    const read = await call(a.adminUrl, 'GET', '/api/admin/status', { headers: { cookie: s.cookie } });
    expect(read.status).toBe(200);
    expect(read.json).toMatchObject({ principal: 'alice' });
    const noHeader = await call(a.adminUrl, 'POST', '/api/admin/reconcile', {
      headers: { cookie: s.cookie },
      body: {},
    });
    expect(noHeader.status).toBe(403);
    expect(noHeader.json).toMatchObject({ error: 'CSRF_INVALID' });
    const withHeader = await call(a.adminUrl, 'POST', '/api/admin/reconcile', {
      headers: { cookie: s.cookie, 'x-csrf-token': s.csrf },
      body: {},
    });
    expect(withHeader.status).toBe(200);
  });
});

describe('login throttling', () => {
  it('locks an account after 5 failures with 429 and Retry-After, even for the right password, until the window passes', async () => {
    for (let i = 0; i < 5; i++) expect((await tryLogin(a, 'bob', `wrong ${i}`)).status).toBe(401);
    const locked = await tryLogin(a, 'bob', PASSWORD);
    expect(locked.status).toBe(429);
    expect(locked.headers.get('x-error-code')).toBe('LOGIN_THROTTLED');
    const retry = Number(locked.headers.get('retry-after'));
    expect(retry).toBeGreaterThan(0);
    expect(retry).toBeLessThanOrEqual(15 * 60);
    expect(locked.text).toMatch(/too many failed logins; wait \d+ s/i);
    // another account from the same address still works
    expect((await tryLogin(a, 'alice', PASSWORD)).status).toBe(303);
    clock.advance(retry * 1000);
    expect((await tryLogin(a, 'bob', PASSWORD)).status).toBe(303);
  });

  it('limits one address trying many accounts', async () => {
    clock.advance(16 * 60 * 1000);
    for (let i = 0; i < 20; i++) expect((await tryLogin(a, `nobody${i}`, 'guess guess')).status).toBe(401);
    const res = await tryLogin(a, 'alice', PASSWORD);
    expect(res.status).toBe(429);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    clock.advance(15 * 60 * 1000);
    expect((await tryLogin(a, 'alice', PASSWORD)).status).toBe(303);
  });
});
