import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig } from '../../src/config/load-config';
import { CONFIG_VALKEY_URL, valkeyAddress } from '../../src/config/valkey-url';
import { isErrorCode } from '../../src/core/error-catalogue';

/** The optional Valkey/Redis server of replicas (UURU_HA_VALKEY_URL, issue 16). */

const noFiles = fs.mkdtempSync(path.join(os.tmpdir(), 'uuru-cfg-valkey-'));
const HA = { UURU_HA_ENABLED: 'true', UURU_DATABASE_TYPE: 'mariadb' };
const load = (env: NodeJS.ProcessEnv) => loadConfig({ configDir: noFiles, env });

function problemsOf(env: NodeJS.ProcessEnv): string[] {
  try {
    load(env);
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('UURU_HA_VALKEY_URL', () => {
  it('is unset by default and read as given when it is a redis:// or rediss:// address', () => {
    expect(load(HA).ha.valkeyUrl).toBeUndefined();
    for (const url of [
      'redis://127.0.0.1:6379',
      'redis://:s3cret@valkey.internal:6380/2',
      'rediss://fed:s3cret@valkey.internal/0',
      'redis://[::1]:6379/',
    ])
      expect(load({ ...HA, UURU_HA_VALKEY_URL: url }).ha.valkeyUrl).toBe(url);
  });

  it.each([
    ['not a URL', '127.0.0.1:6379', /not a URL/],
    ['another scheme', 'http://:pw-in-url@valkey.internal:6379', /scheme must be redis: or rediss:/],
    ['a path that is no database number', 'redis://:pw-in-url@valkey.internal/sessions', /database number/],
    ['a query', 'redis://:pw-in-url@valkey.internal/0?password=x', /no query/],
  ])('refuses %s with the stable code, naming the variable and never the value', (_what, url, why) => {
    const problems = problemsOf({ ...HA, UURU_HA_VALKEY_URL: url });
    expect(problems).toEqual([
      expect.stringMatching(new RegExp(`^UURU_HA_VALKEY_URL: ${CONFIG_VALKEY_URL}: `)),
    ]);
    expect(problems[0]).toMatch(why);
    expect(problems[0]).not.toContain('pw-in-url');
    expect(problems[0]).not.toContain('valkey.internal');
  });

  it('is refused without replicas: one process keeps sessions and limits in memory', () => {
    expect(problemsOf({ UURU_HA_VALKEY_URL: 'redis://:pw@127.0.0.1:6379' })).toEqual([
      expect.stringMatching(/^UURU_HA_VALKEY_URL: CONFIG_VALKEY_URL: .*UURU_HA_ENABLED=true/),
    ]);
  });

  it('has its code in the error catalogue (src/config cannot import it, so this ties the two)', () => {
    expect(isErrorCode(CONFIG_VALKEY_URL)).toBe(true);
    expect(isErrorCode('VALKEY_UNAVAILABLE')).toBe(true);
  });

  it('names the server for logs without user name or password', () => {
    expect(valkeyAddress('redis://fed:s3cret@valkey.internal:6380/2')).toBe('redis://valkey.internal:6380/2');
    expect(valkeyAddress('rediss://:s3cret@valkey.internal')).toBe('rediss://valkey.internal:6379/0');
  });
});
