import type { Peer, PeerSecretField, TestCallRecord } from './records';

/**
 * The peers as the Asterisk layer gets them: the composition (src/app.ts)
 * hands it an AsteriskPeerRows (src/store/peer-rows.ts), so the Asterisk
 * layer reads what it renders and writes the columns it owns (apply state,
 * link state, last test call; docs/architecture.md) without opening the
 * tables the protocol writes.
 */

/** What a reconcile run renders, and the apply state it records. The secret is in clear. */
export type PeerRunRow = Pick<
  Peer,
  | 'id'
  | 'name'
  | 'prefix'
  | 'partnerIaxHost'
  | 'partnerIaxPort'
  | 'partnerExtensionLength'
  | 'codec'
  | PeerSecretField
  | 'applyState'
  | 'applyError'
  | 'appliedAt'
>;

/** What is rendered of a peer, without any apply state (`uuru-fed asterisk config`). */
export type PeerRenderRow = Omit<PeerRunRow, 'applyState' | 'applyError' | 'appliedAt'>;

/**
 * The peers as rendered, for a view of the generated configuration: no apply
 * state is read, as it is no fact of the rendering (and with replicas it is
 * per Asterisk node, not the peer row's).
 */
export interface AsteriskRenderRows {
  readRendered(): Promise<PeerRenderRow[]>;
}

/** What a reconcile run writes on a peer row. */
export type ApplyPatch = Pick<Peer, 'applyState' | 'applyError'> & { appliedAt?: number };

/**
 * The plain columns the Asterisk layer writes on peer rows: apply states
 * (reconciler) and the link's state (monitor). Not updatedAt: that is the
 * protocol's time of its last change to the peering; each column here has
 * its own time (appliedAt, lastSeen, linkErrorAt).
 */
export type PeerPatch = Partial<
  Pick<
    Peer,
    | 'applyState'
    | 'applyError'
    | 'appliedAt'
    | 'reachability'
    | 'latencyMs'
    | 'linkError'
    | 'linkErrorAt'
    | 'lastSeen'
  >
>;

/** What a monitor poll reads of a peer. */
export type LinkRow = Pick<Peer, 'id' | 'name' | 'reachability' | 'latencyMs' | 'linkError' | 'lastSeen'>;

/** What the test caller needs of a peer. */
export type TestCallPeer = Pick<Peer, 'id' | 'name' | 'applyState' | 'applyError'>;

export interface AsteriskPeerRows {
  /** Every peer's run columns. */
  readAll(): Promise<PeerRunRow[]>;
  /** Writes one patch on the given peers. */
  patch(ids: string[], patch: PeerPatch): Promise<void>;
  /** Every peer's link columns. */
  readLinks(): Promise<LinkRow[]>;
  findForTestCall(name: string): Promise<TestCallPeer | null>;
  recordTestCall(id: string, record: TestCallRecord): Promise<void>;
}
