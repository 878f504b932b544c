import dns from 'node:dns/promises';
import net from 'node:net';
import type { Config } from '../config/schema';
import { configSchema } from '../config/schema';
import type { CheckResult } from '../core/diagnostics';
import type { PeerView } from '../core/federation-admin';
import { check } from './check';

/**
 * What we tell partners: our web address (UURU_FEDERATION_UURU_HOST) and our
 * IAX2 host (UURU_FEDERATION_IAX2_HOST). An address a partner cannot reach
 * stores a trunk that never rings; the handshake itself cannot tell.
 */

export type AddressClass = 'unspecified' | 'loopback' | 'link-local' | 'private' | 'public';

function blockList(entries: [string, number, 'ipv4' | 'ipv6'][]): net.BlockList {
  const b = new net.BlockList();
  for (const [a, p, t] of entries) b.addSubnet(a, p, t);
  return b;
}

const LOOPBACK = blockList([
  ['127.0.0.0', 8, 'ipv4'],
  ['::1', 128, 'ipv6'],
]);
const LINK_LOCAL = blockList([
  ['169.254.0.0', 16, 'ipv4'],
  ['fe80::', 10, 'ipv6'],
]);
/** RFC 1918, shared address space (carrier-grade NAT, RFC 6598) and IPv6 unique local addresses. */
const PRIVATE = blockList([
  ['10.0.0.0', 8, 'ipv4'],
  ['172.16.0.0', 12, 'ipv4'],
  ['192.168.0.0', 16, 'ipv4'],
  ['100.64.0.0', 10, 'ipv4'],
  ['fc00::', 7, 'ipv6'],
]);

export function classifyAddress(ip: string): AddressClass {
  const family = net.isIPv4(ip) ? 'ipv4' : 'ipv6';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return classifyAddress(mapped[1]);
  if (ip === '0.0.0.0' || ip === '::') return 'unspecified';
  if (LOOPBACK.check(ip, family)) return 'loopback';
  if (LINK_LOCAL.check(ip, family)) return 'link-local';
  if (PRIVATE.check(ip, family)) return 'private';
  return 'public';
}

export type Lookup = (host: string) => Promise<string[]>;

export const systemLookup: Lookup = async (host) =>
  (await dns.lookup(host, { all: true, verbatim: true })).map((a) => a.address);

/** The addresses a host stands for (itself when it is an IP address); null when it does not resolve. */
async function addressesOf(host: string, lookup: Lookup): Promise<string[] | null> {
  const bare = host.replace(/^\[|\]$/g, '');
  if (net.isIP(bare)) return [bare];
  if (bare.toLowerCase() === 'localhost') return ['127.0.0.1'];
  try {
    const all = await lookup(bare);
    return all.length ? all : null;
  } catch {
    return null;
  }
}

const RANK: AddressClass[] = ['unspecified', 'loopback', 'link-local', 'private', 'public'];
/** The worst class among a host's addresses: one unroutable address is enough to break some partners. */
const worst = (classes: AddressClass[]): AddressClass =>
  classes.reduce((w, c) => (RANK.indexOf(c) < RANK.indexOf(w) ? c : w), 'public' as AddressClass);

