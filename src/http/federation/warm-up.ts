import { randomBytes, timingSafeEqual } from 'node:crypto';
import http, { type IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
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
 * carry a token made for this run only (random, from the process's CSPRNG)
 * and forgotten when it ends: with it the per-IP limit does not count them
 * and the request metrics leave them out, so neither a client's budget nor an
 * operator's figures see them. The token alone lets nobody past: a request is
 * taken for a warm-up call only when it arrives on a connection this warm-up
 * opened itself (the connection's far end, address and port, is the local end
 * of one of its own sockets, and a loopback address), and its header matches
 * that connection's token, compared in constant time. Anybody else's request,
 * whatever header it carries, is counted and gated like every other call.
 */
const HEADER = 'x-uuru-warm-up';
const TIMEOUT_MS = 2000;

/**
 * The warm-up's own connections while they are open, by their local end as
 * the listener sees it as the far end ("address port"): the token each carries.
 */
const ownConnections = new Map<string, Buffer>();

const endpointKey = (address: string | undefined, port: number | undefined): string => `${address} ${port}`;

function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return v4.startsWith('127.') || address === '::1';
}

/** Whether a request is one of this process's own warm-up calls (see above). */
export function isWarmUpCall(req: IncomingMessage): boolean {
  if (ownConnections.size === 0) return false;
  const { remoteAddress, remotePort } = req.socket;
  if (!isLoopback(remoteAddress)) return false;
  const expected = ownConnections.get(endpointKey(remoteAddress, remotePort));
  const token = req.headers[HEADER];
  if (expected === undefined || typeof token !== 'string') return false;
  const given = Buffer.from(token, 'utf8');
  return given.length === expected.length && timingSafeEqual(given, expected);
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

/** Marks a socket of the warm-up as its own once connected (before the listener can read a byte of it) until it closes. */
function ownConnection(socket: Socket, token: string): void {
  const secret = Buffer.from(token, 'utf8');
  let key: string | null = null;
  const own = () => {
    key = endpointKey(socket.localAddress, socket.localPort);
    ownConnections.set(key, secret);
  };
  if (socket.connecting) socket.once('connect', own);
  else own();
  socket.once('close', () => {
    if (key !== null && ownConnections.get(key) === secret) ownConnections.delete(key);
  });
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
    req.on('socket', (socket) => ownConnection(socket, token));
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
  // Bound to one address that is not loopback: its calls could not be told from a client's, so none are made.
  if (!isLoopback(loopbackOf(address))) return [];
  const token = randomBytes(24).toString('base64url');
  const statuses: Array<number | 'failed'> = [];
  for (const call of CALLS) statuses.push(await send(address, call, token).catch(() => 'failed' as const));
  return statuses;
}
