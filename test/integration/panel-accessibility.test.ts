import fs from 'node:fs';
import path from 'node:path';
import type { AxeResults, Result } from 'axe-core';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../harness/chromium';
import { createAdminUser } from '../../src/http/admin/admin-users';
import { systemClock } from '../../src/core/clock';
import { TypeormTrunkQualityStore } from '../../src/store/trunk-quality-samples';

import { adminApi, type Instance, startInstance } from './admin-fixtures';
import { waitUntil } from '../harness/wait';

/**
 * Every page of the panel in a real browser (Debian's chromium through
 * playwright-core) at 1440 and 390 px: axe-core (injected into the page)
 * finds no serious or critical violation, at 390 px the page never scrolls
 * sideways and every navigation item and "Sign out" is on screen, and the
 * peers table scrolls inside its card up to its last column. The pages hold
 * real data from two instances peered over HTTP (a peer, an incoming and an
 * outgoing request, partner keys, audit rows). Screenshots of every page at
 * both widths go to test-artifacts/panel-a11y/.
 */

const ROOT = path.resolve(__dirname, '..', '..');
const SHOTS = path.join(ROOT, 'test-artifacts', 'panel-a11y');
const AXE_SOURCE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const PASSWORD = 'accessibility test password';
const WIDTHS = [1440, 390] as const;
const NAV = ['Federation', 'Phonebook', 'Keys', 'Policy', 'Audit', 'Doctor'];

let a: Instance;
let b: Instance;
let c: Instance;
let d: Instance;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let peerId = '';

beforeAll(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  [a, b, c, d] = await Promise.all(
    ['a11y-a', 'a11y-b', 'a11y-c', 'a11y-d'].map((name) => startInstance(name)),
  );
  await createAdminUser(a.app.db!, systemClock, { username: 'admin', password: PASSWORD });
  const apiA = adminApi(a);
  const apiB = adminApi(b);
  const create = (api: typeof apiA, name: string, partner: Instance, prefix: string) =>
    api('POST', '/federation/outgoing-requests', {
      name,
      partner_url: partner.federationUrl,
      prefix,
      codec: 'alaw',
    });
  // A peer (A asked, B accepted), a request A sent to D that waits, one C sent that A has not answered.
  expect((await create(apiA, 'berlin', b, '70')).status).toBe(201);
  const incoming = (await apiB('GET', '/federation/incoming-requests')).json as {
    requests: { id: string }[];
  };
  expect(
    (await apiB('POST', `/federation/incoming-requests/${incoming.requests[0].id}/accept`, { prefix: '80' }))
      .status,
  ).toBe(200);
  expect((await create(adminApi(c), 'paris_office_with_a_long_name', a, '81')).status).toBe(201);
  const lisbon = await create(apiA, 'lisbon', d, '72');
  expect(lisbon.status).toBe(201);
  const peers = await waitForPeer(a);
  peerId = peers[0].id;
  // A day of call-quality samples for the chart (these instances have no Asterisk to measure one): calls
  // in the morning, hourly probes, one sample without the partner's report yet.
  const now = Date.now();
  const hour = 3_600_000;
  await new TypeormTrunkQualityStore(a.app.db!).add(
    [...Array.from({ length: 23 }, (_, i) => now - (23 - i) * hour), now - 9.5 * hour, now - 9.4 * hour].map(
      (at, i) => ({
        peer: peers[0].name,
        at,
        source: i < 23 ? ('probe' as const) : ('call' as const),
        calls: 1,
        rttMs: i === 5 ? null : 40 + (i % 5) * 7,
        inbound: { jitterMs: 3 + (i % 3), lossRatio: (i % 4) / 100 },
        outbound: { jitterMs: i === 5 ? null : 5, lossRatio: i === 5 ? null : (i % 6) / 100 },
      }),
    ),
  );
  // An action that failed, so the audit page shows both outcomes.
  expect((await apiA('DELETE', '/federation/peers/no-such-peer')).status).toBe(404);

  browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_ARGS,
  });
  context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  page = await context.newPage();
  page.setDefaultTimeout(30_000);
}, 120_000);

afterAll(async () => {
  await context?.close().catch(() => undefined);
  await browser?.close().catch(() => undefined);
  await Promise.all([a?.stop(), b?.stop(), c?.stop(), d?.stop()]);
});

