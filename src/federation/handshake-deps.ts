import crypto from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { Config } from '../config/schema';
import type { AsteriskPort } from '../core/asterisk-port';
import type { Clock } from '../core/clock';
import { errorMessage } from '../core/errors';
import type { Logger } from '../logging/logger';
import type { Descriptor } from './descriptor';
import type { Outbox } from './outbox';
import type { PartnerTransport } from './partner-transport';
import type { PolicyStore } from './policy';
import type { PeeringStore } from './ports/peering-store';
import type { Partner } from './ports/partner-store';
import type { StoreTx, Transactions } from './ports/transactions';

/** The services both directions of the handshake work with (built in index.ts). */
/** What the handshake needs from our own keys. */
export interface OwnAgreementKeys {
  agreementKey(kid?: string): Promise<{ kid: string; privateKey: KeyObject; publicKey: string }>;
}

/** What the handshake needs from the partners' pinned keys. */
export interface PinnedPartnerKeys {
  /** The pinned partner (keys and the descriptor they came from), without any fetch. */
  get(serverName: string, tx?: StoreTx): Promise<Partner | null>;
  /** Pins (or merges) the partner's keys, in the transaction tx when given; true when the partner was new. */
  pin(descriptor: Descriptor, tx?: StoreTx): Promise<boolean>;
  /** Drops a partner's pinned keys. */
  forget(serverName: string, tx?: StoreTx): Promise<void>;
  /** Looks the kid up among pinned keys only (no network). */
  pinnedAgreementKey(serverName: string, kid: string, tx?: StoreTx): Promise<string | null>;
  agreementPublicKey(serverName: string, kid: string): Promise<string | null>;
  fingerprints(serverName: string): Promise<string[]>;
}

export type DescriptorLookup = { kind: 'found'; descriptor: Descriptor } | { kind: 'not_found' };
export type { Descriptor };

export interface HandshakeDeps {
  config: Config;
  peerings: PeeringStore;
  clock: Clock;
  logger: Logger;
  tx: Transactions;
  policy: PolicyStore;
  ownKeys: OwnAgreementKeys;
  partnerKeys: PinnedPartnerKeys;
  transport: PartnerTransport;
  outbox: Outbox;
  asterisk: AsteriskPort;
  fetchDescriptor(baseUrl: string): Promise<DescriptorLookup>;
  deriveSecret(p: {
    ownPrivateKey: KeyObject;
    partnerPublicKey: string;
    requestId: string;
    name: string;
  }): string;
}

export const uuid = (): string => crypto.randomUUID();

/** Asks the Asterisk layer to catch up without holding the caller (an HTTP answer) hostage. */
export function syncInBackground(deps: Pick<HandshakeDeps, 'asterisk' | 'logger'>, reason: string): void {
  deps.asterisk
    .syncPeers(reason)
    .catch((e) =>
      deps.logger.warn('asterisk sync failed', { component: 'federation', reason, error: errorMessage(e) }),
    );
}
