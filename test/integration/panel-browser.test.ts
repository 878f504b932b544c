import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../harness/chromium';
import { type AsteriskInstance, startAsterisk } from '../harness/asterisk';
import { killPid } from '../harness/processes';
import { destroyAll, type Sidecar, startSidecar } from '../harness/sidecar';

/**
 * The panel in a real browser (Debian's chromium through playwright-core)
 * against two real sidecar processes, each with its own real Asterisk: A's
 * admin creates a request, B's admin accepts it, both pages show the peer
 * (live, over server-sent events), a test call from A's panel is answered by
 * B's Echo, and the peer is torn down. Screenshots go to test-artifacts/panel/.
 */

const ROOT = path.resolve(__dirname, '..', '..');
const SHOTS = path.join(ROOT, 'test-artifacts', 'panel');
const PASSWORD = 'browser test password';
const TEST_EXTENSION = '9999';

let astA: AsteriskInstance | null = null;
let astB: AsteriskInstance | null = null;
let a: Sidecar | null = null;
let b: Sidecar | null = null;
const contexts: BrowserContext[] = [];
const profiles: string[] = [];

function sidecarEnv(ast: AsteriskInstance): Record<string, string> {
  return {
    UURU_ASTERISK_ENABLED: 'true',
    UURU_ASTERISK_AMI_ADDR: '127.0.0.1',
    UURU_ASTERISK_AMI_PORT: String(ast.amiPort),
    UURU_ASTERISK_AMI_USER: ast.amiUser,
    UURU_ASTERISK_AMI_PASS: ast.amiSecret,
    UURU_ASTERISK_ARI_URL: ast.ariUrl,
    UURU_ASTERISK_ARI_USER: ast.ariUser,
    UURU_ASTERISK_ARI_PASS: ast.ariPassword,
    UURU_ASTERISK_CONFIG_DIR: ast.configDir,
    UURU_ASTERISK_TEST_EXTENSION: TEST_EXTENSION,
    UURU_ASTERISK_QUALIFY_FREQ_OK_MS: '1000',
    UURU_ASTERISK_QUALIFY_FREQ_NOTOK_MS: '1000',
    UURU_FEDERATION_IAX2_HOST: '127.0.0.1',
    UURU_FEDERATION_IAX2_PORT: String(ast.iaxPort),
  };
}

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

/** One browser per instance: both admin listeners are on 127.0.0.1, and cookies do not separate ports. */
async function openPanel(s: Sidecar): Promise<Page> {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'uuru-chromium-'));
  profiles.push(profile);
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1440, height: 900 },
  });
  contexts.push(context);
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(30_000);
  await page.goto(`${s.adminUrl}/`);
  await page.waitForURL(/\/panel\/login$/);
  if (contexts.length === 1) await shot(page, '00-login');
  await page.getByLabel('Username').fill('admin');
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/panel\/federation$/);
  return page;
}

const shot = (page: Page, name: string) =>
  page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });

beforeAll(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  [astA, astB] = await Promise.all([startAsterisk({ name: 'pa' }), startAsterisk({ name: 'pb' })]);
  const config = { jobs: { monitorPollMs: 500 } };
  [a, b] = await Promise.all([
    startSidecar({ name: 'panel-a', env: sidecarEnv(astA), config }),
    startSidecar({ name: 'panel-b', env: sidecarEnv(astB), config }),
  ]);
  await Promise.all([createAdmin(a), createAdmin(b)]);
}, 180_000);

afterAll(async () => {
  for (const c of contexts) await c.close().catch(() => undefined);
  await destroyAll([a, b]);
  await Promise.all([astA?.stop(), astB?.stop()].map((p) => p?.catch(() => undefined)));
  for (const p of profiles) fs.rmSync(p, { recursive: true, force: true });
}, 120_000);

