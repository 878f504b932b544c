import type { DataSource } from 'typeorm';
import type { Clock } from '../../core/clock';
import { atRestKeyOf } from '../secrets-at-rest';
import { TypeormLocalKeyStore } from './local-key-store';
import { TypeormNonceStore } from './nonce-store';
import { TypeormOutboxStore } from './outbox-store';
import { TypeormPartnerHealthStore } from './partner-health-store';
import { TypeormPartnerStore } from './partner-store';
import { TypeormPeeringStore } from './peering-store';
import { TypeormSettingStore } from './setting-store';
import { TypeormTransactions } from './transactions';

export {
  TypeormLocalKeyStore,
  TypeormNonceStore,
  TypeormOutboxStore,
  TypeormPartnerHealthStore,
  TypeormPartnerStore,
  TypeormPeeringStore,
  TypeormSettingStore,
  TypeormTransactions,
};

/**
 * The protocol core's stores on one TypeORM data source (SQLite or MariaDB).
 * Shaped like src/federation/ports' FederationStores; the composition that
 * hands them to the core checks that.
 */
export function typeormFederationStores(db: DataSource, clock: Clock) {
  return {
    transactions: new TypeormTransactions(db),
    peerings: new TypeormPeeringStore(db),
    outbox: new TypeormOutboxStore(db),
    nonces: new TypeormNonceStore(db, clock),
    partners: new TypeormPartnerStore(db),
    partnerHealth: new TypeormPartnerHealthStore(db),
    localKeys: new TypeormLocalKeyStore(db),
    settings: new TypeormSettingStore(db),
    keyEncryptionSecret: (): string => atRestKeyOf(db).secret,
  };
}
