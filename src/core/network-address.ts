import net from 'node:net';

/**
 * What counts as a host, a port and a partner's web address, for every
 * layer: the federation layer checks what a partner sends with these rules
 * before it stores anything, and the Asterisk layer checks again before it
 * writes a config file. One rule for both, so nothing can be stored that the
 * Asterisk layer would later refuse.
 *
 * The rules are allow-lists: a newline, `;`, `[`, `]`, `#`, `$`, `,`, a space,
 * NUL or a unicode look-alike can never satisfy them.
 */

const HOST_LABEL = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
/** A web address is typed as printable ASCII; anything else (an IDN look-alike, a control character) is refused before URL parsing could normalise it. */
const PRINTABLE_ASCII = /^[\x21-\x7e]+$/;
export const DEFAULT_IAX2_PORT = 4569;

/**
 * A DNS hostname (ASCII labels) or an IPv4/IPv6 address. An IPv6 zone
 * (`fe80::1%eth0`) is refused: it names an interface of the machine that
 * wrote it, which means nothing here.
 */
export function isHostnameOrIp(value: unknown): value is string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 253) return false;
  if (value.includes('%')) return false;
  if (net.isIP(value) !== 0) return true;
  // All digits and dots but not an IP (999.1.1.1, 123): a mistyped address, not a name.
  if (/^[0-9.]+$/.test(value)) return false;
  return value.split('.').every((label) => HOST_LABEL.test(label));
}

export function isPort(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 65535;
}

/**
 * Splits "host", "host:port", "[v6]" or "[v6]:port" (a bare IPv6 address has
 * no port). Null unless both parts are valid: a half-open bracket or an
 * out-of-range port is refused, never repaired.
 */
export function parseHostPort(
  raw: string,
  defaultPort: number = DEFAULT_IAX2_PORT,
): { host: string; port: number } | null {
  let host = raw;
  let port = defaultPort;
  const bracketed = /^\[([^\]]*)\](?::([0-9]{1,5}))?$/.exec(raw);
  if (bracketed) {
    host = bracketed[1];
    if (net.isIPv6(host) === false) return null;
    if (bracketed[2] !== undefined) port = Number(bracketed[2]);
  } else {
    const withPort = /^([^:]+):([0-9]{1,5})$/.exec(raw);
    if (withPort) {
      host = withPort[1];
      port = Number(withPort[2]);
    }
  }
  return isHostnameOrIp(host) && isPort(port) ? { host, port } : null;
}

/**
 * An http(s) base address of a partner: no user name or password (they would
 * end up in logs and error messages), no query or fragment (paths are
 * appended to it), and a host that passes isHostnameOrIp.
 */
export function isPartnerBaseUrl(value: unknown): value is string {
  if (typeof value !== 'string' || value.length > 255 || !PRINTABLE_ASCII.test(value)) return false;
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    return false;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return false;
  if (u.username !== '' || u.password !== '' || u.search !== '' || u.hash !== '') return false;
  // URL parsing drops an empty userinfo ("http://@host", "http://:@host"): refuse it from the raw text.
  const authority = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)/.exec(value)?.[1] ?? '';
  if (authority.includes('@')) return false;
  return isHostnameOrIp(u.hostname.replace(/^\[|\]$/g, ''));
}

/**
 * How a partner's address appears in a message: host[:port] only, never the
 * user name, password, path or query (a v1 call carries the shared secret
 * in its query string).
 */
export function describeHost(url: string): string {
  try {
    const host = new URL(url).host;
    return host === '' ? 'an invalid address' : host;
  } catch {
    return 'an invalid address';
  }
}

/**
 * A server name as partners are known by (keyids, policy lists): host or
 * host:port, an IPv6 address in brackets, compared lower-cased. Null for
 * anything else: a bare IPv6 address (its colons read as a port), a URL, a
 * space or control character, markup.
 */
function splitServerName(raw: string): { host: string; port: number | null } | null {
  let host: string;
  let port: string | undefined;
  const bracketed = /^\[([^\]]*)\](?::([0-9]{1,5}))?$/.exec(raw);
  if (bracketed) {
    if (!net.isIPv6(bracketed[1])) return null;
    [, host, port] = bracketed;
  } else {
    const plain = /^([^:[\]]+)(?::([0-9]{1,5}))?$/.exec(raw);
    if (!plain || net.isIPv6(plain[1])) return null;
    [, host, port] = plain;
  }
  if (!isHostnameOrIp(host)) return null;
  if (port !== undefined && !isPort(Number(port))) return null;
  return { host: host.toLowerCase(), port: port === undefined ? null : Number(port) };
}

export const PEER_ENTRY_RULE =
  'a server name: host or host:port (an IPv6 address in brackets), or *.example.org for every name below example.org';

/**
 * An entry of the policy's allowed_peers / blocked_peers: a server name, or
 * `*.` and a host name for every name below it (not the name itself). An
 * entry without a port names the instance without one in its server name
 * (the default port of its web address), as partners' server names are
 * written; `pbx.example.org:8443` is another instance.
 */
export function parsePeerEntry(
  value: unknown,
): { wildcard: boolean; host: string; port: number | null } | null {
  if (typeof value !== 'string' || value.length > 261) return null;
  const wildcard = value.startsWith('*.');
  const name = splitServerName(wildcard ? value.slice(2) : value);
  if (!name || (wildcard && net.isIP(name.host) !== 0)) return null;
  return { wildcard, ...name };
}

export function isPeerEntry(value: unknown): value is string {
  return parsePeerEntry(value) !== null;
}

/** Whether a policy entry names this partner (its server name, as in its keyid). */
export function peerEntryMatches(entry: string, serverName: string): boolean {
  const e = parsePeerEntry(entry);
  const s = splitServerName(serverName.toLowerCase());
  if (!e || !s || e.port !== s.port) return false;
  return e.wildcard ? s.host.endsWith(`.${e.host}`) : s.host === e.host;
}

/** Addresses no partner on another machine can reach: loopback, "any address", link-local. */
const UNROUTABLE = (() => {
  const list = new net.BlockList();
  list.addSubnet('127.0.0.0', 8, 'ipv4');
  list.addAddress('0.0.0.0', 'ipv4');
  list.addSubnet('169.254.0.0', 16, 'ipv4');
  list.addAddress('::1', 'ipv6');
  list.addAddress('::', 'ipv6');
  list.addSubnet('fe80::', 10, 'ipv6');
  return list;
})();

/**
 * Why a host we advertise to partners cannot be reached from another
 * machine ('loopback', 'any address', 'link-local'), or null when it may be
 * (a name other than localhost, or a routable address).
 */
export function unroutableReason(host: string): string | null {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return 'loopback';
  const family = net.isIP(h);
  if (family === 0 || !UNROUTABLE.check(h, family === 6 ? 'ipv6' : 'ipv4')) return null;
  if (h === '0.0.0.0' || h === '::') return 'any address';
  if (h.startsWith('127.') || h === '::1' || h.startsWith('::ffff:127.')) return 'loopback';
  return 'link-local';
}
