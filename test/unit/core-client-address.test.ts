/**
 * UURU_HTTP_TRUST_PROXY as the config loader reads it, and the trust
 * functions it compiles to. The client address over real HTTP is covered by
 * test/integration/federation-trusted-proxies.test.ts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig } from '../../src/config/load-config';
import { compileTrustProxy } from '../../src/config/trust-proxy';

const noFiles = fs.mkdtempSync(path.join(os.tmpdir(), 'uuru-cfg-'));
const trustOf = (value: string) =>
  loadConfig({ env: { UURU_HTTP_TRUST_PROXY: value }, configDir: noFiles }).http.trustProxy;

describe('UURU_HTTP_TRUST_PROXY', () => {
  it('reads a hop count, true/false and proxy addresses', () => {
    expect(trustOf('2')).toBe(2);
    expect(trustOf('0')).toBe(0);
    expect(trustOf('false')).toBe(false);
    expect(trustOf('TRUE')).toBe(true);
    expect(trustOf('loopback, 10.0.0.0/8,fd00::/8')).toBe('loopback, 10.0.0.0/8,fd00::/8');
    expect(loadConfig({ env: {}, configDir: noFiles }).http.trustProxy).toBe(false);
  });

  it.each(['proxy.example.org', '10.0.0.0/33', '10.0.0.1,,10.0.0.2', 'loopback;rm'])(
    'refuses %p at start with the setting named',
    (value) => {
      let problems: string[] = [];
      try {
        trustOf(value);
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        problems = e.problems;
      }
      expect(problems.join('\n')).toMatch(/trust.?proxy/i);
    },
  );

  it('compiles to proxy-addr trust: named hops, hop counts, and true as loopback only', () => {
    const named = compileTrustProxy(['127.0.0.2', '10.0.0.0/8']);
    expect(named('127.0.0.2', 0)).toBe(true);
    expect(named('10.200.1.1', 1)).toBe(true);
    expect(named('127.0.0.3', 0)).toBe(false);
    const two = compileTrustProxy(2);
    expect([two('203.0.113.1', 0), two('203.0.113.1', 1), two('203.0.113.1', 2)]).toEqual([
      true,
      true,
      false,
    ]);
    const legacy = compileTrustProxy(true);
    expect(legacy('127.0.0.1', 0)).toBe(true);
    expect(legacy('::1', 0)).toBe(true);
    expect(legacy('203.0.113.1', 0)).toBe(false);
    expect(compileTrustProxy(false)('127.0.0.1', 0)).toBe(false);
  });
});
