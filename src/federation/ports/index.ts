/**
 * The store interfaces (ports) of the protocol core: what it needs from the
 * database, named by that need. Implementations: src/store/typeorm (SQLite,
 * MariaDB) and test/store/memory (unit tests); all pass the one contract
 * suite test/store/contract.
 */
import type { LocalKeyStore } from './local-key-store';
import type { NonceStore } from '../nonce-store';
import type { OutboxClaims, OutboxStore } from './outbox-store';
import type { PartnerHealthStore } from './partner-health-store';
import type { PartnerStore } from './partner-store';
import type { PeeringStore } from './peering-store';
import type { SettingStore } from './setting-store';
import type { Transactions } from './transactions';

export type {
  LocalKeyStore,
  NonceStore,
  OutboxClaims,
  OutboxStore,
  PartnerHealthStore,
  PartnerStore,
  PeeringStore,
  SettingStore,
  Transactions,
};
export type { StoreTx } from './transactions';
export type { OpenSideDatabase, SideDatabase, SideDatabaseConnection } from './side-database';

/** Every store the protocol core works on, built by the composition. */
export interface FederationStores {
  transactions: Transactions;
  peerings: PeeringStore;
  outbox: OutboxStore;
  nonces: NonceStore;
  partners: PartnerStore;
  partnerHealth: PartnerHealthStore;
  localKeys: LocalKeyStore;
  settings: SettingStore;
  /** The store's key-encryption secret (sealing our private keys at rest). */
  keyEncryptionSecret(): string;
}
