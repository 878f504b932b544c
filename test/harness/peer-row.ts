import crypto from 'node:crypto';
import { freshPeerState } from '../../src/core/records';
import type { Peer } from '../../src/store/entities';

/** What a test or benchmark must say about a peer; everything else gets the values an accept starts with. */
export type PeerRowInput = Pick<
  Peer,
  | 'name'
  | 'prefix'
  | 'partnerUrl'
  | 'partnerIaxHost'
  | 'partnerIaxPort'
  | 'codec'
  | 'secret'
  | 'dialect'
  | 'role'
> &
  Partial<Peer>;

/** A complete Peer row as the federation layer writes it on accept: pending apply, nothing monitored yet. */
export function newPeerRow(input: PeerRowInput, now: number = Date.now()): Peer {
  return {
    id: crypto.randomUUID(),
    partnerServerName: null,
    partnerExtensionLength: 4,
    secretEpochSeconds: null,
    requestId: crypto.randomUUID(),
    partnerKeyFingerprint: null,
    ...freshPeerState(now),
    ...input,
  };
}

/** A v2 requester's peer row with example partner and trunk values, for a test that cares about its name and prefix (and `extra`). */
export function examplePeerRow(
  name: string,
  prefix: string,
  extra: Partial<Peer> = {},
  now: number = Date.now(),
): Peer {
  return newPeerRow(
    {
      name,
      prefix,
      partnerUrl: 'http://fed-b.example.org',
      partnerIaxHost: '192.0.2.7',
      partnerIaxPort: 4569,
      codec: 'ulaw',
      secret: 'a trunk secret',
      dialect: 'v2',
      role: 'requester',
      ...extra,
    },
    now,
  );
}
