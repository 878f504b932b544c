import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { type Instance, startInstances } from '../harness/instance';
import { killPid } from '../harness/processes';
import { adminOk, incomingByName, peerByName, type Sidecar } from '../harness/sidecar';
import { waitUntil } from '../harness/wait';

/**
 * The doctor's partner checks and test calls on two real instances (sidecar
 * + Asterisk each) peered over v2: the signed round trip and a real IAX2 test
 * call pass, the panel's Doctor page shows them in a real Chromium at phone
 * width (no sideways scroll, axe-core finds nothing serious), and a partner
 * that went away fails its check.
 */

const ROOT = path.resolve(__dirname, '..', '..');
const SHOTS = path.join(ROOT, 'test-artifacts', 'doctor');
const PASSWORD = 'doctor panel password';
const NAME = 'doc_v2';

interface Check {
  id: string;
  status: 'ok' | 'warn' | 'fail' | 'skip';
  detail: string;
  fix: string | null;
}
interface Report {
  status: string;
  calls: boolean;
  checks: Check[];
}

let A: Instance;
let B: Instance;
let context: BrowserContext | null = null;
let profile: string | null = null;

/** The real CLI creates the panel account in the sidecar's database. */
function createAdmin(s: Sidecar): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        '-r',
        'ts-node/register/transpile-only',
        path.join(ROOT, 'src/cli/main.ts'),
        'admin',
        'create',
        'admin',
      ],
      {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', UURU_DATA_DIR: s.dataDir },
        stdio: ['pipe', 'ignore', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.pid && void killPid(child.pid, child), 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`admin create exited ${code}: ${stderr}`));
    });
    child.stdin.end(`${PASSWORD}\n`);
  });
}

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

beforeAll(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  [A, B] = await startInstances([{ name: 'doca' }, { name: 'docb' }]);
  await createAdmin(A.sidecar);
  await adminOk(
    A.sidecar,
    'POST',
    '/federation/outgoing-requests',
    { name: NAME, partner_url: B.sidecar.federationUrl, prefix: '71', codec: 'ulaw', dialect: 'v2' },
    201,
  );
  const incoming = await waitUntil(() => incomingByName(B.sidecar, NAME), { what: 'the request on B' });
  await adminOk(
    B.sidecar,
    'POST',
    `/federation/incoming-requests/${incoming.id}/accept`,
    { prefix: '72' },
    200,
  );
  for (const s of [A.sidecar, B.sidecar]) {
    await waitUntil(
      async () =>
        ((await peerByName(s, NAME)) as { apply_state?: string } | undefined)?.apply_state === 'applied',
      { what: `${NAME} applied on ${s.name}`, timeoutMs: 30_000 },
    );
  }
}, 240_000);

afterAll(async () => {
  await context?.close().catch(() => undefined);
  if (profile) fs.rmSync(profile, { recursive: true, force: true });
  await Promise.allSettled([A?.stop(), B?.stop()]);
}, 120_000);

it('a live v2 partner: descriptor and signed round trip ok; with call=1 a real test call is answered', async () => {
  const plain = await doctor(A.sidecar);
  expect(plain.calls).toBe(false);
  expect(byId(plain, `partner.${NAME}`)).toMatchObject({ status: 'ok' });
  expect(byId(plain, `partner.${NAME}`).detail).toContain('signed round trip ok');
  expect(plain.checks.some((c) => c.id.startsWith('call.'))).toBe(false);
  // Every partner is on this host too: a loopback address reaches them.
  expect(byId(plain, 'address.iax2').status).toBe('ok');

  const withCalls = await doctor(A.sidecar, '?call=1');
  expect(withCalls.calls).toBe(true);
  const call = byId(withCalls, `call.${NAME}`);
  expect(call.status).toBe('ok');
  expect(call.detail).toMatch(/^answered by the partner's test extension in \d+ ms/);

  // The built CLI's --call does the same.
  const cli = await runBuiltCli([
    'doctor',
    '--call',
    '--json',
    '--url',
    A.sidecar.adminUrl,
    '--token',
    A.sidecar.token,
  ]);
  expect(cli.code).toBe(0);
  const report = JSON.parse(cli.stdout) as Report;
  expect(report.calls).toBe(true);
  expect(byId(report, `call.${NAME}`).status).toBe('ok');
});

/** The built CLI (dist/, `npm run build` first) as a child process. */
function runBuiltCli(args: string[]): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'dist', 'cli', 'main.js'), ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const timer = setTimeout(() => child.pid && void killPid(child.pid, child), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout });
    });
  });
}

async function openDoctorPage(s: Sidecar): Promise<Page> {
  profile = fs.mkdtempSync(path.join(os.tmpdir(), 'uuru-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
    viewport: { width: 390, height: 844 },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(60_000);
  await page.goto(`${s.adminUrl}/panel/login`);
  await page.getByLabel('Username').fill('admin');
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/panel\/federation$/);
  await page.goto(`${s.adminUrl}/panel/doctor`);
  return page;
}

/** axe-core's serious and critical findings in the page's main part (the top bar is the layout's; run through the DevTools protocol, so the CSP does not block it). */
async function seriousViolations(page: Page): Promise<string[]> {
  await page.evaluate(fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8'));
  const found = await page.evaluate(async () => {
    const axe = (
      window as unknown as {
        axe: {
          run(context: string): Promise<{
            violations: { id: string; impact: string; nodes: { target: string[] }[] }[];
          }>;
        };
      }
    ).axe;
    return (await axe.run('main')).violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      targets: v.nodes.map((n) => n.target.join(' ')),
    }));
  });
  return found
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id}: ${v.targets.join(', ')}`);
}

it('the panel Doctor page at 390 px: checks listed, no sideways scroll, the button runs the test calls', async () => {
  const page = await openDoctorPage(A.sidecar);
  await page.locator(`li[data-check="partner.${NAME}"][data-status="ok"]`).waitFor();
  expect(await page.locator('li[data-check="ami"][data-status="ok"]').count()).toBe(1);
  expect(await page.locator('li[data-check^="call."]').count()).toBe(0);
  // Nothing on the page's own part reaches past the screen's right edge (the top bar is the layout's).
  const overflow = await page.evaluate(() => {
    const edge = document.documentElement.clientWidth;
    return Array.from(document.querySelectorAll('main *'))
      .filter((e) => e.getBoundingClientRect().right > edge + 0.5)
      .map((e) => `${e.tagName.toLowerCase()}.${e.className}`);
  });
  expect(overflow).toEqual([]);
  expect(await seriousViolations(page)).toEqual([]);
  await page.screenshot({ path: path.join(SHOTS, 'panel-390.png'), fullPage: true });

  await page.getByRole('button', { name: 'Run with a test call per peer' }).click();
  await page.locator(`li[data-check="call.${NAME}"][data-status="ok"]`).waitFor();
  expect(await page.locator('main').innerText()).toContain('with a test call through every peer');
  await page.setViewportSize({ width: 1440, height: 900 });
  await page.screenshot({ path: path.join(SHOTS, 'panel-1440-with-calls.png'), fullPage: true });
});

it('a partner that went away: its check fails with the descriptor unreachable, the report fails', async () => {
  await B.sidecar.stop();
  const r = await doctor(A.sidecar);
  const partner = byId(r, `partner.${NAME}`);
  expect(partner.status).toBe('fail');
  expect(partner.detail).toMatch(/^descriptor unreachable: /);
  expect(partner.fix).toContain('reachable from here');
  expect(r.status).toBe('fail');
});
