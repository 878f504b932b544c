import fs from 'node:fs';
import path from 'node:path';
import type { AxeResults } from 'axe-core';
import { type Browser, chromium } from 'playwright-core';
import { systemClock } from '../../src/core/clock';
import { createAdminUser } from '../../src/http/admin/admin-users';
import { PartnerEntity } from '../../src/store/entities';
import { TypeormTrunkQualityStore } from '../../src/store/trunk-quality-samples';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../harness/chromium';
import { type HttpFaultInjector, startHttpFaultInjector } from '../harness/http-fault-injector';
import {
  adminApi,
  call,
  type Instance,
  type PanelSession,
  panelLogin,
  peerInstances,
  startInstance,
} from './admin-fixtures';

/**
 * The federation map (issue 14) between five real in-process sidecars over
 * real HTTP: B publishes its peers (federation.publishPeerMap) and peers with
 * C; A peers with B, with D (which does not publish) and with E (which
 * publishes, but behind a FAULT-INJECTING proxy that rewrites E's descriptor
 * with a hostile peer_map, what a real sidecar never sends). A's map page
 * shows B and C-via-B, no second ring behind D, and nothing of E's hostile
 * field; the page passes axe in real Chromium at 390 px.
 */

const ROOT = path.resolve(__dirname, '..', '..');
const SHOTS = path.join(ROOT, 'test-artifacts', 'panel-map');
const AXE_SOURCE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const PASSWORD = 'federation map test password';
const PUBLISH = { federation: { publishPeerMap: true } };

let a: Instance;
let b: Instance;
let c: Instance;
let d: Instance;
let e: Instance;
let proxy: HttpFaultInjector;
let session: PanelSession;

const host = (url: string) => new URL(url).host;

beforeAll(async () => {
  proxy = await startHttpFaultInjector();
  [a, b, c, d, e] = await Promise.all([
    startInstance('map-a'),
    startInstance('map-b', { overrides: PUBLISH }),
    startInstance('map-c'),
    startInstance('map-d'),
    startInstance('map-e', {
      overrides: { ...PUBLISH, instance: { publicUrl: proxy.url, iax2Host: '127.0.0.1' } },
    }),
  ]);
  proxy.setTarget(e.federationUrl);
  await peerInstances(b, c, { name: 'b_c', aPrefix: '61', bPrefix: '62' });
  await peerInstances(d, c, { name: 'd_c', aPrefix: '63', bPrefix: '64' });
  await peerInstances(a, b, { name: 'berlin', aPrefix: '71', bPrefix: '81' });
  await peerInstances(a, d, { name: 'dresden', aPrefix: '72', bPrefix: '82' });
  // E is asked at its public address, the proxy (its descriptor names it as base_url).
  await peerInstances(a, { ...e, federationUrl: proxy.url }, { name: 'essen', aPrefix: '73', bPrefix: '83' });
  await createAdminUser(a.app.db!, systemClock, { username: 'admin', password: PASSWORD });
  session = await panelLogin(a, 'admin', PASSWORD);
}, 120_000);

afterAll(async () => {
  await Promise.all([a, b, c, d, e].map((i) => i?.stop()));
  await proxy?.close();
});

/** Makes A's stored descriptor of a partner due for a refetch (instead of waiting the 30 s minimum interval). */
const dueNow = (partner: Instance | string) =>
  a.app
    .db!.getRepository(PartnerEntity)
    .update(
      { serverName: typeof partner === 'string' ? partner : host(partner.federationUrl) },
      { nextFetchAt: 0 },
    );

const descriptorOf = async (url: string) =>
  (await call(url, 'GET', '/.well-known/uuru-federation')).json as Record<string, unknown>;

it('a partner that opts in publishes its peers and their states in its descriptor; one that does not, does not', async () => {
  const fromB = await descriptorOf(b.federationUrl);
  expect(fromB.peer_map).toEqual({
    peers: expect.arrayContaining([
      { server_name: host(c.federationUrl), state: 'unknown' },
      { server_name: host(a.federationUrl), state: 'unknown' },
    ]),
  });
  expect('peer_map' in (await descriptorOf(d.federationUrl))).toBe(false);
  expect('peer_map' in (await descriptorOf(a.federationUrl))).toBe(false);
});

