import type { ApplyState, Dialect, Reachability } from './records';
import type { TrunkQualitySample } from './trunk-quality';

/**
 * The federation map (issue 14): us, our peers (the first ring) with their
 * live state, latency and call quality, and, for a partner that publishes its
 * own peers in its uuru-fed/2 descriptor (`peer_map`, opt-in on its side),
 * those peers as a second ring. Built here from what the ports give (peer
 * views, trunk quality samples, each partner's validated published peers);
 * drawn by the panel (src/http/panel/map-page.ts) and served as JSON by the
 * admin API.
 */

/** A trunk's state as the map shows it (and as a partner publishes it). */
export const MAP_STATES = ['up', 'lagged', 'down', 'not_applied', 'partner_missing', 'unknown'] as const;
export type MapState = (typeof MAP_STATES)[number];

/** Words for each state: the map never tells a state by colour alone. */
export const MAP_STATE_LABELS: Record<MapState, string> = {
  up: 'up',
  lagged: 'slow',
  down: 'down',
  not_applied: 'not applied',
  partner_missing: 'partner forgot us',
  unknown: 'not monitored',
};

/** At most this many peers in a published peer map (a larger list is refused whole). */
export const MAX_PUBLISHED_PEERS = 64;

/** One peer of a partner, as the partner publishes it. */
export interface PublishedPeer {
  server_name: string;
  state: MapState;
}

/** What a partner's descriptor says about its peers, after strict validation (src/federation/peer-map.ts). */
export type PartnerPeerMap =
  | { kind: 'absent' }
  | { kind: 'published'; peers: PublishedPeer[]; fetchedAt: number | null }
  /** The field was there but not valid: nothing of it is shown, the code and a short reason are. */
  | { kind: 'refused'; code: 'FED_PEER_MAP_INVALID'; reason: string };

/** The one state a trunk shows: the protocol's, then Asterisk's apply, then the monitor's. */
export function mapStateOf(p: {
  state: 'active' | 'partner_missing';
  applyState: ApplyState;
  reachability: Reachability;
}): MapState {
  if (p.state === 'partner_missing') return 'partner_missing';
  if (p.applyState === 'failed') return 'not_applied';
  switch (p.reachability) {
    case 'reachable':
      return 'up';
    case 'lagged':
      return 'lagged';
    case 'unreachable':
      return 'down';
    default:
      return 'unknown';
  }
}

export interface MapQuality {
  at: number;
  rttMs: number | null;
  inbound: { jitterMs: number | null; lossRatio: number | null };
  outbound: { jitterMs: number | null; lossRatio: number | null };
}

export interface MapPeer {
  id: string;
  name: string;
  prefix: string;
  dialect: Dialect;
  /** The partner's server name (host[:port] of its address). */
  serverName: string;
  state: MapState;
  latencyMs: number | null;
  /** The newest call-quality sample of the trunk (last 24 h), if any. */
  quality: MapQuality | null;
  /** The partner's own peers, when it publishes them. */
  ring: PartnerPeerMap;
}

export interface FederationMap {
  self: { serverName: string };
  peers: MapPeer[];
}

/** The peer fields the map needs (PeerView's, by their admin names). */
export interface MapPeerInput {
  id: string;
  name: string;
  prefix: string;
  partner_url: string;
  dialect: Dialect;
  state: 'active' | 'partner_missing';
  apply_state: ApplyState;
  reachability: Reachability;
  latency_ms: number | null;
}

const hostOf = (url: string): string => {
  try {
    return new URL(url).host.toLowerCase();
  } catch {
    return '';
  }
};

export function buildFederationMap(input: {
  selfServerName: string;
  peers: readonly MapPeerInput[];
  latestQuality: readonly TrunkQualitySample[];
  /** Each partner's published peers, by server name (lower case); a missing name reads as absent. */
  partnerMaps: ReadonlyMap<string, PartnerPeerMap>;
}): FederationMap {
  const quality = new Map(input.latestQuality.map((q) => [q.peer, q]));
  const peers = [...input.peers]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((p): MapPeer => {
      const serverName = hostOf(p.partner_url);
      const q = quality.get(p.name);
      return {
        id: p.id,
        name: p.name,
        prefix: p.prefix,
        dialect: p.dialect,
        serverName,
        state: mapStateOf({ state: p.state, applyState: p.apply_state, reachability: p.reachability }),
        latencyMs: p.latency_ms,
        quality: q
          ? { at: q.at, rttMs: q.rttMs, inbound: { ...q.inbound }, outbound: { ...q.outbound } }
          : null,
        ring: input.partnerMaps.get(serverName) ?? { kind: 'absent' },
      };
    });
  return { self: { serverName: input.selfServerName }, peers };
}