it('peers two instances from their panels, test-calls the trunk and tears it down', async () => {
  const pageA = await openPanel(a!);
  const pageB = await openPanel(b!);
  await shot(pageA, '01-a-empty');

  // A: the plus sign opens the new-request form.
  await pageA.getByText('New request').click();
  await pageA.getByLabel('Peering name').fill('berlin');
  await pageA.getByLabel('Partner web address').fill(b!.federationUrl);
  await pageA.getByLabel('Our prefix for the partner').fill('70');
  await pageA.getByLabel('Codec').selectOption('alaw');
  await shot(pageA, '02-a-new-request-form');
  await pageA.getByRole('button', { name: 'Send request' }).click();
  await pageA.waitForURL(/\/panel\/federation$/);
  await expectText(pageA, '.flash.ok', "Request 'berlin' sent");
  await pageA.locator('tr[data-outgoing="berlin"]').waitFor();
  await shot(pageA, '03-a-request-pending');

  // B: the request appears without a reload (server-sent events).
  const incoming = pageB.locator('tr[data-incoming="berlin"]');
  await incoming.waitFor();
  await shot(pageB, '04-b-incoming');
  await incoming.getByPlaceholder('prefix').fill('80');
  await incoming.getByRole('button', { name: 'Accept' }).click();
  await expectText(pageB, '.flash.ok', "Accepted: peer 'berlin' reached with prefix 80");
  await pageB.locator('tr[data-peer="berlin"]').waitFor();

  // A: the peer arrives live, gets applied and qualified by Asterisk.
  const peerA = pageA.locator('tr[data-peer="berlin"]');
  await peerA.waitFor();
  await pageA.locator('tr[data-peer="berlin"] .badge', { hasText: 'applied' }).waitFor({ timeout: 60_000 });
  await pageA.locator('tr[data-peer="berlin"] [data-reachability="reachable"]').waitFor({ timeout: 60_000 });
  expect(await peerA.locator('[data-reachability]').innerText()).toMatch(/reachable · \d+ ms/);
  expect(await pageA.locator('tr[data-outgoing="berlin"]').count()).toBe(0);
  await shot(pageA, '05-a-peer-up');
  await pageB.locator('tr[data-peer="berlin"] [data-reachability="reachable"]').waitFor({ timeout: 60_000 });
  await shot(pageB, '06-b-peer-up');

  // A: test call from the panel; the result shows in place.
  await peerA.getByRole('button', { name: 'Test call' }).click();
  const result = peerA.locator('[data-result]');
  await pageA.waitForFunction(
    () =>
      /^(answered|not answered)/.test(
        document.querySelector('tr[data-peer="berlin"] [data-result]')?.textContent ?? '',
      ),
    undefined,
    { timeout: 60_000 },
  );
  expect(await result.innerText()).toMatch(/^answered in \d+ ms$/);
  await shot(pageA, '07-a-test-call-answered');

  // Keys and policy pages render for the admin.
  await pageA.getByRole('link', { name: 'Keys' }).click();
  await pageA.locator('tr[data-partner="berlin"] code.fp').waitFor();
  await shot(pageA, '08-a-keys');
  await pageA.getByRole('link', { name: 'Policy' }).click();
  await pageA.getByLabel('Who may ask to peer').waitFor();
  await shot(pageA, '09-a-policy');
  await pageA.getByRole('link', { name: 'Federation' }).click();

  // A: the rotate button asks first (dismissed: nothing happens), then forces a rotation agreed with B,
  // whose page shows the agreed moment live.
  const rotate = peerA.getByRole('button', { name: 'Rotate secret' });
  pageA.once('dialog', (d) => {
    expect(d.message()).toContain('Rotate the trunk secret of berlin now?');
    void d.dismiss();
  });
  await rotate.click();
  expect(await peerA.innerText()).not.toContain('forced rotation at');
  pageA.once('dialog', (d) => void d.accept());
  await rotate.click();
  const agreed = pageA.locator('.flash.ok', {
    hasText: "Secret rotation of 'berlin' agreed with the partner",
  });
  await agreed.waitFor();
  const at = /sent from (\S+Z)\./.exec(await agreed.innerText())?.[1] ?? '';
  expect(Date.parse(at)).toBeGreaterThan(Date.now());
  await pageA.locator('tr[data-peer="berlin"]', { hasText: `forced rotation at ${at}` }).waitFor();
  await pageB.locator('tr[data-peer="berlin"]', { hasText: `forced rotation at ${at}` }).waitFor();
  await shot(pageA, '10-a-secret-rotated');

  // A: trash icon, confirm dialog, tear down; B's page drops the peer live.
  await pageA.locator('tr[data-peer="berlin"] a[data-teardown]').click();
  const dialog = pageA.locator('#teardown-dialog');
  await dialog.waitFor({ state: 'visible' });
  expect(await dialog.locator('[data-peer-name]').innerText()).toBe('berlin');
  await shot(pageA, '11-a-teardown-dialog');
  await dialog.getByRole('button', { name: 'Tear down' }).click();
  await expectText(pageA, '.flash.ok', "Peer 'berlin' torn down");
  await pageA.getByText('No peers yet').waitFor();
  await pageB.getByText('No peers yet').waitFor();
  await shot(pageA, '12-a-after-teardown');
  await shot(pageB, '13-b-after-teardown');
}, 240_000);

async function expectText(page: Page, selector: string, text: string): Promise<void> {
  await page.locator(selector, { hasText: text }).waitFor();
}
