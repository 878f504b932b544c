import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** True while a process with this pid exists (zombies of our own children are reaped by Node). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The command line of a running pid, or null; used to confirm a pid is still ours before signalling it. */
export function pidCommandLine(pid: number): string | null {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return null;
  }
}

async function waitGone(pid: number, child: ChildProcess | undefined, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child ? child.exitCode !== null || child.signalCode !== null : !pidAlive(pid)) return true;
    await sleep(50);
  }
  return false;
}

/** SIGTERM, then SIGKILL after graceMs; resolves once the process is gone. */
export async function stopPid(
  pid: number,
  opts: { child?: ChildProcess; graceMs?: number } = {},
): Promise<void> {
  const { child } = opts;
  if (child ? child.exitCode !== null || child.signalCode !== null : !pidAlive(pid)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  if (await waitGone(pid, child, opts.graceMs ?? 10_000)) return;
  await killPid(pid, child);
}

/** SIGKILL and wait until the process is gone. */
export async function killPid(pid: number, child?: ChildProcess): Promise<void> {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  if (!(await waitGone(pid, child, 10_000))) throw new Error(`process ${pid} survived SIGKILL`);
}

/** Last lines of a log file, for error messages when a server fails to start. */
export function tailFile(file: string, lines = 30): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
