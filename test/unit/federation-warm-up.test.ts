import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { AppError } from '../../src/core/errors';
import { Metrics } from '../../src/core/metrics';
import { DESCRIPTOR_PATH } from '../../src/federation/descriptor';
import { BurstLimiter } from '../../src/federation/rate-limiter';
import { perIpGate } from '../../src/http/federation/client-rate-limit';
import { counted } from '../../src/http/federation/request-metrics';
import { warmUpFederationSurfaces } from '../../src/http/federation/warm-up';
import { errorMiddleware } from '../../src/http/error-middleware';
import { ManualClock } from '../harness/manual-clock';
import { captureLogger } from '../harness/test-logger';

/**
 * The warm-up at start (src/http/federation/warm-up.ts) runs each surface's
 * refusal paths through the real gate and counted routes, over real HTTP on
 * loopback: it must cost no client's per-IP budget and add nothing to the
 * request metrics, and its token must not let anybody else past the limit.
 */

let server: http.Server;
let address: AddressInfo;
let metrics: Metrics;
const seen: string[] = [];
/** Run inside the refused routes' handler while a call is being answered (a warm-up call: while the warm-up runs). */
let whileAnswering: ((req: http.IncomingMessage) => Promise<void>) | null = null;

beforeEach(async () => {
  metrics = new Metrics();
  seen.length = 0;
  whileAnswering = null;
  // One call per address and minute: any call the gate counted uses the whole budget.
  const limiter = new BurstLimiter(new ManualClock(Date.parse('2026-02-01T00:00:00Z')), 1, 60_000, 1);
  const gate = perIpGate(limiter, metrics, { trustProxy: false });
  const app = express();
  const refuse = (endpoint: string) =>
    counted(metrics, endpoint, async (req) => {
      seen.push(`${req.method} ${req.path}`);
      const during = whileAnswering;
      whileAnswering = null;
      await during?.(req);
      throw new AppError('FED_MALFORMED', 'refused');
    });
  app.post('/federation/v2/peering-requests', refuse('peering-requests'));
  app.post('/api/v1/federation/incoming/request', refuse('v1-incoming-request'));
  app.get(
    DESCRIPTOR_PATH,
    counted(metrics, 'descriptor', async (req, res) => {
      seen.push(`${req.method} ${req.path}`);
      res.json({});
    }),
  );
  app.use(errorMiddleware(captureLogger().logger));
  server = http.createServer((req, res) => {
    if (!gate(req, res, () => app(req, res))) app(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  address = server.address() as AddressInfo;
});

afterEach(async () => {
  const closed = new Promise((r) => server.close(r));
  server.closeAllConnections();
  await closed;
});

const get = (headers: Record<string, string> = {}): Promise<number> =>
  fetch(`http://127.0.0.1:${address.port}${DESCRIPTOR_PATH}`, { headers }).then((r) => r.status);

async function requestSamples(): Promise<number> {
  return (await metrics.federationRequests.get()).values.length;
}

it('reaches every surface once, costs no per-IP budget and counts in no metric', async () => {
  const statuses = await warmUpFederationSurfaces(address);
  expect(statuses).toEqual([400, 400, 400, 400, 200]);
  expect(seen).toEqual([
    'POST /federation/v2/peering-requests',
    'POST /federation/v2/peering-requests',
    'POST /api/v1/federation/incoming/request',
    'POST /api/v1/federation/incoming/request',
    `GET ${DESCRIPTOR_PATH}`,
  ]);
  expect(await requestSamples()).toBe(0);
  // 127.0.0.1's budget (one call) is whole after five warm-up calls from it.
  expect(await get()).toBe(200);
  expect(await get()).toBe(429);
  expect(await requestSamples()).toBeGreaterThan(0);
});

it('lets no other call past the limit with the header, during or after a warm-up', async () => {
  expect(await get({ 'x-uuru-warm-up': 'a-guessed-token' })).toBe(200);
  expect(await get({ 'x-uuru-warm-up': 'a-guessed-token' })).toBe(429);
  await warmUpFederationSurfaces(address);
  expect(await get({ 'x-uuru-warm-up': 'a-guessed-token' })).toBe(429);
  const counts = (await metrics.federationRequests.get()).values;
  expect(counts.find((v) => v.labels.endpoint === 'descriptor' && v.labels.code === 'OK')?.value).toBe(1);
});

it("counts and gates another connection's call that carries the warm-up's own token while it runs", async () => {
  const outside: number[] = [];
  let token: string | undefined;
  whileAnswering = async (req) => {
    // The first warm-up call is being answered: its token is live, and another connection sends it.
    const header = req.headers['x-uuru-warm-up'];
    token = typeof header === 'string' ? header : undefined;
    if (token === undefined) return;
    outside.push(await get({ 'x-uuru-warm-up': token }));
    outside.push(await get({ 'x-uuru-warm-up': token }));
  };
  const statuses = await warmUpFederationSurfaces(address);
  expect(token).toMatch(/^[A-Za-z0-9_-]{32}$/);
  // The outside calls used 127.0.0.1's one call, and the second was refused; the warm-up's own went on past the gate.
  expect(outside).toEqual([200, 429]);
  expect(statuses).toEqual([400, 400, 400, 400, 200]);
  const counts = (await metrics.federationRequests.get()).values;
  expect(counts.find((v) => v.labels.endpoint === 'descriptor' && v.labels.code === 'OK')?.value).toBe(1);
  expect(counts.some((v) => v.labels.endpoint === 'peering-requests')).toBe(false);
  // A later run makes a new token: the old one is nobody's.
  expect(await get({ 'x-uuru-warm-up': token ?? '' })).toBe(429);
});
