import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { type AsteriskInstance, startAsterisk } from '../harness/asterisk';
import { freePort } from '../harness/ports';
import { localNodeBaseImage, podman, podmanOk } from '../harness/podman';
import { waitUntil } from '../harness/wait';

/**
 * The image the Dockerfile builds, built and run by Podman: the sidecar in it
 * talks to a real Asterisk (the test chroot's, on the host network, the way
 * docs/deployment.md describes Asterisk on the host), writes its generated files
 * into Asterisk's config folder as uid 1000 through a supplementary group, keeps
 * its data in the volume across a new container, runs as "node", has uuru-fed on
 * its PATH, and its HEALTHCHECK passes.
 *
 * The Dockerfile is used as it is; only its NODE_IMAGE build argument differs:
 * no registry is reachable here, so the base is the stand-in that
 * scripts/setup-system.sh makes (Debian trixie and this machine's Node.js).
 * The first build on a machine installs the compiler and all packages (minutes);
 * later ones reuse the cached layers.
 */

const ROOT = path.resolve(__dirname, '..', '..');
const RUN = `${process.pid}-${crypto.randomBytes(3).toString('hex')}`;
const IMAGE = `localhost/uuru-federation:test-${RUN}`;
const VOLUME = `uuru-test-data-${RUN}`;
/** The gid the shared config folder is given, as the asterisk group's would be. */
const SHARED_GID = 2000;
const TOKEN = crypto.randomBytes(24).toString('base64url');

let ast: AsteriskInstance | null = null;
let fedPort = 0;
let adminPort = 0;
const containers: string[] = [];

async function startContainer(): Promise<string> {
  const name = `uuru-test-${RUN}-${containers.length}`;
  containers.push(name);
  const a = ast!;
  const env: Record<string, string> = {
    UURU_HTTP_LISTEN: `127.0.0.1:${fedPort}`,
    UURU_ADMIN_LISTEN: `127.0.0.1:${adminPort}`,
    UURU_FEDERATION_UURU_HOST: `http://127.0.0.1:${fedPort}`,
    UURU_FEDERATION_IAX2_HOST: '127.0.0.1',
    UURU_FEDERATION_IAX2_PORT: String(a.iaxPort),
    UURU_ADMIN_BOOTSTRAP_TOKEN: TOKEN,
    UURU_ASTERISK_AMI_ADDR: '127.0.0.1',
    UURU_ASTERISK_AMI_PORT: String(a.amiPort),
    UURU_ASTERISK_AMI_USER: a.amiUser,
    UURU_ASTERISK_AMI_PASS: a.amiSecret,
    UURU_ASTERISK_ARI_URL: a.ariUrl,
    UURU_ASTERISK_ARI_USER: a.ariUser,
    UURU_ASTERISK_ARI_PASS: a.ariPassword,
    UURU_ASTERISK_CONFIG_DIR: '/etc/asterisk',
  };
  await podmanOk([
    'run',
    '--detach',
    '--name',
    name,
    // Asterisk on the host: AMI and ARI on the host's loopback address (docs/deployment.md)
    '--network',
    'host',
    '--group-add',
    String(SHARED_GID),
    '--volume',
    `${a.configDir}:/etc/asterisk`,
    '--volume',
    `${VOLUME}:/var/lib/uuru-federation`,
    ...Object.entries(env).flatMap(([k, v]) => ['--env', `${k}=${v}`]),
    IMAGE,
  ]);
  return name;
}

async function readyz(): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${fedPort}/readyz`, { signal: AbortSignal.timeout(2000) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

async function waitReady(name: string): Promise<void> {
  await waitUntil(
    async () => {
      const r = await readyz();
      const asterisk = r.json.asterisk as { ami?: string; ari?: string } | undefined;
      return r.status === 200 && asterisk?.ami === 'connected' && asterisk.ari === 'connected';
    },
    {
      what: `container ${name} ready with AMI and ARI connected`,
      timeoutMs: 60_000,
      intervalMs: 250,
    },
  ).catch(async (e: Error) => {
    const logs = await podman(['logs', '--tail', '40', name]);
    throw new Error(`${e.message}\n${logs.stdout}${logs.stderr}`);
  });
}

/** The published descriptor without its validity time (each answer's now + 1 h): the instance's name and keys. */
async function identity(): Promise<Record<string, unknown>> {
  const res = await fetch(`http://127.0.0.1:${fedPort}/.well-known/uuru-federation`);
  expect(res.status).toBe(200);
  const { valid_until: validUntil, ...rest } = (await res.json()) as Record<string, unknown>;
  expect(typeof validUntil).toBe('string');
  return rest;
}

beforeAll(async () => {
  const base = await localNodeBaseImage();
  await podmanOk(
    // docker format: the OCI image format has no HEALTHCHECK, and Podman drops it there
    [
      'build',
      '--format',
      'docker',
      '--network',
      'host',
      '--layers',
      '--build-arg',
      `NODE_IMAGE=${base}`,
      '--tag',
      IMAGE,
      ROOT,
    ],
    { timeoutMs: 1_500_000 },
  );
  [fedPort, adminPort] = [await freePort(), await freePort()];
  ast = await startAsterisk({ name: 'image' });
  // Asterisk's folder as docs/deployment.md sets it up: its group, group-writable, setgid.
  fs.chownSync(ast.configDir, 0, SHARED_GID);
  fs.chmodSync(ast.configDir, 0o2770);
  await podmanOk(['volume', 'create', VOLUME]);
}, 1_800_000);

