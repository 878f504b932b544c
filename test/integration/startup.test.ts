import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startAsterisk, type AsteriskInstance } from '../harness/asterisk';
import { startSidecar, type Sidecar } from '../harness/sidecar';
import { assertNever, waitUntil } from '../harness/wait';

/**
 * The sidecar as a user starts it (`npm start` runs `node dist/main.js` after the
 * build; `npm test` builds first): no database or Asterisk configured.
 */
const root = path.resolve(__dirname, '../..');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function waitExit(child: ChildProcess, timeoutMs: number): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('process did not exit in time')), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(t);
      resolve(code);
    });
  });
}

describe('starting the sidecar', () => {
  let child: ChildProcess | null = null;
  afterEach(() => {
    if (child && child.exitCode === null && child.pid) child.kill('SIGKILL');
    child = null;
  });

  it('answers /healthz within 5 s with nothing configured, and stops cleanly on SIGTERM', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'uuru-start-'));
    const [fedPort, adminPort, amiPort] = await Promise.all([freePort(), freePort(), freePort()]);
    const t0 = Date.now();
    child = spawn(process.execPath, [path.join(root, 'dist/main.js')], {
      cwd: root,
      env: {
        PATH: process.env.PATH,
        UURU_DATA_DIR: dataDir,
        UURU_HTTP_LISTEN: `127.0.0.1:${fedPort}`,
        UURU_ADMIN_LISTEN: `127.0.0.1:${adminPort}`,
        // nothing listens here: the sidecar must serve anyway and keep retrying
        UURU_ASTERISK_AMI_PORT: String(amiPort),
        UURU_ASTERISK_ARI_URL: `http://127.0.0.1:${amiPort}`,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    await waitUntil(
      async () => {
        const r = await fetch(`http://127.0.0.1:${fedPort}/healthz`);
        return r.status === 200 && ((await r.json()) as { status: string }).status === 'ok';
      },
      { what: 'healthz to answer ok', timeoutMs: 5000, intervalMs: 50 },
    );
    expect(Date.now() - t0).toBeLessThan(5000);
    // the embedded SQLite database was created in the data dir
    await waitUntil(
      async () =>
        ((await (await fetch(`http://127.0.0.1:${fedPort}/readyz`)).json()) as { database?: string })
          .database === 'up',
      { what: 'readyz to report the database up', timeoutMs: 5000 },
    );
    expect(fs.existsSync(path.join(dataDir, 'uuru-federation.sqlite'))).toBe(true);
    child.kill('SIGTERM');
    expect(await waitExit(child, 10000)).toBe(0);
  });

  it('with no Asterisk: says unreachable in /readyz and once in the log, monitoring unavailable; the start log names bound and advertised addresses', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'uuru-start-'));
    const [fedPort, adminPort, amiPort] = await Promise.all([freePort(), freePort(), freePort()]);
    child = spawn(process.execPath, [path.join(root, 'dist/main.js')], {
      cwd: root,
      env: {
        PATH: process.env.PATH,
        UURU_DATA_DIR: dataDir,
        UURU_HTTP_LISTEN: `0.0.0.0:${fedPort}`,
        UURU_ADMIN_LISTEN: `127.0.0.1:${adminPort}`,
        UURU_LOG_FORMAT: 'json',
        // nothing listens here
        UURU_ASTERISK_AMI_PORT: String(amiPort),
        UURU_ASTERISK_ARI_URL: `http://127.0.0.1:${amiPort}`,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    type Ready = { asterisk?: { ami?: string; ari?: string; monitoring?: string } };
    const ready = await waitUntil(
      async () => {
        const r = (await (await fetch(`http://127.0.0.1:${fedPort}/readyz`)).json()) as Ready;
        return r.asterisk?.ami === 'unreachable' && r.asterisk.ari === 'unreachable' ? r : undefined;
      },
      { what: 'readyz to report AMI and ARI unreachable', timeoutMs: 15_000 },
    );
    expect(ready.asterisk).toEqual(
      expect.objectContaining({ ami: 'unreachable', ari: 'unreachable', monitoring: 'unavailable_ami' }),
    );
    // An explicit window of several reconnects (250 ms doubling to 5 s): still one line per link.
    await assertNever(
      () => {
        const messages = out
          .split('\n')
          .filter((l) => l.startsWith('{') && l.endsWith('}'))
          .map((l) => (JSON.parse(l) as { message?: string }).message);
        return ['AMI', 'ARI'].some(
          (link) => messages.filter((m) => m === `${link}: Asterisk unreachable`).length > 1,
        );
      },
      { what: 'a second "Asterisk unreachable" line for a link', windowMs: 4000 },
    );
    const lines = out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, string>);
    expect(lines.filter((l) => l.message === 'AMI: Asterisk unreachable')).toHaveLength(1);
    expect(lines.filter((l) => l.message === 'ARI: Asterisk unreachable')).toHaveLength(1);
    expect(lines.find((l) => l.message === 'listening')).toMatchObject({
      federation: `0.0.0.0:${fedPort} (every IPv4 address)`,
      admin: `127.0.0.1:${adminPort}`,
    });
    expect(lines.find((l) => l.message === 'advertised to partners')).toMatchObject({
      webAddress: 'http://localhost:8090',
      iax2: '127.0.0.1:4569',
    });
    const warnings = lines.filter((l) => l.level === 'warn' && l.advertised !== undefined);
    expect(warnings.map((l) => l.advertised)).toEqual(['webAddress', 'iax2Host']);
    child.kill('SIGTERM');
    expect(await waitExit(child, 10000)).toBe(0);
  });

  it('the embedded default (SQLite, static files) does not load the MySQL driver', async () => {
    // mysql2 costs ~15 MB of resident memory; only the MariaDB store, µURU's phone book and realtime need it.
    const probe = spawn(
      process.execPath,
      [
        '-e',
        "require('./dist/app.js'); process.stdout.write(JSON.stringify(Object.keys(require.cache).filter((k) => k.includes('/node_modules/')).map((k) => k.split('/node_modules/').pop().split('/')[0])))",
      ],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    probe.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    expect(await waitExit(probe, 20000)).toBe(0);
    const loaded = new Set(JSON.parse(out) as string[]);
    expect(loaded.has('typeorm')).toBe(true); // the probe did load the app
    expect(loaded.has('mysql2')).toBe(false);
  });

  it('refuses bad configuration with one line per problem, naming the variable set, and exit code 2', async () => {
    child = spawn(process.execPath, [path.join(root, 'dist/main.js')], {
      cwd: root,
      env: { PATH: process.env.PATH, UURU_EXTENSION_DIGITS: 'many', UURU_DATABASE_TYPE: 'oracle' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    expect(await waitExit(child, 10000)).toBe(2);
    expect(stderr).toContain('UURU_EXTENSION_DIGITS: expected a whole number');
    // the variable the user set, not the internal setting path (database.type)
    expect(stderr).toMatch(/^UURU_DATABASE_TYPE: /m);
    expect(stderr).not.toMatch(/^database\./m);
    expect(stderr).not.toMatch(/\n\s+at /);
  });
});

describe("starting the built sidecar with a stock µURU .env's variables", () => {
  let ast: AsteriskInstance | null = null;
  let sidecar: Sidecar | null = null;
  afterAll(async () => {
    await sidecar?.destroy();
    await ast?.stop();
  });

  it("accepts µURU's log level and AMI variables, ignores its other settings, and names the closest setting for a misspelt one", async () => {
    ast = await startAsterisk({ name: 'uuru-env' });
    sidecar = await startSidecar({
      name: 'uuru-env',
      entry: 'build',
      env: {
        UURU_ASTERISK_ENABLED: 'true',
        // as µURU writes them (app/core/config.py)
        UURU_LOGLEVEL: 'WARNING',
        UURU_ASTERISK_AMI_ADDR: '127.0.0.1',
        UURU_ASTERSIK_AMI_PORT: String(ast.amiPort), // sic, µURU's spelling
        UURU_ASTERISK_AMI_USER: ast.amiUser,
        UURU_ASTERISK_AMI_PASS: ast.amiSecret,
        // µURU's SIP address for the phones: the AMI must not be looked for there (TEST-NET-1)
        UURU_ASTERISK_HOST: '192.0.2.1',
        // µURU settings the sidecar does not read
        UURU_SITE_NAME: 'Camp',
        UURU_SECRET_KEY: 'this is not secret!',
        UURU_LDAP_PASSWORD: 'password',
        UURU_ENABLED_PHONE_FLAVORS: '["sip", "dummy"]',
        // a typo
        UURU_FEDERATION_IAX_HOST: '10.8.0.1',
        UURU_ASTERISK_ARI_URL: ast.ariUrl,
        UURU_ASTERISK_ARI_USER: ast.ariUser,
        UURU_ASTERISK_ARI_PASS: ast.ariPassword,
        UURU_ASTERISK_CONFIG_DIR: ast.configDir,
        UURU_FEDERATION_IAX2_PORT: String(ast.iaxPort),
      },
    });
    const s = sidecar;
    let ami = '';
    await waitUntil(
      async () => {
        const ready = (await (await fetch(`${s.federationUrl}/readyz`)).json()) as {
          asterisk?: { ami?: string };
        };
        ami = ready.asterisk?.ami ?? '';
        return ami === 'connected';
      },
      { what: 'AMI connected in /readyz', timeoutMs: 30_000, intervalMs: 200 },
    );
    expect(ami).toBe('connected');

    const lines = s
      .logs()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { level: string; message: string; setting?: string });
    // WARNING is µURU's name for our warn: nothing below it is logged
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) expect(['warn', 'error']).toContain(l.level);
    const configWarnings = lines.filter((l) => l.setting !== undefined);
    expect(configWarnings).toEqual([
      expect.objectContaining({
        level: 'warn',
        setting: 'UURU_FEDERATION_IAX_HOST',
        message: expect.stringContaining('the closest known one is UURU_FEDERATION_IAX2_HOST'),
      }),
    ]);
    expect(s.logs()).not.toContain('10.8.0.1');
  });
});
