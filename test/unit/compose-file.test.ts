import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { ENV_ALIASES, READ_VARIABLES } from '../../src/config/load-config';

/**
 * examples/compose/compose.yaml, read with the yaml package (it is not started
 * here: its MariaDB and Debian images cannot be pulled without a registry): the sidecar is given only variables it reads, its
 * admin listener is published on the host's loopback address only, and the
 * Asterisk side (the asterisk-conf snippets the entry point installs) agrees
 * with what the sidecar is told.
 */

const ROOT = path.join(__dirname, '..', '..');
const DIR = path.join(ROOT, 'examples', 'compose');
const composeText = fs.readFileSync(path.join(DIR, 'compose.yaml'), 'utf8');

interface Service {
  build?: string | { context: string; args?: Record<string, string> };
  image?: string;
  environment?: Record<string, string | number | boolean | null>;
  ports?: string[];
  volumes?: string[];
  network_mode?: string;
  group_add?: (string | number)[];
  entrypoint?: unknown;
}

const compose = YAML.parse(composeText) as { services: Record<string, Service> };
const services = compose.services;

const contextOf = (s: Service): string | null => {
  const ctx = typeof s.build === 'string' ? s.build : s.build?.context;
  return ctx ? path.resolve(DIR, ctx) : null;
};

/** The service built from this repository's Dockerfile. */
const sidecarName = Object.keys(services).find((n) => contextOf(services[n]) === ROOT);
const sidecar = services[sidecarName ?? ''];
const env = (sidecar?.environment ?? {}) as Record<string, string>;

/** "127.0.0.1:8091:8091" → { hostIp: '127.0.0.1', container: 8091 }. */
function parsePort(spec: string): { hostIp: string | null; hostPort: number; container: number } {
  const parts = spec.replace(/\/(tcp|udp)$/, '').split(':');
  const container = Number(parts[parts.length - 1]);
  const hostPort = Number(parts.length >= 2 ? parts[parts.length - 2] : container);
  const hostIp = parts.length === 3 ? parts[0] : null;
  return { hostIp, hostPort, container };
}

const portOf = (listen: string): number => Number(/:(\d+)$/.exec(listen)?.[1]);

/** Where the sidecar's ports are published: its own service, or the one whose network namespace it shares. */
function networkOwner(): Service {
  const m = /^service:(.+)$/.exec(sidecar.network_mode ?? '');
  return m ? services[m[1]] : sidecar;
}

/** ${NAME}, ${NAME:?msg}, ${NAME:-default} in the compose file. */
function interpolated(): { name: string; required: boolean }[] {
  return [...composeText.matchAll(/\$\{([A-Z0-9_]+)(:?[-?][^}]*)?\}/g)].map((m) => ({
    name: m[1],
    required: !m[2] || m[2].startsWith(':?') || m[2].startsWith('?'),
  }));
}

function dotEnvNames(file: string): string[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .map((l) => /^([A-Z0-9_]+)=/.exec(l.trim())?.[1])
    .filter((n): n is string => n !== undefined);
}

/** Sections and key = value pairs of an Asterisk config snippet. */
function asteriskConf(name: string): Map<string, Map<string, string>> {
  const sections = new Map<string, Map<string, string>>();
  let current: Map<string, string> | null = null;
  for (const raw of fs.readFileSync(path.join(ROOT, 'asterisk-conf', name), 'utf8').split('\n')) {
    const line = raw.replace(/;.*$/, '').trim();
    const head = /^\[([^\]]+)\]/.exec(line);
    if (head) sections.set(head[1], (current = new Map()));
    else if (current && line.includes('=')) {
      const [k, ...v] = line.split('=');
      current.set(k.trim(), v.join('=').trim());
    }
  }
  return sections;
}

