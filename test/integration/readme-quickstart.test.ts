import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Command, Option } from 'commander';
import { CliContext } from '../../src/cli/context';
import { buildProgram } from '../../src/cli/program';
import { freePort } from '../harness/ports';
import { sleep } from '../harness/processes';
import { type Instance, tryLogin } from './admin-fixtures';
import { ROOT } from './cli-fixtures';
import { waitUntil } from '../harness/wait';

/**
 * The README's quick start, run as written: its marked shell blocks
 * (`<!-- readme-test: server -->` and `<!-- readme-test: admin -->`) are
 * taken from README.md and run by bash in a fresh copy of the checkout, the
 * first in one terminal (npm start stays running), the second in another, as
 * a new admin would. One command is not run: `npm ci`, which needs the
 * package registry; the copy links the checkout's installed node_modules
 * instead (what `npm ci` makes from package-lock.json). npm runs offline, so
 * `npx uuru-fed` must find the checkout's own CLI. The ports come from the
 * environment (UURU_HTTP_LISTEN, UURU_ADMIN_LISTEN), as an admin would set
 * them on a machine where 8090 is taken; Asterisk is left enabled and
 * unreachable (a port nothing listens on), as on a fresh machine.
 *
 * Then every `uuru-fed` command named anywhere in README.md and docs/*.md is
 * checked against the CLI's command tree: the command exists and takes the
 * options written.
 */

const README = path.join(ROOT, 'README.md');
const PASSWORD = 'a readme quickstart password';

/** The shell block after each `<!-- readme-test: <name> ... -->` marker. */
function markedBlocks(markdown: string): Map<string, string> {
  const blocks = new Map<string, string>();
  for (const m of markdown.matchAll(
    /<!-- readme-test: ([a-z]+)[^>]*-->\s*```(?:sh|bash|shell)\n([\s\S]*?)\n```/g,
  ))
    blocks.set(m[1], m[2]);
  return blocks;
}

