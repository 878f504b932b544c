import type { ApplyState } from './records';

/**
 * Replicas of one instance (issue 16, `ha.enabled`): which replicas run, the
 * Asterisk node each is bound to, who holds which job lease, and a peer's
 * apply state on each Asterisk node. Each replica's Asterisk layer writes the
 * apply state of its own node only (`peer_node_states`); what the admin
 * surfaces show as the peer's apply state is summed up here over the nodes of
 * the live replicas.
 */

/** A peer's apply state on one Asterisk node. */
export interface PeerNodeApply {
  node: string;
  applyState: ApplyState;
  applyError: string | null;
  appliedAt: number | null;
}

/** A peer's apply state over every live Asterisk node, with each node's. */
export interface PeerApplySummary {
  applyState: ApplyState;
  applyError: string | null;
  appliedAt: number | null;
  nodes: PeerNodeApply[];
}

/** The per-node apply states as the admin surfaces read them (src/store/ha/node-states.ts). */
export interface PeerApplyStates {
  /**
   * Each listed peer's summary over the Asterisk nodes of the live replicas;
   * empty when no live replica names a node (the peer row's own columns hold).
   */
  summarize(peerIds: readonly string[]): Promise<Map<string, PeerApplySummary>>;
}

/** One replica as the status views list it. */
export interface ReplicaRecord {
  replicaId: string;
  asteriskNode: string | null;
  version: string;
  startedAt: number;
  lastSeenAt: number;
  /** Seen within three heartbeats. */
  live: boolean;
}

/** One cluster job's lease. */
export interface LeaseRecord {
  job: string;
  holder: string | null;
  token: number;
  period: number;
  expiresAt: number;
  done: boolean;
}

/** The replicas and the leases (GET /api/admin/status, the panel, `uuru-fed status`). */
export interface ReplicaDirectory {
  /** This replica's name and Asterisk node. */
  readonly self: { replicaId: string; asteriskNode: string | null };
  list(): Promise<{ replicas: ReplicaRecord[]; leases: LeaseRecord[] }>;
}

/**
 * A peer's apply state over `nodes` (the live replicas' Asterisk nodes):
 * failed when it failed on one (its error names the node), applied when
 * applied on every one (at the latest of their times), else pending (a node
 * that has not recorded it yet counts as pending).
 */
export function summarizeNodes(nodes: readonly string[], rows: readonly PeerNodeApply[]): PeerApplySummary {
  const byNode = new Map(rows.map((r) => [r.node, r]));
  const list: PeerNodeApply[] = [...nodes]
    .sort()
    .map((node) => byNode.get(node) ?? { node, applyState: 'pending', applyError: null, appliedAt: null });
  const failed = list.filter((n) => n.applyState === 'failed');
  if (failed.length > 0)
    return {
      applyState: 'failed',
      applyError: failed.map((n) => `${n.node}: ${n.applyError ?? 'failed'}`).join('; '),
      appliedAt: null,
      nodes: list,
    };
  if (list.length > 0 && list.every((n) => n.applyState === 'applied'))
    return {
      applyState: 'applied',
      applyError: null,
      appliedAt: Math.max(...list.map((n) => n.appliedAt ?? 0)) || null,
      nodes: list,
    };
  const errors = list.filter((n) => n.applyError !== null).map((n) => `${n.node}: ${n.applyError}`);
  return {
    applyState: 'pending',
    applyError: errors.length > 0 ? errors.join('; ') : null,
    appliedAt: null,
    nodes: list,
  };
}

/**
 * The lease of this replica's Asterisk node (replicas only, src/store/ha/node-lease.ts): of the
 * replicas bound to one Asterisk node, only the one holding the node's lease reconciles and
 * applies to it; the others stand by and one of them takes the lease over when the holder stops
 * renewing it (it died). A row won by an UPDATE, like the job leases.
 */
export interface AsteriskNodeLease {
  /** The Asterisk node this replica is bound to. */
  readonly node: string;
  /** True while this replica holds the lease (checked before every reconcile run). */
  held(): boolean;
  /** The replica that held the lease when this replica last looked (null: nobody, or not looked yet). */
  holder(): string | null;
  /** Calls `listener` each time this replica takes the lease (at start, or over from a dead holder). */
  onGained(listener: () => void): () => void;
}

/**
 * What a lease row means to an admin (the panel and `uuru-fed status`): `free` (nobody holds it: given
 * back on a clean stop, or its holder purged), `held` (an Asterisk node's lease, `node:<name>`, renewed
 * while its holder lives), a job's period `done` or still `running`, or `expired` (its holder stopped
 * renewing before it was done: it died, and another replica takes it over).
 */
export type LeaseState = 'free' | 'held' | 'done' | 'running' | 'expired';

export function leaseState(
  l: { job: string; holder: string | null; done: boolean; expiresAt: number },
  now: number,
): LeaseState {
  if (l.holder === null) return 'free';
  if (l.job.startsWith('node:')) return l.expiresAt > now ? 'held' : 'expired';
  if (l.done) return 'done';
  return l.expiresAt > now ? 'running' : 'expired';
}
