import crypto from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { DataSource, EntityManager } from 'typeorm';
import type { Config } from '../config/schema';
import type { AsteriskPort } from '../core/asterisk-port';
import type { Clock } from '../core/clock';
import { AppError, errorMessage } from '../core/errors';
import type { Logger } from '../logging/logger';
import type { Descriptor } from './descriptor';
import {
  IncomingRequestEntity,
  OutgoingRequestEntity,
  PeerEntity,
  type IncomingRequest,
  type OutgoingRequest,
  type Peer,
} from '../store/entities';
import { checkPrefix, type PrefixHolder } from './numbering-plan';
import type { Outbox } from './outbox';
import type { PartnerTransport } from './partner-transport';
import type { PolicyStore } from './policy';
import type { SerialTransactions } from './serial-transactions';

/** What the handshake needs from our own keys. */
export interface OwnAgreementKeys {
  agreementKey(kid?: string): Promise<{ kid: string; privateKey: KeyObject; publicKey: string }>;
}

/** What the handshake needs from the partners' pinned keys. */
export interface PinnedPartnerKeys {
  /** Pins (or merges) the partner's keys, in the transaction of m when given; true when the partner was new. */
  pin(descriptor: Descriptor, m?: EntityManager): Promise<boolean>;
  /** Drops a partner's pinned keys. */
  forget(serverName: string, m?: EntityManager): Promise<void>;
  /** Looks the kid up among pinned keys only (no network). */
  pinnedAgreementKey(serverName: string, kid: string, m?: EntityManager): Promise<string | null>;
  agreementPublicKey(serverName: string, kid: string): Promise<string | null>;
  fingerprints(serverName: string): Promise<string[]>;
}

export type DescriptorLookup = { kind: 'found'; descriptor: Descriptor } | { kind: 'not_found' };
export type { Descriptor };

export interface HandshakeDeps {
  config: Config;
  db: DataSource;
  clock: Clock;
  logger: Logger;
  tx: SerialTransactions;
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

const V1_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** A µURU-style shared secret: 32 characters of [A-Za-z0-9], uniformly drawn. */
export function randomV1Secret(): string {
  let out = '';
  while (out.length < 32) {
    for (const b of crypto.randomBytes(48)) {
      // 248 = 4 * 62: rejecting larger bytes keeps every character equally likely.
      if (b < 248 && out.length < 32) out += V1_ALPHABET[b % 62];
    }
  }
  return out;
}

/** Constant-time comparison of secrets of possibly different length. */
export function secretsEqual(a: string, b: string): boolean {
  const ha = crypto.createHash('sha256').update(a, 'utf8').digest();
  const hb = crypto.createHash('sha256').update(b, 'utf8').digest();
  return crypto.timingSafeEqual(ha, hb) && a.length === b.length;
}

/** Reads and checks the peering tables; shared by both directions of the handshake. */
export class PeeringRecords {
  constructor(private readonly deps: Pick<HandshakeDeps, 'db' | 'config' | 'policy' | 'clock'>) {}

  peers(m?: EntityManager) {
    return (m ?? this.deps.db.manager).getRepository(PeerEntity);
  }
  outgoing(m?: EntityManager) {
    return (m ?? this.deps.db.manager).getRepository(OutgoingRequestEntity);
  }
  incoming(m?: EntityManager) {
    return (m ?? this.deps.db.manager).getRepository(IncomingRequestEntity);
  }

  /**
   * Refuses a name or partner already in use: by a peer, a pending request in
   * either direction. `except` skips the record being turned into a peer.
   */
  async checkFree(
    p: { name: string; serverName: string },
    except: { incomingId?: string; outgoingId?: string } = {},
  ): Promise<void> {
    const server = p.serverName.toLowerCase();
    const peers = await this.peers().find();
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
        rows: await this.outgoing().findBy({ state: 'pending' }),
        skip: except.outgoingId,
        way: 'outgoing',
        to: 'to',
      },
      {
        rows: await this.incoming().findBy({ state: 'pending' }),
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
  ): Promise<void> {
    const holders: PrefixHolder[] = [];
    for (const peer of await this.peers().find())
      holders.push({ label: `peer '${peer.name}'`, prefix: peer.prefix });
    for (const o of await this.outgoing().findBy({ state: 'pending' })) {
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
  async refersToPartner(serverName: string, m?: EntityManager): Promise<boolean> {
    const where = { partnerServerName: serverName.toLowerCase() };
    return (
      (await this.peers(m).existsBy(where)) ||
      (await this.outgoing(m).existsBy(where)) ||
      (await this.incoming(m).existsBy(where))
    );
  }

  /** The partner a request id belongs to, wherever it is recorded. */
  async partnerOfRequest(requestId: string): Promise<string | null> {
    const peer = await this.peers().findOneBy({ requestId });
    if (peer) return peer.partnerServerName;
    const out = await this.outgoing().findOneBy({ id: requestId });
    if (out) return out.partnerServerName;
    const inc = await this.incoming().findOneBy({ requestId });
    return inc ? inc.partnerServerName : null;
  }

  /** The partner a peer (by name) belongs to: the expected signer of its teardown. */
  async partnerOfPeer(name: string): Promise<string | null> {
    return (await this.peers().findOneBy({ name }))?.partnerServerName ?? null;
  }

  /**
   * Whether the partner's v2 peer is active (it may read our phonebook). A
   * peer marked partner_missing is one the partner itself said it forgot.
   */
  async isActiveV2Partner(serverName: string): Promise<boolean> {
    const peer = await this.peers().findOneBy({ partnerServerName: serverName, dialect: 'v2' });
    return peer?.state === 'active';
  }

  newPeer(
    p: Omit<
      Peer,
      | 'id'
      | 'state'
      | 'applyState'
      | 'applyError'
      | 'appliedAt'
      | 'reachability'
      | 'latencyMs'
      | 'lastSeen'
      | 'linkError'
      | 'linkErrorAt'
      | 'partnerError'
      | 'partnerErrorAt'
      | 'lastTestCall'
      | 'createdAt'
      | 'updatedAt'
    >,
  ): Peer {
    const now = this.deps.clock.now();
    return {
      id: uuid(),
      ...p,
      state: 'active',
      applyState: 'pending',
      applyError: null,
      appliedAt: null,
      reachability: 'unknown',
      latencyMs: null,
      lastSeen: null,
      linkError: null,
      linkErrorAt: null,
      partnerError: null,
      partnerErrorAt: null,
      lastTestCall: null,
      createdAt: now,
      updatedAt: now,
    };
  }
}

/** Asks the Asterisk layer to catch up without holding the caller (an HTTP answer) hostage. */
export function syncInBackground(deps: Pick<HandshakeDeps, 'asterisk' | 'logger'>, reason: string): void {
  deps.asterisk
    .syncPeers(reason)
    .catch((e) =>
      deps.logger.warn('asterisk sync failed', { component: 'federation', reason, error: errorMessage(e) }),
    );
}

export type { IncomingRequest, OutgoingRequest, Peer };
