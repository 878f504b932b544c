/**
 * How two instances see one peering, read straight from each sidecar's
 * database, and whether the two views agree: the same peer on both sides
 * (same request id, same derived secret, both active), the same pending or
 * declined request, or nothing on either side.
 */
import { clearSecret, type Sidecar } from './sidecar';

/** One instance's records of the peering with a given name. */
export interface PeeringSide {
  peer: { requestId: string; secret: string; state: string; dialect: string } | undefined;
  outgoing: { id: string; state: string } | undefined;
  incoming: { id: string; requestId: string; state: string } | undefined;
  /** Notifications of any peering still waiting in this instance's outbox. */
  pendingOutbox: number;
}

export async function peeringSide(s: Sidecar, name: string): Promise<PeeringSide> {
  const [peer] = await s.query<NonNullable<PeeringSide['peer']>>(
    'SELECT requestId, secret, state, dialect FROM {db}.peers WHERE name = ?',
    [name],
  );
  const [outgoing] = await s.query<NonNullable<PeeringSide['outgoing']>>(
    'SELECT id, state FROM {db}.outgoing_requests WHERE name = ?',
    [name],
  );
  const [incoming] = await s.query<NonNullable<PeeringSide['incoming']>>(
    'SELECT id, requestId, state FROM {db}.incoming_requests WHERE name = ?',
    [name],
  );
  const [pending] = await s.query<{ n: number | string }>(
    "SELECT COUNT(*) AS n FROM {db}.outbox WHERE state = 'pending'",
  );
  return {
    peer: peer && { ...peer, secret: clearSecret(s, 'peers', peer.secret) },
    outgoing,
    incoming,
    pendingOutbox: Number(pending?.n ?? 0),
  };
}

export type PeeringAgreement = 'peered' | 'pending' | 'declined' | 'none';

/** The state requester and acceptor agree on, or how they disagree. A failed request with nothing on the other side counts as none. */
export function agreement(
  req: PeeringSide,
  acc: PeeringSide,
): { ok: true; state: PeeringAgreement } | { ok: false; why: string } {
  if (req.peer || acc.peer) {
    if (!req.peer || !acc.peer) return { ok: false, why: 'the peer exists on one side only' };
    if (req.peer.requestId !== acc.peer.requestId)
      return { ok: false, why: 'the peers name different requests' };
    if (req.peer.secret !== acc.peer.secret) return { ok: false, why: 'the peers hold different secrets' };
    if (req.peer.state !== 'active' || acc.peer.state !== 'active')
      return { ok: false, why: 'a peer is flagged partner_missing' };
    if (req.outgoing || req.incoming || acc.outgoing || acc.incoming)
      return { ok: false, why: 'a request is left beside the peer' };
    return { ok: true, state: 'peered' };
  }
  if (req.incoming || acc.outgoing) return { ok: false, why: 'a request exists in the wrong direction' };
  const out = req.outgoing;
  const inc = acc.incoming;
  if (out?.state === 'pending' && inc?.state === 'pending' && inc.requestId === out.id)
    return { ok: true, state: 'pending' };
  if (out?.state === 'declined' && inc?.state === 'declined' && inc.requestId === out.id)
    return { ok: true, state: 'declined' };
  if ((!out || out.state === 'failed') && !inc) return { ok: true, state: 'none' };
  return {
    ok: false,
    why: `requester has ${out ? `a ${out.state} request` : 'no request'}, acceptor has ${inc ? `a ${inc.state} request` : 'none'}`,
  };
}

/** The side with its secret shortened, for messages. */
export function redactSide(s: PeeringSide): PeeringSide {
  return { ...s, peer: s.peer ? { ...s.peer, secret: `${s.peer.secret.slice(0, 4)}…` } : undefined };
}
