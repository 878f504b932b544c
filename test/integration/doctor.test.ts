import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { type AsteriskInstance, startAsterisk } from '../harness/asterisk';
import { freePort } from '../harness/ports';
import { killPid } from '../harness/processes';
import { destroyAll, type Sidecar, startSidecar } from '../harness/sidecar';
import { waitUntil } from '../harness/wait';

/**
 * uuru-fed doctor on real parts: real sidecars (the current sources) talking
 * to a real Asterisk over AMI and ARI, the admin API over HTTP, and the built
 * CLI (dist/cli/main.js, `npm run build` first) as a child process.
 */

const ROOT = path.resolve(__dirname, '..', '..');
const CLI = path.join(ROOT, 'dist', 'cli', 'main.js');
const ARTIFACTS = path.join(ROOT, 'test-artifacts', 'doctor');

/** Keeps what the CLI printed, for a human to read what an admin would see. */
function keep(name: string, text: string): void {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  fs.writeFileSync(path.join(ARTIFACTS, `${name}.txt`), text);
}

interface Check {
  id: string;
  title: string;
  status: 'ok' | 'warn' | 'fail' | 'skip';
  detail: string;
  fix: string | null;
}
interface Report {
  status: 'ok' | 'warn' | 'fail';
  calls: boolean;
  checks: Check[];
}

/** The sidecar's Asterisk settings for an instance (AMI overridable, to point it somewhere wrong). */
function asteriskConfig(
  a: AsteriskInstance,
  ami: { port?: number; password?: string } = {},
  ari: { url?: string; password?: string } = {},
) {
  return {
    asterisk: {
      enabled: true,
      ami: {
        host: '127.0.0.1',
        port: ami.port ?? a.amiPort,
        user: a.amiUser,
        password: ami.password ?? a.amiSecret,
      },
      ari: {
        url: ari.url ?? a.ariUrl,
        user: a.ariUser,
        password: ari.password ?? a.ariPassword,
        app: 'uuru-federation',
      },
      stateBackend: 'files',
      configDir: a.configDir,
      localContext: 'uuru-local',
      inboundTargetContext: 'uuru-local',
    },
  };
}

/** Advertised addresses partners could reach (documentation addresses: routable, never answered). */
const ROUTABLE = {
  UURU_FEDERATION_UURU_HOST: 'http://192.0.2.10:8090',
  UURU_FEDERATION_IAX2_HOST: '192.0.2.10',
};

async function doctor(s: Sidecar, query = ''): Promise<Report> {
  const r = await s.admin('GET', `/doctor${query}`);
  expect(r.status).toBe(200);
  return r.json as Report;
}

const byId = (r: Report, id: string): Check => {
  const c = r.checks.find((x) => x.id === id);
  if (!c) throw new Error(`no check ${id} in ${r.checks.map((x) => x.id).join(', ')}`);
  return c;
};

