import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  ConfigError,
  ENV_ALIASES,
  ENV_MAP,
  loadConfig,
  loadConfigWithWarnings,
} from '../../src/config/load-config';

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

  it('reports every problem as one line naming the variable, or the setting path of an override', () => {
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
        expect.stringMatching(/^UURU_DATABASE_TYPE: /),
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
    const missing = [...ENV_MAP.map(([name]) => name), ...ENV_ALIASES.map((a) => a.name)].filter(
      (n) => !documented(n),
    );
    expect(missing).toEqual([]);
  });
});

describe('a µURU .env as it is', () => {
  const load = (env: NodeJS.ProcessEnv) => loadConfigWithWarnings({ configDir: noFiles, env });
  const warningsOf = (env: NodeJS.ProcessEnv) => load(env).warnings.map((w) => w.message);

  it.each([
    ['INFO', 'info'],
    ['WARNING', 'warn'],
    ['warning', 'warn'],
    ['Debug', 'debug'],
    ['ERROR', 'error'],
    ['CRITICAL', 'error'],
    ['FATAL', 'error'],
    [' warn ', 'warn'],
  ])("reads µURU's log level %j as %j", (raw, level) => {
    expect(load({ UURU_LOGLEVEL: raw }).config.log.level).toBe(level);
  });

  it('refuses HA on SQLite, naming both variables; accepts it on MariaDB', () => {
    expect(problemsOf(() => load({ UURU_HA_ENABLED: 'true' }))).toEqual([
      expect.stringMatching(/^UURU_HA_ENABLED: HA needs a shared MariaDB.*UURU_DATABASE_TYPE=mariadb/),
    ]);
    expect(problemsOf(() => load({ UURU_HA_ENABLED: 'true', UURU_DATABASE_TYPE: 'sqlite' }))).toHaveLength(1);
    const c = load({ UURU_HA_ENABLED: 'true', UURU_DATABASE_TYPE: 'mariadb' }).config;
    expect([c.ha.enabled, c.database.type]).toEqual([true, 'mariadb']);
  });

  it("refuses a log level that is neither ours nor µURU's, naming the variable", () => {
    expect(problemsOf(() => load({ UURU_LOGLEVEL: 'verbose' }))).toEqual([
      expect.stringMatching(/^UURU_LOGLEVEL: expected error, warn, info or debug .*WARNING/),
    ]);
  });

  it("reads the AMI from µURU's variables, not from UURU_ASTERISK_HOST (µURU's SIP address)", () => {
    const { config, warnings } = load({
      UURU_ASTERISK_HOST: 'sip.pbx-a.example.org',
      UURU_ASTERISK_AMI_ADDR: '172.17.0.1',
      UURU_ASTERSIK_AMI_PORT: '5039', // sic: µURU's application spells it so
      UURU_ASTERISK_AMI_USER: 'uuru_ami_user',
      UURU_ASTERISK_AMI_PASS: 'uuru_ami_secret',
    });
    expect(config.asterisk.ami).toMatchObject({
      host: '172.17.0.1',
      port: 5039,
      user: 'uuru_ami_user',
      password: 'uuru_ami_secret',
    });
    expect(warnings).toEqual([]);
  });

  it('reads UURU_ASTERISK_HOST as the AMI host only while UURU_ASTERISK_AMI_ADDR is unset, with a warning', () => {
    const { config, warnings } = load({ UURU_ASTERISK_HOST: '10.0.0.5' });
    expect(config.asterisk.ami.host).toBe('10.0.0.5');
    expect(warnings).toEqual([
      expect.objectContaining({
        setting: 'UURU_ASTERISK_HOST',
        message: expect.stringContaining('set UURU_ASTERISK_AMI_ADDR instead'),
      }),
    ]);
    expect(load({}).config.asterisk.ami.host).toBe('127.0.0.1');
  });

  it("prefers UURU_ASTERISK_AMI_PORT (µURU's Asterisk binds it) over the misspelt one, and says so when they differ", () => {
    expect(load({ UURU_ASTERISK_AMI_PORT: '5038', UURU_ASTERSIK_AMI_PORT: '5038' }).warnings).toEqual([]);
    const { config, warnings } = load({ UURU_ASTERISK_AMI_PORT: '5040', UURU_ASTERSIK_AMI_PORT: '5039' });
    expect(config.asterisk.ami.port).toBe(5040);
    expect(warnings.map((w) => w.message)).toEqual([
      expect.stringContaining('differ: using UURU_ASTERISK_AMI_PORT'),
    ]);
  });

  it('names the variable the user set when a value is bad, the alias too', () => {
    const problems = problemsOf(() =>
      load({
        UURU_ASTERSIK_AMI_PORT: 'x',
        UURU_DATABASE_TYPE: 'oracle',
        UURU_HTTP_LISTEN: '127.0.0.1:70000',
        UURU_FEDERATION_CODECS: 'alaw,g729',
        UURU_FEDERATION_UURU_HOST: 'not a url',
      }),
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        'UURU_ASTERSIK_AMI_PORT: expected a whole number',
        expect.stringMatching(/^UURU_DATABASE_TYPE: \S/),
        expect.stringMatching(/^UURU_HTTP_LISTEN \(port\): \S/),
        expect.stringMatching(/^UURU_FEDERATION_CODECS \(item 2\): \S/),
        expect.stringMatching(/^UURU_FEDERATION_UURU_HOST: \S/),
      ]),
    );
    expect(problems).toHaveLength(5);
    for (const p of problems) expect(p).not.toMatch(/^(database|http|instance|asterisk)\./);
  });

  it('names the file and key when a bad value came from a config file, and the variable when it overrides the file', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uuru-cfg-'));
    const file = path.join(dir, 'site.json');
    fs.writeFileSync(
      file,
      JSON.stringify({ database: { type: 'oracle' }, log: { level: 'loud' }, asterisk: { bogus: 1 } }),
    );
    // UURU_LOGLEVEL overrides the file's bad level, so that one is no problem
    const problems = problemsOf(() =>
      load({ UURU_CONFIG_FILE: file, UURU_LOGLEVEL: 'WARNING', UURU_DATABASE_PORT: '70000' }),
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: database\\.type: \\S`),
        ),
        `${file}: asterisk: Unrecognized key: "bogus"`,
        expect.stringMatching(/^UURU_DATABASE_PORT: \S/),
      ]),
    );
    expect(problems).toHaveLength(3);
  });

  it('reads the old file key asterisk.host as asterisk.ami.host for one release, with a warning', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uuru-cfg-'));
    const file = path.join(dir, 'site.json');
    fs.writeFileSync(file, JSON.stringify({ asterisk: { host: '10.1.1.1', ami: { port: 5039 } } }));
    const { config, warnings } = load({ UURU_CONFIG_FILE: file });
    expect(config.asterisk.ami).toMatchObject({ host: '10.1.1.1', port: 5039 });
    expect(warnings.map((w) => w.message)).toEqual([
      `${file}: asterisk.host is read as asterisk.ami.host for this release only: rename it`,
    ]);
  });

  it("warns of an unknown UURU_ variable, naming the closest known one; µURU's own settings pass quietly", () => {
    const warnings = warningsOf({
      UURU_FEDERATION_IAX_HOST: '10.8.0.1',
      UURU_LOGLEVL: 'INFO',
      UURU_ASTERISK_AMI_ADRR: '172.17.0.1',
      // stock µURU's settings this sidecar does not read
      UURU_SITE_NAME: 'Camp',
      UURU_LDAP_PASSWORD: 'secret-ldap',
      UURU_SECRET_KEY: 'k',
      UURU_ENABLED_PHONE_FLAVORS: '["sip"]',
      // the test harness's
      UURU_TEST_MARIADB_HOST: '127.0.0.1',
      OTHER: 'x',
    });
    expect(warnings).toEqual([
      expect.stringMatching(
        /^UURU_ASTERISK_AMI_ADRR .*ignored; the closest known one is UURU_ASTERISK_AMI_ADDR$/,
      ),
      expect.stringMatching(
        /^UURU_FEDERATION_IAX_HOST .*the closest known one is UURU_FEDERATION_IAX2_HOST$/,
      ),
      expect.stringMatching(/^UURU_LOGLEVL .*the closest known one is UURU_LOGLEVEL$/),
    ]);
    // names only: a value (maybe a secret) is never repeated
    expect(warnings.join('\n')).not.toContain('10.8.0.1');
  });

  it('gives the shipped production example no warnings', () => {
    const { warnings } = load({
      UURU_CONFIG_FILE: path.join(__dirname, '../../config/production.example.json'),
    });
    expect(warnings).toEqual([]);
  });
});
