import type { IncomingRequest, OutgoingRequest, Peer, PeerSecretField } from '../../core/records';
import type { StoreTx } from './transactions';

export type { IncomingRequest, OutgoingRequest, Peer };

/** What the protocol writes on a peer row (docs/architecture.md: who writes which column). */
export type PeerProtocolPatch = Partial<
  Pick<
    Peer,
    | 'state'
    | 'partnerError'
    | 'partnerErrorAt'
    | 'partnerKeyFingerprint'
    | 'updatedAt'
    // A v1 → v2 upgrade (src/federation/v1-upgrade.ts) turns the peering into v2 in place.
    | 'dialect'
    | 'partnerServerName'
    | PeerSecretField
    // Agreement key rotation into epochs (src/federation/key-epochs.ts): the keys of the root and of the next one.
    | 'agreementKid'
    | 'partnerAgreementKid'
    | 'nextAgreementKid'
    | 'nextPartnerAgreementKid'
  >
>;
export type OutgoingPatch = Partial<
  Pick<OutgoingRequest, 'state' | 'declineReason' | 'lastError' | 'updatedAt'>
>;
export type IncomingPatch = Partial<Pick<IncomingRequest, 'state' | 'updatedAt'>>;

/** What the descriptor's peer_map needs of a peer: no secret, nothing sealed. */
export type PeerMapRow = Pick<
  Peer,
  'partnerServerName' | 'partnerUrl' | 'state' | 'applyState' | 'reachability'
>;

/**
 * A peer as the admin views show it: every column but the sealed secrets, and
 * whether a v1 secret is still kept (an upgrade's switch), which is all a view
 * needs to know of it.
 */
export type PeerSummary = Omit<Peer, 'secret' | 'previousSecret' | 'nextSecret'> & {
  hasPreviousSecret: boolean;
};

/** Which peer: by one of its unique keys, or the partner's v2 peer. */
/** What a partner's peering-state poll reads of the peer holding the request (its trunk secret epochs). */
export type PeerEpochRow = Pick<
  Peer,
  'partnerServerName' | 'dialect' | 'secretEpochSeconds' | 'secretEpochOffset' | 'secretShiftAt'
>;

export type PeerKey =
  | { id: string }
  | { name: string }
  | { requestId: string; role?: Peer['role'] }
  | { partnerServerName: string; dialect: Peer['dialect'] };

/**
 * The peerings the protocol keeps: peers, and peering requests in both
 * directions (tables peers, outgoing_requests, incoming_requests). Lists come
 * oldest first (created_at, then id) unless said otherwise. Every method takes
 * an optional transaction from Transactions.run.
 *
 * Unique: a peer's id, name and prefix; an outgoing request's id; an incoming
 * request's id and requestId. An insert that breaks one rejects and writes
 * nothing. `onlyIfPending` makes an update or delete a compare-and-set: it
 * reports false when the row was gone or no longer pending.
 */
export interface PeeringStore {
  listPeers(filter?: { dialect?: Peer['dialect'] }, tx?: StoreTx): Promise<Peer[]>;
  /**
   * Every peer's partner and state, only those columns (in no set order): the
   * descriptor's peer_map is built on each descriptor request, and whole rows
   * would cost the decryption of every sealed secret.
   */
  listPeerMapRows(): Promise<PeerMapRow[]>;
  /**
   * Every peer without its sealed secrets, oldest first: what the admin views
   * show (a list of 1,000 whole rows decrypted 3,000 secrets it never shows).
   */
  listPeerSummaries(): Promise<PeerSummary[]>;
  findPeer(key: PeerKey, tx?: StoreTx): Promise<Peer | null>;
  /**
   * The partner of the peer holding this request id (null: the peer has no
   * server name), or undefined when no peer holds it. Reads no other column:
   * every signed call about a peering asks this, and a whole row costs the
   * decryption of its sealed secret.
   */
  peerPartnerOfRequest(requestId: string, tx?: StoreTx): Promise<string | null | undefined>;
  /**
   * The partner, dialect and trunk secret epoch columns of the peer holding
   * this request id, or null when no peer holds it. Only those columns: the
   * partner's peering-state poll answers its epochs, and a whole row costs
   * the decryption of its sealed secrets.
   */
  peerEpochsOfRequest(requestId: string): Promise<PeerEpochRow | null>;
  /** A peer holding this name or this prefix, if any. */
  findPeerHolding(p: { name: string; prefix: string }, tx?: StoreTx): Promise<Peer | null>;
  insertPeer(peer: Peer, tx?: StoreTx): Promise<void>;
  updatePeer(id: string, patch: PeerProtocolPatch, tx?: StoreTx): Promise<boolean>;
  /**
   * updatePeer as a compare-and-set on the forced rotation the writer read
   * (secretShiftAt, null for none): false when the row is gone or holds
   * another one by now (a concurrent write), and then nothing is written.
   */
  updatePeerIfShiftAt(
    id: string,
    shiftAt: number | null,
    patch: PeerProtocolPatch,
    tx?: StoreTx,
  ): Promise<boolean>;
  deletePeer(id: string, tx?: StoreTx): Promise<boolean>;

  listOutgoing(
    filter?: { state?: OutgoingRequest['state']; dialect?: OutgoingRequest['dialect'] },
    tx?: StoreTx,
  ): Promise<OutgoingRequest[]>;
  findOutgoing(id: string, tx?: StoreTx): Promise<OutgoingRequest | null>;
  insertOutgoing(row: OutgoingRequest, tx?: StoreTx): Promise<void>;
  updateOutgoing(
    id: string,
    patch: OutgoingPatch,
    opts?: { onlyIfPending?: boolean },
    tx?: StoreTx,
  ): Promise<boolean>;
  deleteOutgoing(id: string, opts?: { onlyIfPending?: boolean }, tx?: StoreTx): Promise<boolean>;

  /**
   * Incoming requests; with `partnerServerName` and `createdAfter` (exclusive)
   * the ones from that partner since then, at most `limit`.
   */
  listIncoming(
    filter?: {
      state?: IncomingRequest['state'];
      partnerServerName?: string;
      createdAfter?: number;
      limit?: number;
    },
    tx?: StoreTx,
  ): Promise<IncomingRequest[]>;
  findIncoming(key: { id: string } | { requestId: string }, tx?: StoreTx): Promise<IncomingRequest | null>;
  insertIncoming(row: IncomingRequest, tx?: StoreTx): Promise<void>;
  /**
   * Orders the transactions that admit one origin's new requests (the check
   * that its name and partner are free, and the unsolicited budget), across
   * processes sharing the database (replicas): called first in such a
   * transaction, it writes a row of that origin, so a second one waits for
   * the first to end (one server) or loses to it with 1213 and is run again
   * whole (Galera), then reads what the first stored. A no-op where one
   * process owns the database (its transactions run one at a time).
   */
  holdOrigin(serverName: string, now: number, tx: StoreTx): Promise<void>;
  updateIncoming(id: string, patch: IncomingPatch, tx?: StoreTx): Promise<boolean>;
  deleteIncoming(id: string, opts?: { onlyIfPending?: boolean }, tx?: StoreTx): Promise<boolean>;

  /** Whether a peer or a request (either direction, any state) names this partner (stored lower case). */
  refersToPartner(serverName: string, tx?: StoreTx): Promise<boolean>;
}
