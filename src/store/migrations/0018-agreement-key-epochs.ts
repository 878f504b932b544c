import { TableColumn, type MigrationInterface, type QueryRunner } from 'typeorm';
import { msColumn } from './columns';

/**
 * Agreement key rotation into trunk secret epochs (issue 15): on a v2 peer,
 * the agreement key ids (ours, the partner's) its root derives from, and a
 * root for a coming period boundary with its keys (`nextSecret` sealed like
 * `secret`, varchar(255); `nextSecretFrom` the boundary, ms). All NULL until
 * the protocol core's key-epochs job sets them. Written by src/federation
 * only. Table API only (SQLite and MariaDB/MySQL).
 */
const kid = (name: string): TableColumn =>
  new TableColumn({ name, type: 'varchar', length: '64', isNullable: true });

/** The columns this migration adds to `peers`, in the order it adds them. */
const added = (): TableColumn[] => [
  kid('agreementKid'),
  kid('partnerAgreementKid'),
  new TableColumn({ name: 'nextSecret', type: 'varchar', length: '255', isNullable: true }),
  new TableColumn(msColumn('nextSecretFrom')),
  kid('nextAgreementKid'),
  kid('nextPartnerAgreementKid'),
];

export class AgreementKeyEpochs1763800001800 implements MigrationInterface {
  name = 'AgreementKeyEpochs1763800001800';

  async up(q: QueryRunner): Promise<void> {
    await q.addColumns('peers', added());
  }

  async down(q: QueryRunner): Promise<void> {
    for (const c of added().reverse()) await q.dropColumn('peers', c.name);
  }
}
