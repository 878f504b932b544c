import { randomBytes } from 'node:crypto';
import http, { type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DESCRIPTOR_PATH } from '../../federation/descriptor';

/**
 * The refusal paths of the federation surfaces, run once right after start.
 *
 * A partner's most frequent call (the peering-state poll) is answered before
 * Express, so after a restart Express, the body parsers, the schemas' error
 * formatting and the error middlewares first run when somebody sends a body
 * or fetches the descriptor: for a flood, all at once, on the first burst its
 * address is allowed. That first run costs what only a first run costs: lazy
 * compilation of every function on the way, and iconv-lite's codec table,
 * which body-parser loads on the first JSON body it decodes (7.5 ms alone on
 * an idle core). Here those paths run once, with calls that every check
 * refuses (a body that is not JSON, a body that fails the schema) and the
 * descriptor, so nothing is written and no answer differs.
 *
 * The calls are real HTTP requests on loopback through the whole stack. They
 * carry a token made for this run only and forgotten when it ends: with it
 * the per-IP limit does not count them and the request metrics leave them
 * out, so neither a client's budget nor an operator's figures see them.
 */
const HEADER = 'x-uuru-warm-up';
const TIMEOUT_MS = 2000;

/** Tokens of warm-ups running in this process (one per App that is starting). */
const running = new Set<string>();

/** Whether a request is one of this process's own warm-up calls (see above). */
export function isWarmUpCall(req: IncomingMessage): boolean {
  if (running.size === 0) return false;
  const token = req.headers[HEADER];
  return typeof token === 'string' && running.has(token);
}

interface WarmUpCall {
  method: 'GET' | 'POST';
  path: string;
  body?: string;
}

/** Refused by the body parser (not JSON) and by the schema (valid JSON, wrong shape) on both dialects. */
const CALLS: WarmUpCall[] = [
  { method: 'POST', path: '/federation/v2/peering-requests', body: '{"request_id": ' },
  { method: 'POST', path: '/federation/v2/peering-requests', body: '{}' },
  { method: 'POST', path: '/api/v1/federation/incoming/request', body: '{"id": ' },
  { method: 'POST', path: '/api/v1/federation/incoming/request', body: '{}' },
  { method: 'GET', path: DESCRIPTOR_PATH },
];

function loopbackOf(address: AddressInfo): string {
  if (address.address === '0.0.0.0') return '127.0.0.1';
  if (address.address === '::') return '::1';
  return address.address;
}

function send(address: AddressInfo, call: WarmUpCall, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const body = call.body === undefined ? undefined : Buffer.from(call.body, 'utf8');
    const req = http.request(
      {
        host: loopbackOf(address),
        port: address.port,
        method: call.method,
        path: call.path,
        agent: false,
        timeout: TIMEOUT_MS,
        headers: {
          [HEADER]: token,
          ...(body ? { 'content-type': 'application/json', 'content-length': body.length } : {}),
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('warm-up call timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Runs each call once against the federation listener at `address`; the
 * statuses, in order. Never throws: a failed call only leaves its path cold.
 */
export async function warmUpFederationSurfaces(address: AddressInfo): Promise<Array<number | 'failed'>> {
  const token = randomBytes(24).toString('base64url');
  running.add(token);
  try {
    const statuses: Array<number | 'failed'> = [];
    for (const call of CALLS) statuses.push(await send(address, call, token).catch(() => 'failed' as const));
    return statuses;
  } finally {
    running.delete(token);
  }
}