/** Every uuru-fed command line in a markdown text: code spans and shell blocks, `npx` or not. */
function uuruFedCommands(markdown: string): string[] {
  const found: string[] = [];
  const take = (text: string) => {
    for (const m of text.matchAll(/(?:^|[\s`(])(?:npx )?uuru-fed((?: +[^\s`|#)]+)+)/g))
      found.push(m[1].trim());
  };
  const fences = /```[a-z]*\n([\s\S]*?)\n```/g;
  for (const block of markdown.matchAll(fences)) for (const line of block[1].split('\n')) take(line);
  for (const span of markdown.replace(fences, '').matchAll(/`([^`]+)`/g)) take(span[1].replace(/\s+/g, ' '));
  return [...new Set(found)];
}

function optionsOf(cmd: Command): string[] {
  const names = ['--help', '-h'];
  for (let c: Command | null = cmd; c; c = c.parent) {
    for (const o of c.options as Option[]) names.push(...[o.long, o.short].filter((x): x is string => !!x));
  }
  return names;
}

/** Why a command line does not fit the CLI, or null when it does. */
function commandProblem(program: Command, line: string): string | null {
  let cmd = program;
  const words = line.split(' ').filter((w) => w.length > 0);
  for (const w of words) {
    if (w.startsWith('-')) {
      const name = w.split('=')[0];
      if (!optionsOf(cmd).includes(name)) return `'${cmd.name()}' has no option ${name}`;
      continue;
    }
    const sub = cmd.commands.find((c) => c.name() === w || c.aliases().includes(w));
    // Anything else is an argument or an option's value: the command stays where it is.
    if (sub) cmd = sub;
  }
  const helpOnly = words.some((w) => ['--help', '-h', '--version', '-V'].includes(w));
  if (cmd.commands.length > 0 && !helpOnly)
    return `'${[cmd.name(), ...cmd.commands.map((c) => c.name())].join(' ')}': no subcommand given`;
  return null;
}

/** A copy of the checkout as `git clone` would give it (tracked and new files, nothing ignored), no dist/. */
function copyCheckout(to: string): void {
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: ROOT,
    encoding: 'utf8',
  })
    .split('\0')
    .filter((f) => f.length > 0 && f !== 'node_modules');
  for (const f of files) {
    const from = path.join(ROOT, f);
    if (!fs.existsSync(from) || fs.lstatSync(from).isDirectory()) continue;
    fs.mkdirSync(path.dirname(path.join(to, f)), { recursive: true });
    fs.copyFileSync(from, path.join(to, f));
  }
  fs.symlinkSync(fs.realpathSync(path.join(ROOT, 'node_modules')), path.join(to, 'node_modules'));
}

describe('README quick start, run as written', () => {
  const readme = fs.readFileSync(README, 'utf8');
  const blocks = markedBlocks(readme);
  /** The temporary folder (a copy of the checkout, a home folder, Asterisk's config folder) and the checkout in it. */
  let tmpRoot = '';
  let work = '';
  let env: Record<string, string> = {};
  let fedPort = 0;
  let adminPort = 0;
  let server: ChildProcess | null = null;
  let serverOutput = '';

  beforeAll(async () => {
    tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'uuru-readme-'));
    const checkout = path.join(tmpRoot, 'uuru-federation');
    const home = path.join(tmpRoot, 'home');
    fs.mkdirSync(home);
    copyCheckout(checkout);
    [fedPort, adminPort] = [await freePort(), await freePort()];
    const [amiPort, ariPort] = [await freePort(), await freePort()];
    env = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: home,
      npm_config_offline: 'true',
      npm_config_update_notifier: 'false',
      npm_config_fund: 'false',
      UURU_HTTP_LISTEN: `127.0.0.1:${fedPort}`,
      UURU_ADMIN_LISTEN: `127.0.0.1:${adminPort}`,
      UURU_ASTERISK_AMI_PORT: String(amiPort),
      UURU_ASTERISK_ARI_URL: `http://127.0.0.1:${ariPort}`,
      UURU_ASTERISK_CONFIG_DIR: path.join(tmpRoot, 'asterisk'),
    };
    work = checkout;
  });

  afterAll(async () => {
    // npm start runs npm, sh and node: the whole process group goes.
    const pid = server?.pid;
    if (pid) {
      const alive = () => {
        try {
          process.kill(-pid, 0);
          return true;
        } catch {
          return false;
        }
      };
      if (alive()) process.kill(-pid, 'SIGTERM');
      for (let i = 0; i < 100 && alive(); i++) await sleep(100);
      if (alive()) process.kill(-pid, 'SIGKILL');
      for (let i = 0; i < 100 && alive(); i++) await sleep(100);
    }
    // The copy of the checkout, its build and the sidecar's data.
    if (tmpRoot) fs.rmSync(tmpRoot, { recursive: true, force: true });
  });

  it('has the two marked blocks', () => {
    expect([...blocks.keys()]).toEqual(['server', 'admin']);
  });

  it('first terminal: npm start builds and serves', async () => {
    const lines = blocks
      .get('server')!
      .split('\n')
      .map((l) => l.replace(/\s+#.*$/, '').trim())
      .filter((l) => l.length > 0);
    // `npm ci` is the one command left out (see above); the last line keeps running, as the README says.
    const commands = lines.map((l) =>
      l
        .split('&&')
        .map((c) => c.trim())
        .filter((c) => c !== 'npm ci')
        .join(' && '),
    );
    expect(lines.join('\n')).toContain('npm ci');
    for (const c of commands.slice(0, -1).filter((x) => x.length > 0))
      execFileSync('bash', ['-c', c], { cwd: work, env, stdio: 'pipe', timeout: 300_000 });
    const child = spawn('bash', ['-c', commands[commands.length - 1]], {
      cwd: work,
      env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    server = child;
    child.stdout!.on('data', (d: Buffer) => (serverOutput += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (serverOutput += d.toString()));
    type Ready = { status: number; body: { database?: string; not_ready?: string[] } };
    const ready = await waitUntil(
      async (): Promise<Ready | undefined> => {
        const res = await fetch(`http://127.0.0.1:${adminPort}/readyz`);
        const body = (await res.json()) as Ready['body'];
        return body.database === 'up' ? { status: res.status, body } : undefined;
      },
      {
        what: 'the sidecar started by the README',
        timeoutMs: 300_000,
        intervalMs: 500,
        abort: () =>
          child.exitCode !== null ? `exited ${child.exitCode}: ${serverOutput.slice(-2000)}` : null,
      },
    );
    // As the README says: it serves, and readiness says AMI is what is missing.
    expect(ready).toMatchObject({ status: 503, body: { not_ready: ['ami'] } });
    expect((await fetch(`http://127.0.0.1:${adminPort}/healthz`)).status).toBe(200);
    expect(fs.statSync(path.join(work, 'dist', 'cli', 'main.js')).mode & 0o111).not.toBe(0);
  }, 330_000);

  it('second terminal: admin create, token create, status and peers list work as written', async () => {
    const script = `set -euo pipefail\n${blocks.get('admin')!}\n`;
    const run = await new Promise<{ code: number | null; stdout: string; stderr: string }>(
      (resolve, reject) => {
        const child = spawn('bash', ['-c', script], { cwd: work, env, stdio: ['pipe', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.on('error', reject);
        child.on('close', (code) => resolve({ code, stdout, stderr }));
        child.stdin.end(`${PASSWORD}\n`);
      },
    );
    if (run.code !== 0) throw new Error(`the README's admin block failed (${run.code}):\n${run.stderr}`);
    expect(run.stdout).toContain("admin 'admin' created\n");
    expect(run.stderr).toContain(
      `uuru-fed: database: SQLite ${path.join(work, 'data', 'uuru-federation.sqlite')}`,
    );
    expect(run.stdout).toContain(
      `listeners:    federation 127.0.0.1:${fedPort}, admin 127.0.0.1:${adminPort}\n`,
    );
    expect(run.stdout).toMatch(/\nasterisk: +files backend, AMI [a-z_ ]+, ARI [a-z_ ]+/);
    expect(run.stdout).toContain('signed in as: scripts\n');
    expect(run.stdout).toMatch(/\nID\s+NAME\s+PREFIX\s+PARTNER/);
    // The account works on the running instance's panel.
    const login = await tryLogin(
      { adminUrl: `http://127.0.0.1:${adminPort}` } as Instance,
      'admin',
      PASSWORD,
    );
    expect(login.status).toBe(303);
  });
});

describe('uuru-fed commands named in README.md and docs/', () => {
  const program = buildProgram(
    new CliContext({ stdout: process.stdout, stderr: process.stderr, stdin: process.stdin }),
  );
  const docs = [
    README,
    ...fs.readdirSync(path.join(ROOT, 'docs')).map((f) => path.join(ROOT, 'docs', f)),
  ].filter((f) => f.endsWith('.md'));

  it('finds them (the check below has something to check)', () => {
    const all = docs.flatMap((f) => uuruFedCommands(fs.readFileSync(f, 'utf8')));
    expect(all).toContain('admin create admin');
    expect(all).toContain('requests accept berlin --prefix 71');
    expect(all.length).toBeGreaterThan(15);
  });

  it('each names an existing command with options it takes', () => {
    const problems = docs.flatMap((f) =>
      uuruFedCommands(fs.readFileSync(f, 'utf8'))
        .map((c) => [c, commandProblem(program, c)] as const)
        .filter(([, p]) => p !== null)
        .map(([c, p]) => `${path.relative(ROOT, f)}: uuru-fed ${c}: ${p}`),
    );
    expect(problems).toEqual([]);
  });

  it('would catch the command the README used to give', () => {
    expect(commandProblem(program, 'admin create --username admin')).toBe(
      "'create' has no option --username",
    );
    expect(commandProblem(program, 'peers show x')).toBe("'peers list': no subcommand given");
  });
});
