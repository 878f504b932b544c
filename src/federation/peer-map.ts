import { z } from 'zod';
import {
  MAP_STATES,
  mapStateOf,
  MAX_PUBLISHED_PEERS,
  type PartnerPeerMap,
  type PublishedPeer,
} from '../core/federation-map';
import { isHostnameOrIp } from '../core/network-address';
import { authorityOf } from './partner-call';
import type { PeerMapRow } from './ports/peering-store';

/**
 * The optional `peer_map` field of a uuru-fed/2 descriptor (protocol.md,
 * "Descriptor"): a partner that opts in (`federation.publishPeerMap`) lists its
 * own peers' server names and states, so our federation map can draw them as
 * a second ring. What we send is built from our peer rows; what we receive is
 * validated strictly before anything of it is shown: at most
 * MAX_PUBLISHED_PEERS entries, each a server name (host[:port], lower case, as
 * base URLs give them) and one of the known states, nothing else. A field
 * that breaks any rule is refused whole (FED_PEER_MAP_INVALID): no entry of
 * it is shown. The rest of the descriptor stays valid either way, so a bad
 * map never stops a peering.
 */

/** host[:port] as URL.host gives it for an http(s) base URL: lower case, a valid host, no default port. */
export function isServerName(value: unknown): value is string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 261) return false;
  if (!/^[a-z0-9.:[\]-]+$/.test(value)) return false;
  let u: URL;
  try {
    u = new URL(`http://${value}`);
  } catch {
    return false;
  }
  if (u.host !== value || u.pathname !== '/' || u.username || u.password) return false;
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  return isHostnameOrIp(host);
}

const publishedPeerSchema = z.strictObject({
  server_name: z.string().refine(isServerName, 'must be a server name (host[:port], lower case)'),
  state: z.enum(MAP_STATES),
});

export const peerMapSchema = z.strictObject({
  peers: z.array(publishedPeerSchema).max(MAX_PUBLISHED_PEERS),
});

export type PeerMapField = z.infer<typeof peerMapSchema>;

/** Reads a received descriptor's peer_map (undefined: the partner does not publish one). */
export function readPeerMap(raw: unknown, fetchedAt: number | null): PartnerPeerMap {
  if (raw === undefined || raw === null) return { kind: 'absent' };
  const parsed = peerMapSchema.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    const where = first && first.path.length ? first.path.join('.') : '(field)';
    // The reason names where and which rule, never the partner's text itself.
    return {
      kind: 'refused',
      code: 'FED_PEER_MAP_INVALID',
      reason: `${where}: ${first?.code === 'too_big' ? `more than ${MAX_PUBLISHED_PEERS} entries` : 'not valid'}`,
    };
  }
  const seen = new Set<string>();
  const peers: PublishedPeer[] = [];
  for (const p of parsed.data.peers) {
    if (seen.has(p.server_name)) continue;
    seen.add(p.server_name);
    peers.push({ server_name: p.server_name, state: p.state });
  }
  return { kind: 'published', peers, fetchedAt };
}

/** What we publish: each partner once (its best trunk's state), by server name. */
export function publishedPeerMap(peers: readonly PeerMapRow[]): PeerMapField {
  const rank = (s: PublishedPeer['state']) => MAP_STATES.indexOf(s);
  const byName = new Map<string, PublishedPeer>();
  for (const p of peers) {
    let name: string;
    try {
      name = (p.partnerServerName ?? authorityOf(p.partnerUrl)).toLowerCase();
    } catch {
      continue;
    }
    if (!isServerName(name)) continue;
    const state = mapStateOf(p);
    const had = byName.get(name);
    if (!had || rank(state) < rank(had.state)) byName.set(name, { server_name: name, state });
  }
  const list = [...byName.values()].sort((a, b) => a.server_name.localeCompare(b.server_name));
  return { peers: list.slice(0, MAX_PUBLISHED_PEERS) };
}