it("A's map shows B, D and E on the first ring and C behind B on the second; nothing behind D", async () => {
  const now = Date.now();
  await new TypeormTrunkQualityStore(a.app.db!).add([
    {
      peer: 'berlin',
      at: now - 60_000,
      source: 'probe',
      calls: 1,
      rttMs: 61,
      inbound: { jitterMs: 4, lossRatio: 0.07 },
      outbound: { jitterMs: 6, lossRatio: 0.17 },
    },
  ]);
  const page = await session.get('/panel/federation/map');
  expect(page.status).toBe(200);
  const t = page.text.replace(/\s+/g, ' ');
  const bHost = host(b.federationUrl);
  const cHost = host(c.federationUrl);
  const dHost = host(d.federationUrl);
  for (const [name, prefix] of [
    ['berlin', '71'],
    ['dresden', '72'],
    ['essen', '73'],
  ]) {
    expect(t).toContain(`data-ring="1" data-peer="${name}"`);
    expect(t).toContain(`prefix ${prefix} · v2`);
  }
  // The second ring: C via B, with the state B reports; never A itself, nothing via D.
  expect(t).toContain(`data-ring="2" data-via="${bHost}" data-server="${cHost}" data-state="unknown"`);
  expect(t).not.toContain(`data-server="${host(a.federationUrl)}"`);
  expect(t).not.toContain(`data-via="${dHost}"`);
  expect(t).toMatch(new RegExp(`<tr data-peer="dresden">[\\s\\S]*?not published[\\s\\S]*?</tr>`));
  // Latency and call quality on B's edge, the state in words as well as colour.
  expect(t).toMatch(/data-edge="berlin"[\s\S]*?RTT 61 ms · loss 7\.0 % in \/ 17 % out/);
  expect(t).toContain('not monitored');
  expect(t).toContain('<ul class="map-legend"');

  // The admin API serves the same model as JSON.
  const api = await adminApi(a)('GET', '/federation/map');
  expect(api.status).toBe(200);
  const model = api.json as {
    self: { server_name: string };
    peers: {
      name: string;
      prefix: string;
      dialect: string;
      state: string;
      quality: unknown;
      ring: unknown;
    }[];
  };
  expect(model.self.server_name).toBe(host(a.federationUrl));
  const berlin = model.peers.find((p) => p.name === 'berlin');
  expect(berlin).toMatchObject({
    prefix: '71',
    dialect: 'v2',
    state: 'unknown',
    quality: { rtt_ms: 61, inbound: { loss_ratio: 0.07 }, outbound: { loss_ratio: 0.17 } },
    ring: { kind: 'published', peers: expect.arrayContaining([{ server_name: cHost, state: 'unknown' }]) },
  });
  expect(model.peers.find((p) => p.name === 'dresden')?.ring).toEqual({ kind: 'absent' });
});

it('with B opted out the second ring is gone; opted in again, it is back', async () => {
  const bHost = host(b.federationUrl);
  const ring = `data-via="${bHost}"`;
  await b.halt();
  await b.resume({ federation: { publishPeerMap: false } });
  expect('peer_map' in (await descriptorOf(b.federationUrl))).toBe(false);
  await dueNow(b);
  const off = await session.get('/panel/federation/map');
  off.text = off.text.replace(/\s+/g, ' ');
  expect(off.text).toContain('data-ring="1" data-peer="berlin"');
  expect(off.text).not.toContain(ring);
  expect(off.text).toMatch(/<tr data-peer="berlin">[\s\S]*?not published[\s\S]*?<\/tr>/);

  await b.halt();
  await b.resume({ federation: { publishPeerMap: true } });
  await dueNow(b);
  expect((await session.get('/panel/federation/map')).text.replace(/\s+/g, ' ')).toContain(ring);
});

