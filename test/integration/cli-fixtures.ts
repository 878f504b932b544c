import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { killPid } from '../harness/processes';

/**
 * The real `uuru-fed` CLI as a child process, for the CLI tests: the built
 * dist/cli/main.js, the file package.json's `bin` names and `npx uuru-fed`
 * runs (npm test builds first; run `npm run build` before running one CLI
 * test file alone: a build older than the sources is refused here).
 */

export const ROOT = path.resolve(__dirname, '..', '..');
export const CLI_BIN = path.join(ROOT, 'dist', 'cli', 'main.js');

function newestSource(dir: string): number {
  let newest = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestSource(p) : fs.statSync(p).mtimeMs);
  }
  return newest;
}

let checked = false;
function assertBuilt(): void {
  if (checked) return;
  if (!fs.existsSync(CLI_BIN)) throw new Error(`${CLI_BIN} is missing: run npm run build first`);
  if (fs.statSync(CLI_BIN).mtimeMs < newestSource(path.join(ROOT, 'src')))
    throw new Error(`${CLI_BIN} is older than src/: run npm run build first`);
  checked = true;
}

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** Working folder (default: the checkout). */
  cwd?: string;
  /**
   * Run under a pseudo-terminal (util-linux `script`), so standard input is a
   * TTY as when an admin types; stdin is then what they type. stdout and
   * stderr arrive together in stdout.
   */
  tty?: boolean;
}

/** Runs uuru-fed with only the given environment (no inherited UURU_* variables). */
export function cli(
  args: string[],
  env: Record<string, string> = {},
  stdin?: string,
  opts: CliOptions = {},
): Promise<Run> {
  assertBuilt();
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const [file, argv] = opts.tty
    ? ['script', ['-qefc', [process.execPath, CLI_BIN, ...args].map(quote).join(' '), '/dev/null']]
    : [process.execPath, [CLI_BIN, ...args]];
  return new Promise((resolve, reject) => {
    const child = spawn(file, argv, {
      cwd: opts.cwd ?? ROOT,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', UURU_LOG_FORMAT: 'json', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      if (child.pid) void killPid(child.pid, child);
      reject(new Error(`uuru-fed ${args.join(' ')} timed out; stderr: ${stderr}`));
    }, 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(stdin ?? '');
  });
}