function waitForPeer(i: Instance): Promise<{ id: string; name: string }[]> {
  return waitUntil(
    async () => {
      const res = await adminApi(i)('GET', '/federation/peers');
      const peers = (res.json as { peers: { id: string; name: string }[] }).peers;
      return peers.length > 0 ? peers : undefined;
    },
    { what: 'the peer on A' },
  );
}

/** axe-core's serious and critical violations on the page as it is now, as readable lines. */
async function seriousViolations(p: Page): Promise<string[]> {
  // Evaluated through the debugging protocol, so the page's CSP (script-src 'self') stays on.
  await p.evaluate(AXE_SOURCE);
  const results = await p.evaluate(() =>
    (window as unknown as { axe: { run(ctx: Document): Promise<AxeResults> } }).axe.run(document),
  );
  return results.violations
    .filter((v: Result) => v.impact === 'serious' || v.impact === 'critical')
    .map(
      (v: Result) =>
        `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`,
    );
}

/** Page scroll width against the viewport: a page that scrolls sideways has scrollWidth > innerWidth. */
const horizontalOverflow = (p: Page) =>
  p.evaluate(() => ({ scrollWidth: document.scrollingElement!.scrollWidth, innerWidth: window.innerWidth }));

/** Whether an element is visible and wholly inside the viewport's width. */
async function onScreen(p: Page, selector: ReturnType<Page['locator']>): Promise<boolean> {
  if (!(await selector.isVisible())) return false;
  const box = await selector.boundingBox();
  const width = await p.evaluate(() => window.innerWidth);
  return box !== null && box.x >= 0 && box.x + box.width <= width;
}

interface PanelPage {
  name: string;
  path: () => string;
  signedIn: boolean;
  /** Waits for what makes the page worth checking. */
  ready: (p: Page) => Promise<unknown>;
}

const PAGES: PanelPage[] = [
  {
    name: 'login',
    path: () => '/panel/login',
    signedIn: false,
    ready: (p) => p.getByLabel('Password').waitFor(),
  },
  {
    name: 'federation',
    path: () => '/panel/federation',
    signedIn: true,
    ready: (p) =>
      Promise.all([
        p.locator('tr[data-peer="berlin"]').waitFor(),
        p.locator('tr[data-incoming="paris_office_with_a_long_name"]').waitFor(),
        p.locator('tr[data-outgoing="lisbon"]').waitFor(),
      ]),
  },
  {
    name: 'phonebook',
    path: () => '/panel/phonebook',
    signedIn: true,
    ready: (p) => p.getByRole('heading', { level: 1 }).waitFor(),
  },
  {
    name: 'keys',
    path: () => '/panel/keys',
    signedIn: true,
    ready: (p) => p.locator('tr[data-partner="berlin"] code.fp').waitFor(),
  },
  {
    name: 'policy',
    path: () => '/panel/policy',
    signedIn: true,
    ready: (p) => p.getByLabel('Who may ask to peer').waitFor(),
  },
  {
    name: 'audit',
    path: () => '/panel/audit',
    signedIn: true,
    ready: (p) => p.locator('tr[data-audit]').first().waitFor(),
  },
  {
    name: 'doctor',
    path: () => '/panel/doctor',
    signedIn: true,
    ready: (p) => p.locator('li[data-check]').first().waitFor(),
  },
  {
    name: 'trunk-quality',
    path: () => `/panel/federation/peers/${peerId}/quality`,
    signedIn: true,
    ready: (p) => p.locator('svg[data-chart="q-loss"] polyline').first().waitFor({ state: 'attached' }),
  },
  {
    name: 'teardown-confirm',
    path: () => `/panel/federation/peers/${peerId}/teardown`,
    signedIn: true,
    ready: (p) =>
      p
        .getByRole('button', { name: /tear down/i })
        .first()
        .waitFor(),
  },
  {
    name: 'error',
    path: () => '/panel/federation/peers/no-such-peer/teardown',
    signedIn: true,
    ready: (p) => p.getByText('FED_UNKNOWN_PEER').first().waitFor(),
  },
];

async function signIn(p: Page): Promise<void> {
  await p.goto(`${a.adminUrl}/panel/login`);
  await p.getByLabel('Username').fill('admin');
  await p.getByLabel('Password').fill(PASSWORD);
  await p.getByRole('button', { name: 'Sign in' }).click();
  await p.waitForURL(/\/panel\/federation$/);
}

