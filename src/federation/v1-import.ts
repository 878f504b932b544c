import type { Clock } from '../core/clock';
import { freshIncomingState, freshOutgoingState, freshPeerState, type PartnerTrunk } from '../core/records';
import type { IncomingRequest, OutgoingRequest, Peer, PeeringStore } from './ports/peering-store';
import type { Transactions } from './ports/transactions';

/**
 * Importing v1 peerings and pending requests that another v1 implementation
 * made (a stock µURU's, brought over by `uuru-fed adopt`), and forgetting
 * them again: the protocol core's operation, so `peers`,
 * `outgoing_requests` and `incoming_requests` keep one writer. The caller
 * decides what to import (src/adopt plans it); this shapes the records as
 * the v1 handshake would have left them and writes them in one transaction.
 */

/** What every imported v1 record states: the peering's name, the partner's address, the codec and the v1 secret. */
export interface V1PartnerFacts {
  name: string;
  partnerUrl: string;
  codec: string;
  secret: string;
}

/** On a v1 peering and on a request the partner sent, also the partner's end of the trunk. */
export interface V1TrunkFacts extends V1PartnerFacts {
  partnerIaxHost: string;
  partnerIaxPort: number;
  partnerExtensionLength: number;
}

/** A v1 peering as both sides know it (µURU's peer row). */
export interface V1PeeringFacts extends V1TrunkFacts {
  /** Kept as the peer's id and request id (v1 has no shared peer id; a second import finds it). */
  id: string;
  prefix: string;
}

/** A v1 request we sent and the partner has not answered. */
export interface V1OutgoingFacts extends V1PartnerFacts {
  /** The request id the partner holds too. */
  id: string;
  prefix: string;
}

/** A v1 request the partner sent that our admin has not decided. */
export interface V1IncomingFacts extends V1TrunkFacts {
  /** The partner's request id. */
  requestId: string;
}

export interface V1Records {
  peers: V1PeeringFacts[];
  outgoing: V1OutgoingFacts[];
  incoming: V1IncomingFacts[];
}

/** Which imported records to forget: peers and outgoing requests by id, incoming ones by the partner's request id. */
export interface V1Forget {
  peerIds: string[];
  outgoingIds: string[];
  incomingRequestIds: string[];
}

const trimBase = (url: string): string => url.replace(/\/+$/, '');
/** v1 partners are known by their web address: its authority is the partner's server name. */
const serverNameOf = (url: string): string => new URL(trimBase(url)).host.toLowerCase();

export class V1PeeringImport {
  constructor(
    private readonly stores: { peerings: PeeringStore; transactions: Transactions },
    private readonly clock: Clock,
  ) {}

  /** Writes every record in one transaction (all or nothing). */
  async importAll(input: V1Records): Promise<void> {
    const now = this.clock.now();
    const { peerings, transactions } = this.stores;
    await transactions.run(async (tx) => {
      for (const p of input.peers) await peerings.insertPeer(v1Peer(p, now), tx);
      for (const o of input.outgoing) await peerings.insertOutgoing(v1Outgoing(o, now), tx);
      for (const i of input.incoming) await peerings.insertIncoming(v1Incoming(i, now), tx);
    });
  }

  /**
   * Deletes imported v1 records in one transaction (a record of the other
   * dialect is never touched); returns the names of those deleted.
   */
  async forget(which: V1Forget): Promise<{ peers: string[]; requests: string[] }> {
    const { peerings, transactions } = this.stores;
    const out = { peers: [] as string[], requests: [] as string[] };
    await transactions.run(async (tx) => {
      for (const id of which.peerIds) {
        const p = await peerings.findPeer({ id }, tx);
        if (p?.dialect === 'v1' && (await peerings.deletePeer(p.id, tx))) out.peers.push(p.name);
      }
      const outgoing = await peerings.listOutgoing({}, tx);
      for (const id of which.outgoingIds) {
        const o = outgoing.find((x) => x.id === id && x.dialect === 'v1');
        if (o && (await peerings.deleteOutgoing(o.id, {}, tx))) out.requests.push(o.name);
      }
      const incoming = await peerings.listIncoming({}, tx);
      for (const requestId of which.incomingRequestIds) {
        const i = incoming.find((x) => x.requestId === requestId && x.dialect === 'v1');
        if (i && (await peerings.deleteIncoming(i.id, {}, tx))) out.requests.push(i.name);
      }
    });
    return out;
  }
}

/** What every imported v1 record keeps: the peering's name, the partner's address, the codec and the v1 secret. */
function v1Partner(f: V1PartnerFacts) {
  const partnerUrl = trimBase(f.partnerUrl);
  return {
    name: f.name,
    partnerUrl,
    partnerServerName: serverNameOf(partnerUrl),
    codec: f.codec,
    dialect: 'v1' as const,
    secret: f.secret,
  };
}

/**
 * On an imported peer and incoming request alike: also the partner's end of
 * the trunk; the v1 secret is sent as it is (no epochs).
 */
function v1Trunk(
  f: V1TrunkFacts,
): PartnerTrunk & Pick<Peer, 'name' | 'secret' | 'secretEpochSeconds'> & { dialect: 'v1' } {
  return {
    ...v1Partner(f),
    partnerIaxHost: f.partnerIaxHost,
    partnerIaxPort: f.partnerIaxPort,
    partnerExtensionLength: f.partnerExtensionLength,
    secretEpochSeconds: null,
  };
}

function v1Peer(p: V1PeeringFacts, now: number): Peer {
  return {
    id: p.id,
    prefix: p.prefix,
    ...v1Trunk(p),
    requestId: p.id,
    // v1 keeps no record of which side asked; its teardown matches on name and secret either way.
    role: 'acceptor',
    partnerKeyFingerprint: null,
    ...freshPeerState(now),
  };
}

function v1Outgoing(o: V1OutgoingFacts, now: number): OutgoingRequest {
  return {
    id: o.id,
    ...v1Partner(o),
    prefix: o.prefix,
    agreementKid: null,
    ...freshOutgoingState(now),
  };
}

function v1Incoming(i: V1IncomingFacts, now: number): IncomingRequest {
  return {
    id: i.requestId,
    requestId: i.requestId,
    ...v1Trunk(i),
    partnerAgreementKid: null,
    ...freshIncomingState(now),
  };
}
