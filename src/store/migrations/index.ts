import { Initial1763800000001 } from './0001-initial';
import { AsteriskRealtimeRows1763800000300 } from './0003-asterisk-realtime-rows';
import { EncryptSecrets1763800000500 } from './0005-encrypt-secrets';
import { Utf8mb41763800000600 } from './0006-utf8mb4';
import { PeeringName401763800000800 } from './0008-peering-name-40';
import { PeerErrorOwners1763800000900 } from './0009-peer-error-owners';
import { AuditTrail1763800001000 } from './0010-audit-trail';
import { PartnerHealth1763800001100 } from './0011-partner-health';
import { TrunkQualitySamples1763800001200 } from './0012-trunk-quality-samples';
import { SecretEpochs1763800001300 } from './0013-secret-epochs';
import { V1Upgrade1763800001400 } from './0014-v1-upgrade';
import { ForcedRotations1763800001500 } from './0015-forced-rotations';
import { HaSharedState1763800001600 } from './0016-ha-shared-state';
import { ReplicasAndNodeStates1763800001700 } from './0017-replicas-and-node-states';
import { AgreementKeyEpochs1763800001800 } from './0018-agreement-key-epochs';

/** Every migration, in order. Add new ones at the end; never edit a landed one. */
export const MIGRATIONS = [
  Initial1763800000001,
  AsteriskRealtimeRows1763800000300,
  EncryptSecrets1763800000500,
  Utf8mb41763800000600,
  PeeringName401763800000800,
  PeerErrorOwners1763800000900,
  AuditTrail1763800001000,
  PartnerHealth1763800001100,
  TrunkQualitySamples1763800001200,
  SecretEpochs1763800001300,
  V1Upgrade1763800001400,
  ForcedRotations1763800001500,
  HaSharedState1763800001600,
  ReplicasAndNodeStates1763800001700,
  AgreementKeyEpochs1763800001800,
];