describe.each(WIDTHS)('at %i px', (width) => {
  beforeAll(async () => {
    await page.setViewportSize({ width, height: width > 800 ? 900 : 844 });
  });

  it.each(PAGES.map((p) => [p.name, p] as const))(
    '%s: no serious or critical axe violation, no sideways scroll',
    async (_name, spec) => {
      if (spec.signedIn) {
        await page.goto(`${a.adminUrl}${spec.path()}`);
        if (page.url().endsWith('/panel/login')) {
          await signIn(page);
          await page.goto(`${a.adminUrl}${spec.path()}`);
        }
      } else {
        await context.clearCookies();
        await page.goto(`${a.adminUrl}${spec.path()}`);
      }
      await spec.ready(page);
      await page.screenshot({ path: path.join(SHOTS, `${spec.name}-${width}.png`), fullPage: true });

      expect(await seriousViolations(page)).toEqual([]);
      const { scrollWidth, innerWidth } = await horizontalOverflow(page);
      expect(innerWidth).toBe(width);
      expect(scrollWidth).toBeLessThanOrEqual(innerWidth);
      if (spec.signedIn) {
        for (const label of NAV) {
          expect({
            label,
            onScreen: await onScreen(page, page.getByRole('link', { name: label, exact: true })),
          }).toEqual({ label, onScreen: true });
        }
        expect(await onScreen(page, page.getByRole('button', { name: 'Sign out' }))).toBe(true);
      }
    },
    60_000,
  );

  it('works from the keyboard: skip link, every nav item and Sign out in order, visible focus, tables scroll with the arrows', async () => {
    await page.goto(`${a.adminUrl}/panel/federation`);
    await page.locator('tr[data-peer="berlin"]').waitFor();
    const focused = () =>
      page.evaluate(() => {
        const e = document.activeElement as HTMLElement;
        const style = getComputedStyle(e);
        return {
          name: (e.getAttribute('aria-label') ?? e.textContent ?? '').trim(),
          outlined: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0,
        };
      });
    const order: { name: string; outlined: boolean }[] = [];
    for (let i = 0; i < 30; i++) {
      await page.keyboard.press('Tab');
      order.push(await focused());
    }
    expect(order.slice(0, NAV.length + 2).map((f) => f.name)).toEqual([
      'Skip to content',
      ...NAV,
      'Sign out',
    ]);
    expect(order.slice(1, NAV.length + 2).filter((f) => !f.outlined)).toEqual([]);
    expect(order.map((f) => f.name)).toContain('Peers');

    // The skip link takes the focus past the header.
    await page.keyboard.press('Home');
    await page.locator('.skip-link').focus();
    await page.keyboard.press('Enter');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('main');

    // The peers table's region scrolls sideways from the keyboard where it is wider than its card.
    const region = page.getByRole('region', { name: 'Peers' });
    await region.focus();
    const overflows = await region.evaluate((e) => e.scrollWidth > e.clientWidth);
    expect(overflows).toBe(width < 800);
    if (overflows) {
      for (let i = 0; i < 5; i++) await page.keyboard.press('ArrowRight');
      await waitUntil(async () => (await region.evaluate((e) => e.scrollLeft)) > 0, {
        what: 'the peers region scrolled sideways',
      });
    }
  }, 60_000);

  it('the peers table scrolls inside its card to its last column, and the teardown dialog passes axe', async () => {
    await page.goto(`${a.adminUrl}/panel/federation`);
    await page.locator('tr[data-peer="berlin"]').waitFor();
    const reach = page.locator('th', { hasText: 'Reachability' });
    await reach.scrollIntoViewIfNeeded();
    expect(await onScreen(page, reach)).toBe(true);
    const trash = page.locator('tr[data-peer="berlin"] a[data-teardown]');
    await trash.scrollIntoViewIfNeeded();
    expect(await onScreen(page, trash)).toBe(true);
    const { scrollWidth, innerWidth } = await horizontalOverflow(page);
    expect(scrollWidth).toBeLessThanOrEqual(innerWidth);

    await trash.click();
    const dialog = page.locator('#teardown-dialog');
    await dialog.waitFor({ state: 'visible' });
    await page.screenshot({ path: path.join(SHOTS, `teardown-dialog-${width}.png`) });
    expect(await seriousViolations(page)).toEqual([]);
    expect(await onScreen(page, dialog.getByRole('button', { name: 'Tear down' }))).toBe(true);
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'hidden' });
  }, 60_000);
});
