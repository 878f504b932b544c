import {
  adminOk,
  incomingByName,
  peerByName,
  type PeerViewJson,
  type Sidecar,
} from '../test/harness/sidecar';
import { waitUntil } from '../test/harness/wait';

export interface Peering {
  name: string;
  requestId: string;
  /** The peer on the acceptor, as the accept returned it. */
  acceptorPeerId: string;
  /** Milliseconds the accept call took on the acceptor's admin API. */
  acceptMs: number;
  /** performance.now() when the accept call was sent. */
  acceptSentAt: number;
}

/** Through the admin API only: `from` asks `to` to peer, `to` accepts. Resolves once the accept returned. */
export async function requestAndAccept(
  from: Sidecar,
  to: Sidecar,
  name: string,
  prefixes: { requester: string; acceptor: string },
  codec = 'ulaw',
): Promise<Peering> {
  const created = await adminOk<{ id: string }>(
    from,
    'POST',
    '/federation/outgoing-requests',
    { name, partner_url: to.federationUrl, prefix: prefixes.requester, codec },
    201,
  );
  const incoming = await waitUntil(() => incomingByName(to, name), {
    what: `incoming request ${name} on ${to.name}`,
    timeoutMs: 30_000,
    intervalMs: 20,
  });
  const acceptSentAt = performance.now();
  const peer = await adminOk<{ id: string }>(
    to,
    'POST',
    `/federation/incoming-requests/${incoming.id}/accept`,
    { prefix: prefixes.acceptor },
    200,
  );
  return {
    name,
    requestId: created.id,
    acceptorPeerId: peer.id,
    acceptMs: performance.now() - acceptSentAt,
    acceptSentAt,
  };
}

/** Waits until `on` holds the peer (the accept notification arrived). */
export function waitForPeer(
  on: Sidecar,
  name: string,
  timeoutMs = 30_000,
  intervalMs = 20,
): Promise<PeerViewJson> {
  return waitUntil(() => peerByName(on, name), {
    what: `peer ${name} on ${on.name}`,
    timeoutMs: timeoutMs,
    intervalMs: intervalMs,
  });
}

/** Tears the peer down from `on` and waits until both sides forgot it. */
export async function teardown(on: Sidecar, other: Sidecar, name: string): Promise<void> {
  const peer = await peerByName(on, name);
  if (peer) await adminOk(on, 'DELETE', `/federation/peers/${peer.id}`, undefined, 204);
  await waitUntil(async () => (await peerByName(other, name)) === undefined, {
    what: `${other.name} forgot ${name}`,
    timeoutMs: 30_000,
    intervalMs: 50,
  });
}
