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