export async function addressChecks(
  config: Config,
  peers: PeerView[],
  lookup: Lookup = systemLookup,
): Promise<CheckResult[]> {
  const defaults = configSchema.parse({}).instance;
  // Where our partners are: their IAX2 hosts and web addresses.
  const partnerClasses: AddressClass[] = [];
  for (const p of peers) {
    for (const host of [p.partner_iax_host, hostOfUrl(p.partner_url)]) {
      if (!host) continue;
      const addrs = await addressesOf(host, lookup);
      if (addrs) partnerClasses.push(worst(addrs.map(classifyAddress)));
    }
  }
  const anyRemote = partnerClasses.some((c) => c === 'public');
  const allLoopback = partnerClasses.length > 0 && partnerClasses.every((c) => c === 'loopback');
  return [
    await judge({
      id: 'address.web',
      title: 'Advertised web address',
      variable: 'UURU_FEDERATION_UURU_HOST',
      value: config.instance.publicUrl,
      host: hostOfUrl(config.instance.publicUrl),
      isDefault: config.instance.publicUrl === defaults.publicUrl,
      example: 'https://pbx.example.org',
      anyRemote,
      allLoopback,
      peers: peers.length,
      lookup,
    }),
    await judge({
      id: 'address.iax2',
      title: 'Advertised IAX2 host',
      variable: 'UURU_FEDERATION_IAX2_HOST',
      value: config.instance.iax2Host,
      host: config.instance.iax2Host,
      isDefault: config.instance.iax2Host === defaults.iax2Host,
      example: 'pbx.example.org or your public IP address',
      anyRemote,
      allLoopback,
      peers: peers.length,
      lookup,
    }),
  ];
}

function hostOfUrl(url: string): string {
  try {
    return new URL(url).hostname;
  } catch {
    return '';
  }
}

async function judge(p: {
  id: string;
  title: string;
  variable: string;
  value: string;
  host: string;
  isDefault: boolean;
  example: string;
  anyRemote: boolean;
  allLoopback: boolean;
  peers: number;
  lookup: Lookup;
}): Promise<CheckResult> {
  const setIt = `Set ${p.variable} to the address partners reach this PBX at (e.g. ${p.example}).`;
  const addrs = await addressesOf(p.host, p.lookup);
  if (addrs && p.allLoopback && worst(addrs.map(classifyAddress)) === 'loopback') {
    return check(
      p.id,
      p.title,
      'ok',
      `${p.host} is loopback, as are all ${p.peers} partner(s): they all run on this host`,
    );
  }
  // The built-in defaults are loopback addresses: left as they are, every partner elsewhere stores a dead trunk.
  if (p.isDefault) {
    return check(
      p.id,
      p.title,
      'fail',
      `${p.variable} is unset or left at the built-in default ${p.value}, which partners on other hosts cannot reach`,
      setIt,
    );
  }
  if (!addrs) {
    return check(
      p.id,
      p.title,
      'warn',
      `${p.host} does not resolve from here, so partners may not resolve it either`,
      `Check the DNS name, or ${setIt.charAt(0).toLowerCase()}${setIt.slice(1)}`,
    );
  }
  const cls = worst(addrs.map(classifyAddress));
  const shown = net.isIP(p.host.replace(/^\[|\]$/g, '')) ? p.host : `${p.host} (${addrs.join(', ')})`;
  switch (cls) {
    case 'public':
      return check(p.id, p.title, 'ok', `${shown} is a routable address`);
    case 'unspecified':
      return check(
        p.id,
        p.title,
        'warn',
        `${shown} is the "any address" of a listener: a partner cannot dial it`,
        setIt,
      );
    case 'link-local':
      return check(
        p.id,
        p.title,
        'warn',
        `${shown} is link-local: it only works on one network segment and may change`,
        setIt,
      );
    case 'loopback':
      return p.allLoopback
        ? check(
            p.id,
            p.title,
            'ok',
            `${shown} is loopback, as are all ${p.peers} partner(s): they all run on this host`,
          )
        : check(
            p.id,
            p.title,
            'warn',
            `${shown} is a loopback address: a partner on another host would reach itself, not us`,
            setIt,
          );
    case 'private':
      return p.anyRemote
        ? check(
            p.id,
            p.title,
            'warn',
            `${shown} is a private address, but some partners are on public addresses and cannot reach it`,
            `${setIt} Behind NAT, use the public address and forward the port.`,
          )
        : check(
            p.id,
            p.title,
            'ok',
            `${shown} is a private address; no partner is outside private networks${p.peers === 0 ? ' (no partners yet)' : ''}`,
          );
  }
}
