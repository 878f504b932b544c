import type { IncomingMessage } from 'node:http';
import net from 'node:net';
import proxyaddr from 'proxy-addr';

/**
 * Which reverse proxies may tell us the client's address (X-Forwarded-For),
 * as `UURU_HTTP_TRUST_PROXY` / `http.trustProxy` names them, with the
 * semantics of Express's `trust proxy` and the proxy-addr package:
 *
 * - `false` or `0`: trust nobody; the client is the socket's peer;
 * - a hop count `n`: trust the `n` nearest hops (the socket's peer is the
 *   first), the client is the next address from the right;
 * - addresses, CIDRs and the names `loopback`, `linklocal`, `uniquelocal`
 *   (a list or one comma-separated string): trust those hops; the client is
 *   the first untrusted address counted from the right;
 * - `true`: kept for old configurations, read as `loopback`. Express reads
 *   it as "trust every hop", which makes the left-most X-Forwarded-For entry
 *   (written by the client itself) the address every per-IP limit keys on.
 */
export type TrustProxySetting = boolean | number | string | string[];

/** Whether the hop `addr`, `hop` steps away from us (0 = the socket's peer), is a trusted proxy. */
export type TrustFn = (addr: string, hop: number) => boolean;

/** What `true` means here: a proxy on this machine, never "everyone". */
export const TRUE_MEANS = 'loopback';

/**
 * Compiles a setting into proxy-addr's trust function. Throws TypeError for
 * an entry that is neither an address, a CIDR nor a known name (the config
 * schema runs this, so a bad value stops the sidecar at start).
 */
export function compileTrustProxy(setting: TrustProxySetting): TrustFn {
  if (setting === false) return () => false;
  if (setting === true) return proxyaddr.compile(TRUE_MEANS);
  if (typeof setting === 'number') {
    if (!Number.isInteger(setting) || setting < 0) throw new TypeError('a hop count is a whole number ≥ 0');
    return (_addr, hop) => hop < setting;
  }
  const entries = (typeof setting === 'string' ? setting.split(',') : setting).map((s) => s.trim());
  if (entries.length === 0 || entries.some((e) => e === '')) throw new TypeError('an empty proxy entry');
  return proxyaddr.compile(entries);
}

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