afterAll(async () => {
  for (const c of containers) await podman(['rm', '--force', '--time', '5', c]);
  await podman(['volume', 'rm', '--force', VOLUME]);
  await podman(['rmi', IMAGE]);
  await ast?.stop();
}, 120_000);

describe('the container image, built and run', () => {
  let first = '';

  it('starts, answers /healthz and /readyz, and connects to the real Asterisk', async () => {
    first = await startContainer();
    await waitReady(first);
    const health = await fetch(`http://127.0.0.1:${fedPort}/healthz`);
    expect({ status: health.status, json: await health.json() }).toEqual({
      status: 200,
      json: { status: 'ok' },
    });
    expect((await readyz()).json).toMatchObject({ status: 'ready', database: 'up' });
  });

  it('runs as the unprivileged user node (uid 1000), also for its main process', async () => {
    expect((await podmanOk(['exec', first, 'id', '-u'])).trim()).toBe('1000');
    const status = await podmanOk(['exec', first, 'cat', '/proc/1/status']);
    expect(status).toMatch(/^Uid:\s+1000\s+1000\s+1000\s+1000$/m);
    expect((await podmanOk(['exec', first, 'cat', '/proc/1/cmdline'])).split('\0')).toEqual([
      'node',
      'dist/main.js',
      '',
    ]);
  });

  it("passes the image's HEALTHCHECK, which fails against a port nothing listens on", async () => {
    // Without systemd Podman runs no periodic checks (it logs so); `healthcheck run` runs one now.
    const test = await podmanOk(['image', 'inspect', IMAGE, '--format', '{{json .Config.Healthcheck.Test}}']);
    expect(JSON.parse(test)).toEqual(['CMD', 'node', '/app/dist/healthcheck.js']);
    const r = await podman(['healthcheck', 'run', first]);
    expect({ code: r.code, err: r.stderr }).toMatchObject({ code: 0 });
    expect((await podmanOk(['inspect', first, '--format', '{{.State.Health.Status}}'])).trim()).toBe(
      'healthy',
    );
    const other = await freePort();
    const bad = await podman([
      'exec',
      '--env',
      `UURU_HTTP_LISTEN=127.0.0.1:${other}`,
      first,
      'node',
      '/app/dist/healthcheck.js',
    ]);
    expect({ code: bad.code, err: bad.stderr }).toEqual({
      code: 1,
      err: `http://127.0.0.1:${other}/healthz: ECONNREFUSED\n`,
    });
  });

  it('has uuru-fed on its PATH', async () => {
    const version = (
      JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }
    ).version;
    expect((await podmanOk(['exec', first, 'uuru-fed', '--version'])).trim()).toContain(version);
  });

  it("writes its generated files into Asterisk's folder as uid 1000 through the shared group", async () => {
    const files = ['iax-uuru-federation.conf', 'extensions-uuru-federation.conf'];
    await waitUntil(() => files.every((f) => fs.existsSync(path.join(ast!.configDir, f))), {
      what: 'the generated files in the shared folder',
      timeoutMs: 30_000,
    });
    for (const f of files) {
      const st = fs.statSync(path.join(ast!.configDir, f));
      expect({ file: f, uid: st.uid, gid: st.gid, mode: (st.mode & 0o777).toString(8) }).toEqual({
        file: f,
        uid: 1000,
        gid: SHARED_GID,
        mode: '640',
      });
    }
  });

  it('keeps its identity and data in the volume: a new container finds them', async () => {
    const before = await identity();
    expect(before).toMatchObject({ signing_keys: [expect.objectContaining({ status: 'active' })] });
    // The CLI inside the container writes to the database in the volume.
    const created = await podman(['exec', first, 'uuru-fed', 'token', 'create', 'kept-in-volume']);
    expect({ code: created.code, err: created.stderr }).toMatchObject({ code: 0 });

    await podmanOk(['rm', '--force', '--time', '10', first]);
    await waitUntil(async () => (await podman(['container', 'exists', first])).code === 1, {
      what: 'the first container gone',
      timeoutMs: 30_000,
    });
    const second = await startContainer();
    await waitReady(second);

    expect(await identity()).toEqual(before);
    const list = await fetch(`http://127.0.0.1:${adminPort}/api/admin/tokens`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(list.status).toBe(200);
    const { tokens } = (await list.json()) as { tokens: Array<{ name: string }> };
    expect(tokens.map((t) => t.name)).toContain('kept-in-volume');
    // The data folder stays private to the user node.
    const mode = await podmanOk(['exec', second, 'stat', '-c', '%u %a', '/var/lib/uuru-federation']);
    expect(mode.trim()).toBe('1000 700');
  });
});
