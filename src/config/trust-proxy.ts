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
