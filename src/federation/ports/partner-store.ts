import type { Partner, PartnerKey } from '../../core/records';
import type { StoreTx } from './transactions';

export type { Partner, PartnerKey };

export type PartnerSigningKeys = Pick<Partner, 'signingKeys' | 'heldKeys' | 'fetchFailures'>;

export type PartnerPatch = Partial<Omit<Partner, 'serverName' | 'createdAt'>>;

/** The partners table: pinned keys and descriptor cache, one row per server name (stored lower case). */
export interface PartnerStore {
  get(serverName: string, tx?: StoreTx): Promise<Partner | null>;
  /** Only what checking a signature needs (the keys and the fetch failures), without the descriptor. */
  signingKeysOf(serverName: string, tx?: StoreTx): Promise<PartnerSigningKeys | null>;
  /** Every partner's signing keys by its (lower-case) server name, in one read: for a pass over all peers. */
  allSigningKeys(): Promise<Map<string, Partner['signingKeys']>>;
  /** Rejects, writing nothing, when the partner exists already. */
  insert(partner: Partner, tx?: StoreTx): Promise<void>;
  update(serverName: string, patch: PartnerPatch, tx?: StoreTx): Promise<void>;
  delete(serverName: string, tx?: StoreTx): Promise<void>;
}
