import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { Metrics } from '../../src/core/metrics';
import { BurstLimiter } from '../../src/federation/rate-limiter';
import { AddressTurns } from '../../src/http/federation/address-turns';
import { perIpLimit } from '../../src/http/federation/client-rate-limit';
import { ManualClock } from '../harness/manual-clock';

/**
 * Turns per address in the federation routes behind Express
 * (src/http/federation/address-turns.ts), through the per-IP limit's
 * middleware over real HTTP on loopback: one address has at most two calls in
 * the routes at once, the rest wait (none refused), another address is not
 * held up by them, and a call whose client left while it waited gives its
 * turn on. Two addresses: 127.0.0.2 (the busy one) and 127.0.0.1.
 */

let server: http.Server;
let port: number;
let turns: AddressTurns;
/** Calls inside the route now, and the most at once, per address. */
const inside = new Map<string, number>();
const most = new Map<string, number>();
const entered: string[] = [];
/** Each call in the route waits for its own release (by its `n` query), unless `now` is set. */
const releases = new Map<string, () => void>();

beforeEach(async () => {
  inside.clear();
  most.clear();
  entered.length = 0;
  releases.clear();
  turns = new AddressTurns(2);
  const limiter = new BurstLimiter(new ManualClock(Date.parse('2026-02-01T00:00:00Z')), 1000, 60_000, 1000);
  const app = express();
  app.get('/federation/v2/x', perIpLimit(limiter, new Metrics(), 'v2', 'v2', turns), (req, res) => {
    const ip = req.socket.remoteAddress ?? '';
    const n = String(req.query.n);
    entered.push(n);
    inside.set(ip, (inside.get(ip) ?? 0) + 1);
    most.set(ip, Math.max(most.get(ip) ?? 0, inside.get(ip) ?? 0));
    const answer = () => {
      inside.set(ip, (inside.get(ip) ?? 0) - 1);
      res.json({ n });
    };
    if (req.query.now !== undefined) answer();
    else releases.set(n, answer);
  });
  server = http.createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});

afterEach(async () => {
  const closed = new Promise((r) => server.close(r));
  server.closeAllConnections();
  await closed;
});

/** One call on a connection of its own from `from`; resolves with the status (or 'aborted'). */
function call(from: string, n: string, opts: { now?: boolean; signal?: AbortSignal } = {}) {
  return new Promise<number | 'aborted'>((resolve) => {
    const req = http.get(
      {
        host: '127.0.0.1',
        port,
        localAddress: from,
        agent: false,
        path: `/federation/v2/x?n=${n}${opts.now ? '&now=1' : ''}`,
        signal: opts.signal,
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', () => resolve('aborted'));
  });
}

async function until(what: () => boolean): Promise<void> {
  const end = Date.now() + 3000;
  while (!what()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 5));
  }
}

const BUSY = '127.0.0.2';

it('lets two calls of one address into the routes at once; the others wait and are all answered', async () => {
  const calls = Array.from({ length: 8 }, (_, i) => call(BUSY, String(i)));
  await until(() => turns.stateOf(BUSY).running === 2 && turns.stateOf(BUSY).waiting === 6);
  expect(entered).toHaveLength(2);
  // Answer whichever call is inside, one at a time, until all eight went through.
  while (entered.length < 8 || releases.size > 0) {
    await until(() => releases.size > 0);
    const [n, release] = [...releases][0];
    releases.delete(n);
    release();
    await new Promise((r) => setTimeout(r, 5));
  }
  expect(await Promise.all(calls)).toEqual(Array(8).fill(200));
  expect(most.get(BUSY)).toBe(2);
  expect(new Set(entered).size).toBe(8);
  expect(turns.stateOf(BUSY)).toEqual({ running: 0, waiting: 0 });
});

it('does not hold up another address while one waits for its turns', async () => {
  const busy = Array.from({ length: 6 }, (_, i) => call(BUSY, `b${i}`));
  await until(() => turns.stateOf(BUSY).waiting === 4);
  // The other address's call goes straight in and is answered while the busy address's calls wait.
  expect(await call('127.0.0.1', 'partner', { now: true })).toBe(200);
  expect(turns.stateOf(BUSY)).toEqual({ running: 2, waiting: 4 });
  for (let i = 0; i < 6; i++) {
    await until(() => releases.size > 0);
    const [n, release] = [...releases][0];
    releases.delete(n);
    release();
  }
  expect(await Promise.all(busy)).toEqual(Array(6).fill(200));
});

it('drops a waiting call whose client went away and gives its turn to the next', async () => {
  const first = [call(BUSY, 'r0'), call(BUSY, 'r1')];
  await until(() => turns.stateOf(BUSY).running === 2);
  const gone = new AbortController();
  const abandoned = call(BUSY, 'gone', { signal: gone.signal });
  await until(() => turns.stateOf(BUSY).waiting === 1);
  const last = call(BUSY, 'last', { now: true });
  await until(() => turns.stateOf(BUSY).waiting === 2);
  gone.abort();
  expect(await abandoned).toBe('aborted');
  // Give the server a moment to see the closed connection before a turn frees.
  await new Promise((r) => setTimeout(r, 50));
  releases.get('r0')?.();
  expect(await last).toBe(200);
  expect(entered).not.toContain('gone');
  releases.get('r1')?.();
  expect(await Promise.all(first)).toEqual([200, 200]);
  await until(() => turns.stateOf(BUSY).running === 0);
  expect(turns.stateOf(BUSY)).toEqual({ running: 0, waiting: 0 });
});

it('lets a call routed through a second router of the listener go on with the turn it holds', async () => {
  // Two routers each with the per-IP middleware (as v2 and v1 are mounted): with one slot, a call that
  // already holds it must not wait for itself at the second.
  const one = new AddressTurns(1);
  const limiter = new BurstLimiter(new ManualClock(0), 1000, 60_000, 1000);
  const app = express();
  const first = express.Router();
  first.use(perIpLimit(limiter, new Metrics(), 'v2', 'v2', one));
  const second = express.Router();
  second.use(perIpLimit(limiter, new Metrics(), 'v1', 'v1', one));
  second.get('/y', (_req, res) => res.json({ ok: true }));
  app.use(first);
  app.use(second);
  const s = http.createServer(app);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  try {
    const r = await fetch(`http://127.0.0.1:${(s.address() as AddressInfo).port}/y`, {
      signal: AbortSignal.timeout(2000),
    });
    expect(r.status).toBe(200);
  } finally {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});