const HOSTILE: { what: string; peerMap: unknown; marker: string }[] = [
  {
    what: 'script tags for a server name',
    peerMap: { peers: [{ server_name: '<script>alert("map")</script>', state: 'up' }] },
    marker: 'alert("map")',
  },
  {
    what: 'an oversized list',
    peerMap: {
      peers: Array.from({ length: 65 }, (_, i) => ({ server_name: `flood${i}.example.org`, state: 'up' })),
    },
    marker: 'flood0.example.org',
  },
  {
    what: 'bad names and an unknown state',
    peerMap: {
      peers: [
        { server_name: 'fine.example.org', state: 'up' },
        { server_name: 'Evil.Example.org/path?x=<b>', state: 'up' },
      ],
    },
    marker: 'fine.example.org',
  },
  {
    what: 'an unknown state',
    peerMap: { peers: [{ server_name: 'fine2.example.org', state: '<img src=x onerror=alert(1)>' }] },
    marker: 'fine2.example.org',
  },
  {
    what: 'a field the protocol does not define',
    peerMap: { peers: [{ server_name: 'fine3.example.org', state: 'up', note: '<svg onload=alert(1)>' }] },
    marker: 'fine3.example.org',
  },
];

it.each(HOSTILE.map((h) => [h.what, h] as const))(
  "a hostile peer_map (%s) in E's descriptor is refused whole, with its code, and nothing of it is rendered",
  async (_what, h) => {
    const real = await descriptorOf(e.federationUrl);
    proxy.setFault({
      method: 'GET',
      path: /^\/\.well-known\/uuru-federation$/,
      status: 200,
      body: { ...real, peer_map: h.peerMap },
    });
    await dueNow(host(proxy.url));
    const before = proxy.injected();
    const page = await session.get('/panel/federation/map');
    expect(proxy.injected()).toBeGreaterThan(before);
    const t = page.text.replace(/\s+/g, ' ');
    expect(t).toMatch(/<tr data-peer="essen">[\s\S]*?refused \(FED_PEER_MAP_INVALID: [^)]*\); none shown/);
    expect(t).not.toContain(`data-via="${host(proxy.url)}"`);
    expect(t).not.toContain(h.marker);
    expect(t).not.toMatch(/<script>|onerror=|onload=/i);
    expect(t.match(/<script\b/g)).toHaveLength(1); // the panel's own script tag only
    // The rest of E's descriptor stays good: E is still on the first ring and its keys still verify.
    expect(t).toContain('data-ring="1" data-peer="essen"');
    proxy.setFault(null);
  },
);

describe('in real Chromium at 390 px', () => {
  let browser: Browser;

  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS });
  });
  afterAll(async () => {
    await browser?.close().catch(() => undefined);
  });

  it('draws the map with no axe violation and no sideways scroll', async () => {
    fs.mkdirSync(SHOTS, { recursive: true });
    const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
    const page = await context.newPage();
    page.setDefaultTimeout(30_000);
    await page.goto(`${a.adminUrl}/panel/login`);
    await page.getByLabel('Username').fill('admin');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(/\/panel\/federation$/);
    await page.goto(`${a.adminUrl}/panel/federation/map`);
    await page.locator('svg[data-map] g[data-ring="2"]').first().waitFor({ state: 'attached' });
    const svgBox = await page.locator('svg[data-map]').boundingBox();
    expect(svgBox!.width).toBeLessThanOrEqual(390);
    expect(svgBox!.width).toBeGreaterThan(250);
    await page.screenshot({ path: path.join(SHOTS, 'map-390.png'), fullPage: true });
    await page.evaluate(AXE_SOURCE);
    const results = await page.evaluate(() =>
      (window as unknown as { axe: { run(ctx: Document): Promise<AxeResults> } }).axe.run(document),
    );
    expect(
      results.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`),
    ).toEqual([]);
    const { scrollWidth, innerWidth } = await page.evaluate(() => ({
      scrollWidth: document.scrollingElement!.scrollWidth,
      innerWidth: window.innerWidth,
    }));
    expect(scrollWidth).toBeLessThanOrEqual(innerWidth);
    await context.close();
  }, 60_000);
});