function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      if (child.pid) void killPid(child.pid, child);
      reject(new Error(`uuru-fed ${args.join(' ')} timed out`));
    }, 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('uuru-fed doctor', () => {
  let ast: AsteriskInstance;
  let forgetful: AsteriskInstance;
  const sidecars: Sidecar[] = [];
  let garbage: net.Server;
  let notAri: http.Server;
  const sockets = new Set<net.Socket>();

  beforeAll(async () => {
    if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" first`);
    [ast, forgetful] = await Promise.all([
      startAsterisk({ name: 'doc', extensionsConf: '[uuru-local]\ninclude => uuru-local-federation\n' }),
      startAsterisk({
        name: 'doc-noinc',
        extensionsConf: '[uuru-local]\ninclude => uuru-local-federation\n',
        omitTryinclude: ['iax', 'extensions'],
      }),
    ]);
    // A plain TCP server that answers every connection with a line that is not AMI.
    garbage = net.createServer((s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
      s.write('SSH-2.0-OpenSSH_9.6 not what you expected\r\n');
    });
    await new Promise<void>((r) => garbage.listen(0, '127.0.0.1', () => r()));
    // A web server that is not ARI.
    notAri = http.createServer((_req, res) => {
      res.writeHead(404, { 'content-type': 'text/html', server: 'nginx' });
      res.end('<h1>Not Found</h1>');
    });
    await new Promise<void>((r) => notAri.listen(0, '127.0.0.1', () => r()));
  }, 120_000);

  afterAll(async () => {
    await destroyAll(sidecars);
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => garbage?.close(() => r()));
    notAri?.closeAllConnections();
    await new Promise<void>((r) => notAri?.close(() => r()));
    await Promise.all([ast?.stop(), forgetful?.stop()]);
  });

  const start = async (name: string, config: Record<string, unknown>, env: Record<string, string> = {}) => {
    const s = await startSidecar({
      name,
      config,
      env: { UURU_ASTERISK_ENABLED: 'true', UURU_LOGLEVEL: 'warn', ...env },
    });
    sidecars.push(s);
    return s;
  };

  it('a correct set-up: every check ok, CLI exit 0 with --json and in text', async () => {
    const s = await start('doc-good', asteriskConfig(ast), {
      ...ROUTABLE,
      UURU_KEY_ENCRYPTION_SECRET: 'a-long-key-encryption-secret-for-the-doctor',
    });
    // The generated files are written on the first reconcile after the AMI login.
    await waitUntil(
      () =>
        fs.existsSync(path.join(ast.configDir, 'iax-uuru-federation.conf')) &&
        fs.existsSync(path.join(ast.configDir, 'extensions-uuru-federation.conf')),
      { what: 'generated files' },
    );
    const r = await doctor(s);
    const notOk = r.checks.filter((c) => c.status !== 'ok');
    expect(notOk).toEqual([]);
    expect(r.status).toBe('ok');
    for (const id of [
      'database',
      'database.charset',
      'files.modes',
      'key-encryption',
      'address.web',
      'address.iax2',
      'ami',
      'ari',
      'asterisk.modules',
      'asterisk.include.iax',
      'asterisk.include.extensions',
      'asterisk.phones-context',
      'asterisk.generated-files',
    ])
      expect(byId(r, id).status).toBe('ok');
    // No secret in the report.
    const text = JSON.stringify(r);
    for (const secret of [ast.amiSecret, ast.ariPassword, s.token]) expect(text).not.toContain(secret);

    const json = await runCli(['doctor', '--json', '--url', s.adminUrl, '--token', s.token]);
    expect(json.stderr).toBe('');
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.stdout) as Report;
    expect(parsed.status).toBe('ok');
    expect(parsed.checks.map((c) => c.id)).toEqual(r.checks.map((c) => c.id));

    const plain = await runCli(['doctor', '--url', s.adminUrl, '--token', s.token]);
    keep('all-good', plain.stdout);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(/^\[ok {2}\] AMI \(Asterisk Manager Interface\): logged in/m);
    expect(plain.stdout).toContain('all good');
  });

  it('wrong AMI and ARI passwords: "login refused" for each, advertised loopback warns, CLI exit 1', async () => {
    // The harness advertises http://127.0.0.1:<port> and 127.0.0.1 unless told otherwise.
    const s = await start(
      'doc-badpass',
      asteriskConfig(ast, { password: 'not-the-ami-secret' }, { password: 'not-the-ari-password' }),
    );
    const r = await doctor(s);
    const ami = byId(r, 'ami');
    expect(ami.status).toBe('fail');
    expect(ami.detail).toMatch(/^login refused: /);
    expect(ami.fix).toContain('UURU_ASTERISK_AMI_PASS');
    expect(ami.detail).not.toContain('not-the-ami-secret');
    const ari = byId(r, 'ari');
    expect(ari.status).toBe('fail');
    expect(ari.detail).toMatch(/^login refused: ARI at 127\.0\.0\.1:\d+ refused the login .*\(HTTP 401\)$/);
    expect(ari.fix).toContain('UURU_ASTERISK_ARI_PASS');
    expect(JSON.stringify(r)).not.toContain('not-the-ari-password');
    // The checks that need an AMI login say so.
    expect(byId(r, 'asterisk.include.iax').status).toBe('skip');
    expect(byId(r, 'address.web')).toMatchObject({ status: 'warn' });
    expect(byId(r, 'address.web').detail).toContain('loopback');
    expect(r.status).toBe('fail');

    const run = await runCli(['doctor', '--json', '--url', s.adminUrl, '--token', s.token]);
    expect(run.code).toBe(1);
    expect((JSON.parse(run.stdout) as Report).checks.find((c) => c.id === 'ami')?.detail).toMatch(
      /^login refused/,
    );
    const plain = await runCli(['doctor', '--url', s.adminUrl, '--token', s.token]);
    keep('wrong-ami-password', plain.stdout);
    expect(plain.code).toBe(1);
    expect(plain.stdout).toMatch(/^\[FAIL\] AMI \(Asterisk Manager Interface\): login refused/m);
    expect(plain.stdout).toContain('UURU_ASTERISK_AMI_PASS');
  });

  it('a data folder others may enter warns, a key file others may read fails, each with the chmod', async () => {
    const s = sidecars.find((x) => x.name === 'doc-badpass');
    if (!s) throw new Error('needs the sidecar of the previous test');
    const keyFile = path.join(s.dataDir, 'key-encryption.key');
    expect(byId(await doctor(s), 'files.modes').status).toBe('ok');
    fs.chmodSync(s.dataDir, 0o755);
    fs.chmodSync(keyFile, 0o644);
    try {
      const r = await doctor(s);
      expect(byId(r, 'files.modes')).toMatchObject({ status: 'warn', fix: `chmod 700 ${s.dataDir}` });
      expect(byId(r, 'files.modes').detail).toContain('is 0755');
      const key = byId(r, 'key-encryption');
      expect(key.status).toBe('fail');
      expect(key.detail).toContain(`${keyFile} is 0644`);
      expect(key.fix).toContain(`chmod 600 ${keyFile}`);
      expect(JSON.stringify(r)).not.toContain(fs.readFileSync(keyFile, 'utf8').trim());
    } finally {
      fs.chmodSync(keyFile, 0o600);
      fs.chmodSync(s.dataDir, 0o700);
    }
  });

  it('AMI and ARI pointed at a server that is not AMI, nor even HTTP: "wrong port"', async () => {
    const port = (garbage.address() as net.AddressInfo).port;
    const s = await start(
      'doc-wrongport',
      asteriskConfig(ast, { port }, { url: `http://127.0.0.1:${port}` }),
      ROUTABLE,
    );
    const r = await doctor(s);
    const ami = byId(r, 'ami');
    expect(ami.status).toBe('fail');
    expect(ami.detail).toMatch(/^wrong port: /);
    expect(ami.detail).toContain('SSH-2.0-OpenSSH_9.6');
    const ari = byId(r, 'ari');
    expect(ari.status).toBe('fail');
    expect(ari.detail).toMatch(/^wrong port or ARI off: .*not with HTTP/);
  });

  it('nothing listening on the AMI port: "unreachable"; ARI at a web server that is not ARI', async () => {
    const port = await freePort();
    const web = (notAri.address() as net.AddressInfo).port;
    const s = await start(
      'doc-noami',
      asteriskConfig(ast, { port }, { url: `http://127.0.0.1:${web}` }),
      ROUTABLE,
    );
    const r = await doctor(s);
    const ami = byId(r, 'ami');
    expect(ami.status).toBe('fail');
    expect(ami.detail).toMatch(/^unreachable: nothing listens at 127\.0\.0\.1:\d+ \(connection refused\)/);
    const ari = byId(r, 'ari');
    expect(ari.status).toBe('fail');
    expect(ari.detail).toMatch(
      /^wrong port or ARI off: 127\.0\.0\.1:\d+ answers HTTP 404 \(server "nginx"\)/,
    );
  });

  it('an Asterisk without the #tryinclude lines: both fail with the line to add; ARI port closed: unreachable', async () => {
    const s = await start(
      'doc-noinc',
      asteriskConfig(forgetful, {}, { url: `http://127.0.0.1:${await freePort()}` }),
      ROUTABLE,
    );
    await waitUntil(() => fs.existsSync(path.join(forgetful.configDir, 'iax-uuru-federation.conf')), {
      what: 'generated files',
    });
    const r = await doctor(s);
    keep('no-tryinclude', JSON.stringify(r, null, 2));
    expect(byId(r, 'ami').status).toBe('ok');
    const iax = byId(r, 'asterisk.include.iax');
    expect(iax.status).toBe('fail');
    expect(iax.fix).toContain('#tryinclude iax-uuru-federation.conf');
    const ext = byId(r, 'asterisk.include.extensions');
    expect(ext.status).toBe('fail');
    expect(ext.fix).toContain('#tryinclude extensions-uuru-federation.conf');
    expect(byId(r, 'ari').detail).toMatch(
      /^unreachable: nothing listens at 127\.0\.0\.1:\d+ \(connection refused\)$/,
    );
    expect(r.status).toBe('fail');
  });
});
