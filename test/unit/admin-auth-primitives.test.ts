import { ManualClock } from '../harness/manual-clock';
import { AppError } from '../../src/core/errors';
import { LoginThrottle } from '../../src/http/admin/login-throttle';
import { burnPasswordCheck, hashPassword, verifyPassword } from '../../src/http/admin/password-hash';
import {
  constantTimeEqual,
  SESSION_IDLE_MS,
  SESSION_MAX_MS,
  SessionStore,
} from '../../src/http/admin/session-store';
import { cookieHeader, parseCookies } from '../../src/http/admin/admin-auth';

describe('password hashing', () => {
  it('stores scrypt with its parameters and a fresh salt, and verifies only the right password', async () => {
    const a = await hashPassword('correct horse battery');
    const b = await hashPassword('correct horse battery');
    expect(a).toMatch(/^scrypt\$16384\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    expect(a).not.toBe(b);
    expect(a).not.toContain('correct horse');
    await expect(verifyPassword('correct horse battery', a)).resolves.toBe(true);
    await expect(verifyPassword('correct horse batterY', a)).resolves.toBe(false);
    await expect(verifyPassword('', a)).resolves.toBe(false);
  });

  it('verifies a hash made with other cost parameters (they travel with the hash)', async () => {
    const h = await hashPassword('another secret', { N: 1024, r: 8, p: 2 });
    expect(h.startsWith('scrypt$1024$8$2$')).toBe(true);
    await expect(verifyPassword('another secret', h)).resolves.toBe(true);
  });

  it('never matches a malformed or hostile stored hash', async () => {
    for (const stored of [
      '',
      'plain',
      'scrypt$1$2$3',
      'bcrypt$16384$8$1$c2FsdA==$aGFzaA==',
      'scrypt$99999999$8$1$c2FsdA==$aGFzaA==',
      'scrypt$16384$8$1$$',
    ]) {
      await expect(verifyPassword('x', stored)).resolves.toBe(false);
    }
    await expect(burnPasswordCheck('x')).resolves.toBe(false);
  });
});

describe('login throttle', () => {
  const limits = { windowMs: 60_000, perUsername: 3, perAddress: 5 };
  const expectThrottled = async (fn: () => Promise<void>): Promise<AppError> => {
    try {
      await fn();
    } catch (e) {
      expect(e).toBeInstanceOf(AppError);
      return e as AppError;
    }
    throw new Error('expected LOGIN_THROTTLED');
  };

  it('locks an account after its failures, with 429 and Retry-After, until the window passes', async () => {
    const clock = new ManualClock();
    const t = new LoginThrottle(clock, limits);
    for (let i = 0; i < 3; i++) {
      await t.check('alice', '10.0.0.1');
      await t.recordFailure('alice', `10.0.0.${i + 1}`);
      clock.advance(1000);
    }
    const e = await expectThrottled(() => t.check('ALICE', '10.9.9.9'));
    expect(e.code).toBe('LOGIN_THROTTLED');
    expect(e.status).toBe(429);
    // oldest failure at t0, window 60 s, now t0+3 s: 57 s to wait
    expect(e.headers?.['Retry-After']).toBe('57');
    await t.check('bob', '10.9.9.9');
    clock.advance(57_000);
    await t.check('alice', '10.9.9.9');
  });

  it('limits one address spraying many accounts', async () => {
    const clock = new ManualClock();
    const t = new LoginThrottle(clock, limits);
    for (let i = 0; i < 5; i++) await t.recordFailure(`user${i}`, '192.0.2.7');
    expect((await expectThrottled(() => t.check('fresh-user', '192.0.2.7'))).code).toBe('LOGIN_THROTTLED');
    await t.check('fresh-user', '192.0.2.8');
  });

  it('a correct password clears the account count', async () => {
    const clock = new ManualClock();
    const t = new LoginThrottle(clock, limits);
    await t.recordFailure('carol', 'a');
    await t.recordFailure('carol', 'b');
    await t.recordSuccess('carol');
    await t.recordFailure('carol', 'c');
    await t.recordFailure('carol', 'd');
    await t.check('carol', 'e');
  });
});

describe('sessions', () => {
  it('expires after idle time and after the maximum age, and forgets destroyed ids', () => {
    const clock = new ManualClock();
    const store = new SessionStore(clock);
    const { id, session } = store.create('alice');
    expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(session.csrfToken).not.toBe(id);
    expect(store.get(id)?.username).toBe('alice');
    expect(store.get(id + 'x')).toBeNull();
    clock.advance(SESSION_IDLE_MS + 1);
    expect(store.get(id)).toBeNull();

    const s2 = store.create('bob');
    for (let t = 0; t < SESSION_MAX_MS; t += SESSION_IDLE_MS / 2) {
      clock.advance(SESSION_IDLE_MS / 2);
      if (t + SESSION_IDLE_MS / 2 <= SESSION_MAX_MS) expect(store.get(s2.id)).not.toBeNull();
    }
    clock.advance(1);
    expect(store.get(s2.id)).toBeNull();

    const s3 = store.create('carol');
    store.destroy(s3.id);
    expect(store.get(s3.id)).toBeNull();
  });

  it('compares tokens in constant time and exactly', () => {
    expect(constantTimeEqual('abc', 'abc')).toBe(true);
    expect(constantTimeEqual('abc', 'abd')).toBe(false);
    expect(constantTimeEqual('abc', 'abcd')).toBe(false);
  });
});

describe('cookies', () => {
  it('sets HttpOnly and SameSite=Strict always, Secure when asked', () => {
    expect(cookieHeader('s', 'v/1', { secure: false })).toBe('s=v%2F1; Path=/; HttpOnly; SameSite=Strict');
    expect(cookieHeader('s', '', { secure: true, maxAgeS: 0 })).toBe(
      's=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Strict',
    );
    expect(cookieHeader('c', 't', { secure: false, path: '/panel/login' })).toBe(
      'c=t; Path=/panel/login; HttpOnly; SameSite=Strict',
    );
  });
  it('parses a Cookie header', () => {
    const cookies = parseCookies('a=1; uuru_fed_session=x%2Fy; broken; =z; bad=%E0%A4%A');
    expect(cookies.a).toBe('1');
    expect(cookies.uuru_fed_session).toBe('x/y');
    expect(cookies.broken).toBeUndefined();
    expect(cookies.bad).toBe('%E0%A4%A');
    expect(parseCookies(undefined)).toEqual({});
  });
  it('keeps the first of two cookies of one name (the longest path, RFC 6265 section 5.4)', () => {
    expect(parseCookies('uuru_fed_session=specific; uuru_fed_session=general').uuru_fed_session).toBe(
      'specific',
    );
  });
});
