/**
 * Podman for tests that build and run the project's container image, with no
 * container registry in reach.
 *
 * - Storage of its own under the test cache folder (~/.cache/uuru-federation/podman,
 *   or UURU_TEST_CACHE_DIR), so that image layers survive between runs: a warm
 *   build only redoes what changed (the TypeScript build and later steps).
 * - The image's public Node.js base (the Dockerfile's NODE_IMAGE) cannot be
 *   pulled, so the stand-in scripts/setup-system.sh makes (Debian trixie from
 *   the apt mirror plus this machine's Node.js, in node-base-trixie) is imported
 *   once and passed as NODE_IMAGE.
 * - Engine settings for a root container without a systemd or a full cgroup v2
 *   tree: runc (crun 1.8 refuses the hybrid cgroup layout), cgroupfs, and open
 *   files and process limits no higher than the engine's own processes have
 *   (the default asks for 1048576, which a sandbox with a lower hard limit
 *   refuses: "setrlimit RLIMIT_NOFILE: Operation not permitted").
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface PodmanResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function testCacheDir(): string {
  return process.env.UURU_TEST_CACHE_DIR ?? path.join(os.homedir(), '.cache', 'uuru-federation');
}

/** The root file system scripts/setup-system.sh builds: the same variable, the same default. */
export function nodeBaseDir(): string {
  return process.env.UURU_TEST_NODE_BASE ?? path.join(testCacheDir(), 'node-base-trixie');
}

/** The hard limit this process has for a resource of /proc/self/limits ("Max open files"). */
function hardLimit(name: string): number {
  const line = fs
    .readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(name));
  const hard = line?.slice(26).trim().split(/\s+/)[1];
  return hard && /^\d+$/.test(hard) ? Number(hard) : hard === 'unlimited' ? Infinity : 1024;
}

let engineEnv: Record<string, string> | null = null;

/** CONTAINERS_CONF and CONTAINERS_STORAGE_CONF for this project's Podman store. */
function podmanEnv(): Record<string, string> {
  if (engineEnv) return engineEnv;
  const dir = path.join(testCacheDir(), 'podman');
  fs.mkdirSync(dir, { recursive: true });
  // Open files: this process's own hard limit. Processes: no more than that nor than
  // 32768, the limit conmon (the container's monitor process) was seen running with here
  // (runc sets the container's limits from inside it, and raising one needs privilege).
  const nofile = hardLimit('Max open files');
  const nproc = Math.min(hardLimit('Max processes'), nofile, 32768);
  const containersConf = path.join(os.tmpdir(), `uuru-federation-containers-${process.pid}.conf`);
  process.once('exit', () => fs.rmSync(containersConf, { force: true }));
  fs.writeFileSync(
    containersConf,
    [
      '[containers]',
      `default_ulimits = ["nofile=${nofile}:${nofile}", "nproc=${nproc}:${nproc}"]`,
      '[engine]',
      'runtime = "runc"',
      'cgroup_manager = "cgroupfs"',
      '',
    ].join('\n'),
  );
  const storageConf = path.join(dir, 'storage.conf');
  fs.writeFileSync(
    storageConf,
    [
      '[storage]',
      'driver = "overlay"',
      `graphroot = "${path.join(dir, 'storage')}"`,
      `runroot = "${path.join(os.tmpdir(), 'uuru-federation-podman-run')}"`,
      '',
    ].join('\n'),
  );
  engineEnv = { CONTAINERS_CONF: containersConf, CONTAINERS_STORAGE_CONF: storageConf };
  return engineEnv;
}

/** Runs podman with this project's store and settings; never rejects. */
export function podman(
  args: string[],
  opts: { timeoutMs?: number; input?: string } = {},
): Promise<PodmanResult> {
  return new Promise((resolve) => {
    const child = execFile(
      'podman',
      args,
      {
        env: { ...process.env, ...podmanEnv() },
        timeout: opts.timeoutMs ?? 60_000,
        maxBuffer: 64 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr: err && code === -1 ? `${stderr}${err.message}` : stderr });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** Like podman(), but throws with its output unless it exits 0; resolves with stdout. */
export async function podmanOk(args: string[], opts: { timeoutMs?: number } = {}): Promise<string> {
  const r = await podman(args, opts);
  if (r.code !== 0) {
    throw new Error(
      `podman ${args.join(' ')} exited ${r.code}:\n${r.stderr.slice(-4000)}\n${r.stdout.slice(-4000)}`,
    );
  }
  return r.stdout;
}

/**
 * The local stand-in for the public Node.js base, imported from
 * scripts/setup-system.sh's root file system when this store does not hold it
 * yet. Its tag names the Node.js version and the root's build time, so a
 * rebuilt root is imported again. Returns the image reference.
 */
export async function localNodeBaseImage(): Promise<string> {
  const root = nodeBaseDir();
  const node = path.join(root, 'usr', 'local', 'bin', 'node');
  if (!fs.existsSync(node)) {
    throw new Error(`no Node.js base root at ${root}: run "bash scripts/setup-system.sh" as root`);
  }
  const stamp = Math.floor(fs.statSync(node).mtimeMs / 1000).toString(36);
  const ref = `localhost/uuru-test-node-base:${stamp}`;
  if ((await podman(['image', 'exists', ref])).code === 0) return ref;
  const tar = path.join(testCacheDir(), 'podman', `node-base-${process.pid}.tar`);
  await new Promise<void>((resolve, reject) =>
    execFile('tar', ['-C', root, '--numeric-owner', '-cf', tar, '.'], { timeout: 120_000 }, (err) =>
      err ? reject(err) : resolve(),
    ),
  );
  try {
    const ca = '/usr/local/share/host-ca-bundle.crt';
    await podmanOk(
      [
        'import',
        '--change',
        'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        // node-gyp builds against the headers in the root instead of downloading them
        '--change',
        'ENV npm_config_nodedir=/usr/local',
        '--change',
        `ENV npm_config_cafile=${ca}`,
        '--change',
        `ENV NODE_EXTRA_CA_CERTS=${ca}`,
        '--change',
        'CMD ["node"]',
        tar,
        ref,
      ],
      { timeoutMs: 300_000 },
    );
  } finally {
    fs.rmSync(tar, { force: true });
  }
  return ref;
}
