import { newPeerRow } from '../../harness/peer-row';
import type {
  IncomingRequest,
  LocalKey,
  OutboxItem,
  OutgoingRequest,
  Partner,
  Peer,
} from '../../../src/store/entities';

/** Text latin1 cannot hold: CJK, a 4-byte emoji, a latin1 letter and a combining mark. */
export const WIDE_TEXT = '日本語 😀 Müller e\u0301';

let n = 0;
const next = () => (++n).toString(36).padStart(4, '0');

/** A peer as the protocol writes it on accept (test/harness/peer-row.ts), with unique keys. */
export function peerRow(p: Partial<Peer> = {}): Peer {
  const k = next();
  return newPeerRow(
    {
      id: `peer-${k}`,
      name: `peer${k}`,
      prefix: `9${n}`,
      partnerUrl: `https://p${k}.example.org`,
      partnerServerName: `p${k}.example.org`,
      partnerIaxHost: '192.0.2.1',
      partnerIaxPort: 4569,
      codec: 'ulaw',
      secret: `secret-${k}`,
      dialect: 'v2',
      requestId: `req-${k}`,
      role: 'requester',
      ...p,
    },
    p.createdAt ?? 1_000_000 + n,
  );
}

export function outgoingRow(p: Partial<OutgoingRequest> = {}): OutgoingRequest {
  const k = next();
  return {
    id: `out-${k}`,
    name: `out${k}`,
    partnerUrl: `https://o${k}.example.org`,
    partnerServerName: `o${k}.example.org`,
    prefix: `8${n}`,
    codec: 'ulaw',
    dialect: 'v2',
    secret: null,
    agreementKid: 'x1',
    state: 'pending',
    declineReason: null,
    lastError: null,
    createdAt: 1_000_000 + n,
    updatedAt: 1_000_000 + n,
    ...p,
  };
}

export function incomingRow(p: Partial<IncomingRequest> = {}): IncomingRequest {
  const k = next();
  return {
    id: `in-${k}`,
    requestId: `their-${k}`,
    name: `in${k}`,
    partnerUrl: `https://i${k}.example.org`,
    partnerServerName: `i${k}.example.org`,
    partnerIaxHost: '192.0.2.2',
    partnerIaxPort: 4569,
    partnerExtensionLength: 4,
    codec: 'ulaw',
    dialect: 'v2',
    secret: null,
    partnerAgreementKid: 'x1',
    secretEpochSeconds: null,
    state: 'pending',
    createdAt: 1_000_000 + n,
    updatedAt: 1_000_000 + n,
    ...p,
  };
}

export function outboxRow(p: Partial<OutboxItem> = {}): OutboxItem {
  const k = next();
  return {
    id: `ob-${k}`,
    kind: 'accept',
    dialect: 'v2',
    peerName: null,
    requestId: `req-${k}`,
    method: 'POST',
    url: `https://o${k}.example.org/peerings`,
    body: { n: k },
    state: 'pending',
    attempts: 0,
    nextAttemptAt: 0,
    expiresAt: 9_000_000_000_000,
    lastError: null,
    createdAt: 1_000_000 + n,
    updatedAt: 1_000_000 + n,
    ...p,
  };
}

export function partnerRow(p: Partial<Partner> = {}): Partner {
  const k = next();
  return {
    serverName: `q${k}.example.org`,
    baseUrl: `https://q${k}.example.org`,
    signingKeys: [{ kid: 'k1', alg: 'ed25519', publicKey: 'AAAA', status: 'active' }],
    heldKeys: null,
    agreementKeys: [{ kid: 'x1', alg: 'x25519', publicKey: 'BBBB' }],
    descriptor: null,
    fetchedAt: null,
    fetchFailures: 0,
    nextFetchAt: null,
    createdAt: 1_000_000 + n,
    updatedAt: 1_000_000 + n,
    ...p,
  };
}

export function localKeyRow(p: Partial<LocalKey> = {}): LocalKey {
  const k = next();
  return {
    kid: `k${k}`,
    alg: 'ed25519',
    publicKey: `pub-${k}`,
    privateKey: `enc1$${k}`,
    status: 'active',
    notBefore: 1_000_000 + n,
    expiresAt: 2_000_000 + n,
    endorsement: null,
    createdAt: 1_000_000 + n,
    ...p,
  };
}
