/**
 * What global setup leaves for global teardown (and for the next run, if this
 * one crashed): a small JSON file per run under the OS temp dir.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pidAlive, pidCommandLine } from './processes';

export interface MariaDbState {
  /** Pid of the jest process that started the server. */
  ownerPid: number;
  pid: number;
  baseDir: string;
  host: string;
  port: number;
  user: string;
  password: string;
  socketPath: string;
}

const PREFIX = 'uuru-federation-test-mariadb-';

export function mariaDbStateFile(ownerPid: number = process.pid): string {
  return path.join(os.tmpdir(), `${PREFIX}${ownerPid}.json`);
}

export function readMariaDbState(file: string): MariaDbState | null {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as MariaDbState;
  } catch {
    return null;
  }
}

/** Stops servers of earlier runs whose jest process is gone, if the pid still runs our mariadbd. */
export function cleanupStaleMariaDbs(): void {
  for (const name of fs.readdirSync(os.tmpdir())) {
    if (!name.startsWith(PREFIX)) continue;
    const file = path.join(os.tmpdir(), name);
    const state = readMariaDbState(file);
    if (!state || pidAlive(state.ownerPid)) continue;
    if (
      state.pid > 0 &&
      pidAlive(state.pid) &&
      state.baseDir &&
      pidCommandLine(state.pid)?.includes(state.baseDir)
    ) {
      try {
        process.kill(state.pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    if (state.baseDir) fs.rmSync(state.baseDir, { recursive: true, force: true });
    fs.rmSync(file, { force: true });
  }
}
