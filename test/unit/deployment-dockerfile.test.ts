import fs from 'node:fs';
import path from 'node:path';
import { ENV_ALIASES, READ_VARIABLES } from '../../src/config/load-config';

/**
 * The Dockerfile, read statically, for what a build on the stand-in base
 * cannot show (test/integration/container-image.test.ts builds and runs the
 * image, but on a local Node.js base, since no registry is reachable): a pinned Node LTS base,
 * a non-root user, the health check following the configured port, the admin
 * listener on loopback, uuru-fed on the PATH, only variables the sidecar reads.
 */

const ROOT = path.join(__dirname, '..', '..');

interface Instruction {
  keyword: string;
  args: string;
}

/** Instructions with continuation lines joined and comments dropped (enough for this Dockerfile's syntax). */
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) continue;
    if (pending !== '' && line.startsWith('#')) continue;
    if (line.endsWith('\\')) {
      pending += line.slice(0, -1) + ' ';
      continue;
    }
    const full = (pending + line).trim();
    pending = '';
    const m = /^([A-Za-z]+)\s+([\s\S]*)$/.exec(full);
    if (m) out.push({ keyword: m[1].toUpperCase(), args: m[2].trim() });
  }
  return out;
}

/** ENV's KEY=value pairs (the form this Dockerfile uses). */
function envPairs(args: string): [string, string][] {
  return [...args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S*)/g)].map((m) => [
    m[1],
    m[2].replace(/^"|"$/g, ''),
  ]);
}

/** The stages, each with its base image (build args before the first FROM resolved to their defaults). */
function stagesOf(instructions: Instruction[]): { from: string; name: string | null; body: Instruction[] }[] {
  const globalArgs = new Map<string, string>();
  const stages: { from: string; name: string | null; body: Instruction[] }[] = [];
  for (const ins of instructions) {
    if (ins.keyword === 'ARG' && stages.length === 0) {
      const [k, v] = ins.args.split('=');
      globalArgs.set(k.trim(), (v ?? '').trim());
    } else if (ins.keyword === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (!m) throw new Error(`cannot read FROM ${ins.args}`);
      const from = m[1].replace(/\$\{([A-Za-z0-9_]+)\}|\$([A-Za-z0-9_]+)/g, (_, a: string, b: string) => {
        const v = globalArgs.get(a ?? b);
        if (v === undefined) throw new Error(`FROM uses ${a ?? b}, which has no default`);
        return v;
      });
      stages.push({ from, name: m[2] ?? null, body: [] });
    } else if (stages.length > 0) {
      stages[stages.length - 1].body.push(ins);
    }
  }
  return stages;
}

const instructions = parseDockerfile(fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8'));
const stages = stagesOf(instructions);
const final = stages[stages.length - 1];
const finalOf = (keyword: string) => final.body.filter((i) => i.keyword === keyword);
const finalEnv = new Map(finalOf('ENV').flatMap((i) => envPairs(i.args)));

describe('Dockerfile', () => {
  it('builds in stages and runs on an exactly pinned Node 26 (the Active LTS line) image', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const s of stages) {
      // node:<major>.<minor>.<patch>-<variant>, optionally with a content digest
      expect(s.from).toMatch(/^node:26\.\d+\.\d+-[a-z]+(-slim)?(@sha256:[0-9a-f]{64})?$/);
    }
    expect(final.body.some((i) => i.keyword === 'COPY' && /--from=build\b/.test(i.args))).toBe(true);
  });

  it('runs as an unprivileged user', () => {
    const users = finalOf('USER').map((i) => i.args.split(':')[0]);
    expect(users.length).toBeGreaterThan(0);
    expect(['root', '0']).not.toContain(users[users.length - 1]);
    // nothing after the last USER switches back
    const lastUser = final.body.lastIndexOf(finalOf('USER').slice(-1)[0]);
    expect(final.body.slice(lastUser + 1).some((i) => i.keyword === 'USER')).toBe(false);
  });

  it("health check asks the sidecar's configured listener, no port written into the image", () => {
    const checks = finalOf('HEALTHCHECK');
    expect(checks).toHaveLength(1);
    const cmd = checks[0].args.replace(/^(--[a-z-]+=\S+\s+)*/, '');
    expect(cmd).toMatch(/^CMD\s+\["node",\s*"\/app\/dist\/healthcheck\.js"\]$/);
    expect(checks[0].args).not.toMatch(/:\d{2,5}\b/);
    expect(fs.existsSync(path.join(ROOT, 'src', 'healthcheck.ts'))).toBe(true);
  });

  it('keeps the admin listener on the loopback address', () => {
    const admin = finalEnv.get('UURU_ADMIN_LISTEN');
    expect(admin).toBeDefined();
    expect(admin).toMatch(/^(127\.0\.0\.1|\[::1\]):\d+$/);
    const exposed = finalOf('EXPOSE').flatMap((i) => i.args.split(/\s+/));
    expect(exposed).not.toContain(admin!.split(':').pop());
  });

  it('puts uuru-fed on the PATH, pointing at the bin package.json names', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
      bin: Record<string, string>;
    };
    const runs = finalOf('RUN').map((i) => i.args);
    const target = `/app/${pkg.bin['uuru-fed']}`;
    expect(runs.some((r) => r.includes(`ln -s ${target} /usr/local/bin/uuru-fed`))).toBe(true);
    expect(runs.some((r) => r.includes(`chmod 0755 ${pkg.bin['uuru-fed']}`))).toBe(true);
  });

  it('sets only variables the sidecar reads (no deprecated alias)', () => {
    const deprecated = new Set(ENV_ALIASES.map((a) => a.name));
    const uuru = [...finalEnv.keys()].filter((k) => k.startsWith('UURU_'));
    expect(uuru.length).toBeGreaterThan(0);
    expect(uuru.filter((k) => !READ_VARIABLES.includes(k) || deprecated.has(k))).toEqual([]);
  });
});

describe('.dockerignore', () => {
  it("keeps a checkout's data folder (database, key file), .env files and node_modules out of the build context", () => {
    const ignored = fs
      .readFileSync(path.join(ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    expect(ignored).toEqual(expect.arrayContaining(['data', '**/.env', 'node_modules', '.git']));
  });
});

describe('parseDockerfile', () => {
  it('joins continuation lines and skips comments inside them', () => {
    expect(parseDockerfile('# c\nRUN a \\\n  # inside\n  && b\nUSER node\n')).toEqual([
      { keyword: 'RUN', args: 'a  && b' },
      { keyword: 'USER', args: 'node' },
    ]);
  });
});
