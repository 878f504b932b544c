/**
 * `npm run demo` as a newcomer runs it: started in its own process group (as
 * a terminal does), it brings up two instances, federates them, calls both
 * ways and prints the panel URLs and credentials; the printed login and API
 * token work; Ctrl-C (SIGINT to the group, as the terminal sends it) stops
 * every process it started and removes its files.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { waitUntil } from '../harness/wait';

jest.setTimeout(240_000);

const ROOT = path.resolve(__dirname, '../..');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

interface Printed {
  name: string;
  panel: string;
  username: string;
  password: string;
  token: string;
  database: string;
  pids: number[];
}

/** The block the demo prints for one instance. */
function instanceBlock(out: string, name: string): Printed {
  const block = out.slice(out.indexOf(`\n  ${name}\n`));
  const field = (label: string): string => {
    const m = new RegExp(`^ {4}${label} +(\\S+)`, 'm').exec(block);
    if (!m) throw new Error(`the demo printed no "${label}" for ${name}:\n${out}`);
    return m[1];
  };
  const login = /^ {4}login +(\S+) \/ (\S+)$/m.exec(block);
  const procs = /^ {4}processes +sidecar pid (\d+), asterisk pid (\d+)$/m.exec(block);
  if (!login || !procs) throw new Error(`the demo printed no login or pids for ${name}:\n${out}`);
  return {
    name,
    panel: field('panel'),
    username: login[1],
    password: login[2],
    token: field('API token'),
    database: field('database'),
    pids: [Number(procs[1]), Number(procs[2])],
  };
}

async function panelLogin(p: Printed): Promise<number> {
  const base = new URL(p.panel).origin;
  const form = await fetch(`${base}/panel/login`);
  const cookie = (form.headers.get('set-cookie') ?? '').split(';')[0];
  const csrf = /name="_csrf" value="([^"]+)"/.exec(await form.text())?.[1] ?? '';
  const res = await fetch(`${base}/panel/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ _csrf: csrf, username: p.username, password: p.password }).toString(),
  });
  return res.status;
}

describe('npm run demo', () => {
  let demo: ChildProcess | null = null;
  let out = '';
  const started: number[] = [];

  afterAll(() => {
    // Only if the test failed half-way: end what the demo started, by pid.
    if (demo?.pid && demo.exitCode === null) {
      try {
        process.kill(-demo.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    for (const pid of started) {
      if (alive(pid)) process.kill(pid, 'SIGKILL');
    }
  });

  it('federates two instances, calls both ways, prints working logins, and Ctrl-C stops everything it started', async () => {
    demo = spawn('npm', ['run', '--silent', 'demo'], {
      cwd: ROOT,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, FORCE_COLOR: '0' },
    });
    demo.stdout?.on('data', (d: Buffer) => (out += d.toString('utf8')));
    demo.stderr?.on('data', (d: Buffer) => (out += d.toString('utf8')));
    // 'close': every holder of the output pipes has exited (npm and the demo under it).
    const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      demo?.once('close', (code, signal) => resolve({ code, signal })),
    );

    await waitUntil(
      () => {
        if (demo?.exitCode !== null) throw new Error(`the demo exited early:\n${out}`);
        return out.includes('Press Ctrl-C to stop everything.');
      },
      { what: 'the demo to be up', timeoutMs: 180_000, intervalMs: 200 },
    );

    expect(out).toMatch(/alpha dials 82\d+: answered by bravo over IAX2, setup \d+ ms/);
    expect(out).toMatch(/bravo dials 81\d+: answered by alpha over IAX2, setup \d+ ms/);
    const alpha = instanceBlock(out, 'alpha');
    const bravo = instanceBlock(out, 'bravo');
    started.push(...alpha.pids, ...bravo.pids);
    for (const pid of started) expect(alive(pid)).toBe(true);

    for (const p of [alpha, bravo]) {
      // The printed credentials sign in to the panel (303 to the federation page), a wrong one does not.
      expect(await panelLogin(p)).toBe(303);
      expect(await panelLogin({ ...p, password: `${p.password}x` })).not.toBe(303);
      // The printed API token works and shows the applied trunk.
      const res = await fetch(`${new URL(p.panel).origin}/api/admin/federation/peers`, {
        headers: { authorization: `Bearer ${p.token}` },
      });
      expect(res.status).toBe(200);
      expect(JSON.stringify(await res.json())).toMatch(/"name":"alpha_bravo".*"apply_state":"applied"/);
      expect(fs.existsSync(p.database)).toBe(true);
    }

    // Ctrl-C in a terminal: SIGINT to the demo's process group.
    process.kill(-(demo.pid ?? 0), 'SIGINT');
    const end = await closed;
    // npm passes the signal on and ends by it, as in a terminal; the demo itself ends cleanly.
    expect(end.code === 0 || end.signal === 'SIGINT').toBe(true);
    expect(out).not.toMatch(/demo failed|Still running/);
    expect(out).toMatch(/Stopped \(pids [\d, ]+\); temporary files removed\./);
    for (const pid of started) expect(alive(pid)).toBe(false);
    for (const p of [alpha, bravo]) expect(fs.existsSync(p.database)).toBe(false);
  });
});
