import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, ENV_MAP, loadConfig } from '../../src/config/load-config';

const noFiles = fs.mkdtempSync(path.join(os.tmpdir(), 'uuru-cfg-'));

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('gives a complete embedded default with no settings at all', () => {
    const c = loadConfig({ env: {}, configDir: noFiles });
    expect(c.database.type).toBe('sqlite');
    expect(c.asterisk.stateBackend).toBe('files');
    expect(c.instance.publicUrl).toBe('http://localhost:8090');
  });

  it("maps µURU's own variable names", () => {
    const c = loadConfig({
      configDir: noFiles,
      env: {
        UURU_FEDERATION_IAX2_HOST: '10.8.0.1',
        UURU_FEDERATION_UURU_HOST: 'https://pbx-a.example.org:8443/',
        UURU_DATABASE_TYPE: 'mysql',
        UURU_DATABASE_SERVER: 'db.internal',
        UURU_DATABASE_PORT: '3307',
        UURU_DATABASE_USER: 'uuru',
        UURU_DATABASE_PASSWORD: 'pw',
        UURU_DATABASE_DB: 'uuru',
        UURU_ASTERISK_DATABASE_SERVER: 'ast-db',
        UURU_ASTERISK_HOST: '10.0.0.5',
        UURU_ASTERISK_AMI_USER: 'admin',
        UURU_ASTERISK_AMI_PASS: 'amipw',
        UURU_ASTERISK_AMI_PORT: '5039',
        UURU_EXTENSION_DIGITS: '5',
        UURU_RESERVED_EXTENSIONS: '110, 112,9*',
        UURU_LOGLEVEL: 'debug',
      },
    });
    expect(c.instance.iax2Host).toBe('10.8.0.1');
    expect(c.instance.publicUrl).toBe('https://pbx-a.example.org:8443');
    expect(c.database).toMatchObject({
      type: 'mysql',
      host: 'db.internal',
      port: 3307,
      password: 'pw',
      database: 'uuru',
    });
    expect(c.asterisk.realtimeDb.host).toBe('ast-db');
    expect(c.asterisk.ami).toMatchObject({ user: 'admin', password: 'amipw', port: 5039 });
    expect(c.instance.extensionDigits).toBe(5);
    expect(c.instance.reservedExtensions).toEqual([
      { kind: 'exact', digits: '110' },
      { kind: 'exact', digits: '112' },
      { kind: 'stem', stem: '9' },
    ]);
    expect(c.log.level).toBe('debug');
  });

  it('reports every problem as one "path: message" line', () => {
    const problems = problemsOf(() =>
      loadConfig({
        configDir: noFiles,
        env: { UURU_EXTENSION_DIGITS: 'four', UURU_DATABASE_TYPE: 'postgres', UURU_HTTP_LISTEN: 'nope' },
        overrides: { asterisk: { stateBackend: 'ldap', bogus: 1 } },
      }),
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        'UURU_EXTENSION_DIGITS: expected a whole number',
        'UURU_HTTP_LISTEN: expected host:port',
        expect.stringMatching(/^database\.type: /),
        expect.stringMatching(/^asterisk\.stateBackend: /),
        expect.stringMatching(/^asterisk: Unrecognized key: "bogus"/),
      ]),
    );
    for (const p of problems) expect(p).toMatch(/^[A-Za-z_.()0-9]+: \S/);
  });

  it('layers default.json, UURU_CONFIG_FILE and the environment in that order', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uuru-cfg-'));
    fs.writeFileSync(
      path.join(dir, 'default.json'),
      JSON.stringify({ instance: { extensionDigits: 3, iax2Host: 'a' } }),
    );
    const extra = path.join(dir, 'site.json');
    fs.writeFileSync(extra, JSON.stringify({ instance: { iax2Host: 'b' }, log: { level: 'warn' } }));
    const c = loadConfig({ configDir: dir, env: { UURU_CONFIG_FILE: extra, UURU_LOGLEVEL: 'error' } });
    expect(c.instance.extensionDigits).toBe(3);
    expect(c.instance.iax2Host).toBe('b');
    expect(c.log.level).toBe('error');
  });

  it('names a broken config file without a stack trace', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uuru-cfg-'));
    fs.writeFileSync(path.join(dir, 'default.json'), '{ not json');
    const problems = problemsOf(() => loadConfig({ configDir: dir, env: {} }));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain('default.json');
    expect(problems[0]).not.toMatch(/\n\s+at /);
  });

  it('accepts the shipped production example', () => {
    const c = loadConfig({
      configDir: noFiles,
      env: { UURU_CONFIG_FILE: path.join(__dirname, '../../config/production.example.json') },
    });
    expect(c.database.type).toBe('mariadb');
    expect(c.federation.policyMode).toBe('invite_only');
  });
});

describe('README', () => {
  it('documents every environment variable the sidecar reads', () => {
    const readme = fs.readFileSync(path.join(__dirname, '../../README.md'), 'utf8');
    const documented = (name: string) => {
      if (readme.includes('`' + name + '`')) return true;
      // grouped rows such as `UURU_DATABASE_SERVER` / `_PORT` / `_USER`
      for (let cut = name.lastIndexOf('_'); cut > 5; cut = name.lastIndexOf('_', cut - 1)) {
        const row = new RegExp('`' + name.slice(0, cut) + '_[A-Z_]+`[^\\n]*`' + name.slice(cut) + '`');
        if (row.test(readme)) return true;
      }
      return false;
    };
    expect(documented('UURU_NOT_A_REAL_SETTING')).toBe(false);
    const missing = ENV_MAP.map(([name]) => name).filter((n) => !documented(n));
    expect(missing).toEqual([]);
  });
});
