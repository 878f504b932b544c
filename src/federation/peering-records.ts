import { AppError } from '../core/errors';
import { freshPeerState, type FreshPeerField } from '../core/records';
import type { HandshakeDeps } from './handshake-deps';
import { uuid } from './handshake-deps';
import { checkPrefix, type PrefixHolder } from './numbering-plan';
import type { IncomingRequest, OutgoingRequest, Peer } from './ports/peering-store';
import type { StoreTx } from './ports/transactions';

/**
 * The rules on peerings both directions of the handshake check (a name or
 * partner in use, a clashing dial prefix, who a request belongs to) and the
 * shape of a new peer, over the PeeringStore. Storage itself is the store's.
 */
/** Who a request id belongs to (PeeringRecords.ownerOfRequest). */
export interface RequestOwner {
  /** The partner's server name, null when no record names one. */
  partner: string | null;
  /** A peer holds the request id (partner is that peer's). */
  heldByPeer: boolean;
}

/**
 * The rows checkFree and checkPrefix read, read once: an admin's create checks
 * both against the same rows instead of reading the peers and the pending
 * requests again for each check (neither check runs in the transaction that
 * stores the request, so one read is as current as three).
 */
export interface AdmissionRows {
  peers: Peer[];
  pendingOutgoing: OutgoingRequest[];
  pendingIncoming: IncomingRequest[];
}

export class PeeringRecords {
  constructor(private readonly deps: Pick<HandshakeDeps, 'peerings' | 'config' | 'policy' | 'clock'>) {}

  /** The peers and the pending requests both ways, for checkFree and checkPrefix. */
  async admissionRows(): Promise<AdmissionRows> {
    const { peerings } = this.deps;
    return {
      peers: await peerings.listPeers(),
      pendingOutgoing: await peerings.listOutgoing({ state: 'pending' }),
      pendingIncoming: await peerings.listIncoming({ state: 'pending' }),
    };
  }

  /**
   * Refuses a name or partner already in use: by a peer, a pending request in
   * either direction. `except` skips the record being turned into a peer.
   */
  async checkFree(
    p: { name: string; serverName: string },
    except: { incomingId?: string; outgoingId?: string } = {},
    seen?: AdmissionRows,
    tx?: StoreTx,
  ): Promise<void> {
    const server = p.serverName.toLowerCase();
    const peers = seen?.peers ?? (await this.deps.peerings.listPeers(undefined, tx));
    for (const peer of peers) {
      if ((peer.partnerServerName ?? '').toLowerCase() === server) {
        throw new AppError('FED_ALREADY_PEERED', `already peered with ${p.serverName} (as '${peer.name}')`);
      }
      if (peer.name.toLowerCase() === p.name.toLowerCase()) {
        throw new AppError(
          'FED_NAME_CONFLICT',
          `the peering name '${p.name}' is already used by another peer`,
        );
      }
    }
    const pending = [
      {
        rows: seen?.pendingOutgoing ?? (await this.deps.peerings.listOutgoing({ state: 'pending' }, tx)),
        skip: except.outgoingId,
        way: 'outgoing',
        to: 'to',
      },
      {
        rows: seen?.pendingIncoming ?? (await this.deps.peerings.listIncoming({ state: 'pending' }, tx)),
        skip: except.incomingId,
        way: 'incoming',
        to: 'from',
      },
    ];
    for (const { rows, skip, way, to } of pending) {
      for (const r of rows) {
        if (r.id === skip) continue;
        if (r.name.toLowerCase() === p.name.toLowerCase()) {
          throw new AppError(
            'FED_NAME_CONFLICT',
            `the peering name '${p.name}' is already used by a pending ${way} request`,
          );
        }
        if ((r.partnerServerName ?? '').toLowerCase() === server) {
          throw new AppError(
            'FED_STATE_CONFLICT',
            `a peering request ${to} ${p.serverName} is already pending`,
          );
        }
      }
    }
  }

  /** Checks a dial prefix against peers, pending outgoing requests and the local numbering plan. */
  async checkPrefix(
    prefix: string,
    partnerExtensionLength: number | null,
    exceptOutgoingId?: string,
    seen?: AdmissionRows,
  ): Promise<void> {
    const holders: PrefixHolder[] = [];
    for (const peer of seen?.peers ?? (await this.deps.peerings.listPeers()))
      holders.push({ label: `peer '${peer.name}'`, prefix: peer.prefix });
    for (const o of seen?.pendingOutgoing ?? (await this.deps.peerings.listOutgoing({ state: 'pending' }))) {
      if (o.id !== exceptOutgoingId) holders.push({ label: `pending request '${o.name}'`, prefix: o.prefix });
    }
    checkPrefix(prefix, {
      holders,
      plan: {
        extensionDigits: this.deps.config.instance.extensionDigits,
        unfederated: await this.deps.policy.unfederatedSet(),
      },
      partnerExtensionLength,
    });
  }

  /** Whether a peer or a request (either direction, any state) still names this partner. */
  refersToPartner(serverName: string, tx?: StoreTx): Promise<boolean> {
    return this.deps.peerings.refersToPartner(serverName, tx);
  }

  /** The partner a request id belongs to, wherever it is recorded. */
  async partnerOfRequest(requestId: string): Promise<string | null> {
    return (await this.ownerOfRequest(requestId)).partner;
  }

  /**
   * The partner a request id belongs to (peer first, then our outgoing
   * request, then an incoming one), and whether a peer holds it: the caller
   * of a signed request about a peering hands this on, so the answer does not
   * look the peer up a second time.
   */
  async ownerOfRequest(requestId: string): Promise<RequestOwner> {
    const { peerings } = this.deps;
    const peerPartner = await peerings.peerPartnerOfRequest(requestId);
    if (peerPartner !== undefined) return { partner: peerPartner, heldByPeer: true };
    const out = await peerings.findOutgoing(requestId);
    if (out) return { partner: out.partnerServerName, heldByPeer: false };
    const inc = await peerings.findIncoming({ requestId });
    return { partner: inc ? inc.partnerServerName : null, heldByPeer: false };
  }

  /** The partner a peer (by name) belongs to: the expected signer of its teardown. */
  async partnerOfPeer(name: string): Promise<string | null> {
    return (await this.deps.peerings.findPeer({ name }))?.partnerServerName ?? null;
  }

  /**
   * Whether the partner's v2 peer is active (it may read our phonebook). A
   * peer marked partner_missing is one the partner itself said it forgot.
   */
  async isActiveV2Partner(serverName: string): Promise<boolean> {
    const peer = await this.deps.peerings.findPeer({ partnerServerName: serverName, dialect: 'v2' });
    return peer?.state === 'active';
  }

  newPeer(p: Omit<Peer, 'id' | FreshPeerField>): Peer {
    return { id: uuid(), ...p, ...freshPeerState(this.deps.clock.now()) };
  }
}

export type { IncomingRequest, OutgoingRequest, Peer };