describe('examples/compose/compose.yaml', () => {
  it('builds the sidecar from this repository', () => {
    expect(sidecarName).toBeDefined();
    expect(Object.keys(env).length).toBeGreaterThan(0);
  });

  it("sets only variables the sidecar reads, none of them a deprecated alias (README's table documents each)", () => {
    const deprecated = new Set(ENV_ALIASES.map((a) => a.name));
    const unknown = Object.keys(env).filter((n) => !READ_VARIABLES.includes(n) || deprecated.has(n));
    expect(unknown).toEqual([]);
  });

  it("publishes the admin listener on the host's loopback address only", () => {
    const admin = portOf(env.UURU_ADMIN_LISTEN ?? '127.0.0.1:8091');
    const owner = networkOwner();
    const published = (owner.ports ?? []).map(parsePort).filter((p) => p.container === admin);
    expect(published.length).toBeGreaterThan(0);
    for (const p of published) expect(['127.0.0.1', '[::1]']).toContain(p.hostIp);
    // nobody else publishes it either
    for (const [name, s] of Object.entries(services)) {
      if (s === owner) continue;
      expect([name, (s.ports ?? []).map(parsePort).filter((p) => p.container === admin)]).toEqual([name, []]);
    }
  });

  it('publishes the federation listener and IAX2', () => {
    const ports = (networkOwner().ports ?? []).map(parsePort);
    expect(ports.map((p) => p.container)).toContain(portOf(env.UURU_HTTP_LISTEN));
    expect((networkOwner().ports ?? []).some((p) => /:4569\/udp$/.test(p))).toBe(true);
  });

  it('mounts the asterisk-conf snippets into the Asterisk service and installs the ones it needs', () => {
    const asterisk = networkOwner();
    const mounts = (asterisk.volumes ?? []).map((v) => v.split(':'));
    const snippetMount = mounts.find(([src]) => path.resolve(DIR, src) === path.join(ROOT, 'asterisk-conf'));
    expect(snippetMount).toBeDefined();
    const entrypoint = fs.readFileSync(path.join(DIR, 'asterisk', 'entrypoint.sh'), 'utf8');
    expect(entrypoint).toContain(`snippets="\${UURU_SNIPPETS_DIR:-${snippetMount![1]}}"`);
    for (const file of ['manager.conf', 'ari.conf', 'http.conf', 'iax.conf', 'extensions.conf']) {
      expect(fs.existsSync(path.join(ROOT, 'asterisk-conf', file))).toBe(true);
      expect(entrypoint).toMatch(new RegExp(`(install_snippet|append_once) ${file.replace('.', '\\.')}\\b`));
    }
  });

  it('gives the sidecar the config folder Asterisk reads, writable through the asterisk group', () => {
    const asterisk = networkOwner();
    const shared = (asterisk.volumes ?? [])
      .map((v) => v.split(':'))
      .find(([, target]) => target === '/etc/asterisk');
    expect(shared).toBeDefined();
    expect(sidecar.volumes).toContain(`${shared![0]}:${env.UURU_ASTERISK_CONFIG_DIR}`);
    const gid = typeof asterisk.build === 'object' ? asterisk.build.args?.ASTERISK_GID : undefined;
    expect(gid).toMatch(/^\$\{ASTERISK_GID\b/);
    expect(sidecar.group_add?.map(String)).toEqual([gid]);
  });

  it('tells the sidecar the AMI and ARI users, ports and addresses the snippets configure', () => {
    const manager = asteriskConf('manager.conf');
    const http = asteriskConf('http.conf');
    const ari = asteriskConf('ari.conf');
    expect(manager.has(env.UURU_ASTERISK_AMI_USER)).toBe(true);
    expect(manager.get('general')?.get('port')).toBe(env.UURU_ASTERISK_AMI_PORT);
    expect(manager.get('general')?.get('bindaddr')).toBe(env.UURU_ASTERISK_AMI_ADDR);
    expect(ari.get(env.UURU_ASTERISK_ARI_USER)?.get('type')).toBe('user');
    const ariUrl = new URL(env.UURU_ASTERISK_ARI_URL);
    expect(ariUrl.hostname).toBe(http.get('general')?.get('bindaddr'));
    expect(ariUrl.port).toBe(http.get('general')?.get('bindport'));
    // both reach 127.0.0.1 of the Asterisk container only because they share its namespace
    expect(sidecar.network_mode).toBe(
      `service:${Object.keys(services).find((n) => services[n] === networkOwner())}`,
    );
  });

  it('.env.example names every variable the compose file needs, and nothing else', () => {
    const example = dotEnvNames(path.join(DIR, '.env.example'));
    const used = interpolated();
    expect(used.filter((u) => u.required && !example.includes(u.name)).map((u) => u.name)).toEqual([]);
    expect(example.filter((n) => !used.some((u) => u.name === n))).toEqual([]);
  });
});
