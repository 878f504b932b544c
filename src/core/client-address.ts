import type { IncomingMessage } from 'node:http';
import net from 'node:net';
import proxyaddr from 'proxy-addr';
import type { TrustFn } from '../config/trust-proxy';

/** An IP address in one spelling (IPv4-mapped IPv6 as IPv4), or null for anything else. */
function canonicalIp(value: string | undefined): string | null {
  if (value === undefined) return null;
  const v = value.trim();
  const mapped = /^::ffff:([0-9.]+)$/i.exec(v);
  if (mapped && net.isIPv4(mapped[1])) return mapped[1];
  return net.isIP(v) !== 0 ? v.toLowerCase() : null;
}

/**
 * The client's address, for every consumer: the federation listener's per-IP
 * gate, Express's `req.ip` (App overrides it with this), the panel's login
 * throttle and the logs. proxy-addr walks from the socket's peer leftwards
 * through X-Forwarded-For while the hops are trusted; the client is the first
 * untrusted hop. An entry there that is no IP address (a trusted proxy passed
 * on what the client wrote, or a port suffix) is not used as a key: the
 * nearest trusted hop that is one stands in, so such requests share one
 * budget instead of each getting a fresh one.
 */
export function clientAddress(req: IncomingMessage, trust: TrustFn): string {
  let hops: string[];
  try {
    hops = proxyaddr.all(req, trust);
  } catch {
    // proxy-addr needs the socket's address; a socket already closed has none.
    hops = [];
  }
  for (let i = hops.length - 1; i >= 0; i--) {
    const ip = canonicalIp(hops[i]);
    if (ip !== null) return ip;
  }
  return canonicalIp(req.socket?.remoteAddress) ?? 'unknown';
}
