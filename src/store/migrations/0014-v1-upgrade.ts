import { TableColumn, type MigrationInterface, type QueryRunner } from 'typeorm';
import { msColumn } from './columns';

/**
 * v1 → v2 upgrade (issue 15): while an upgraded peering switches from its v1
 * secret to the v2 one, the peer keeps the v1 secret (`previousSecret`,
 * sealed like `secret`, varchar(255)) and the agreed switch moment
 * (`secretSwitchAt`). Both NULL otherwise. Written by src/federation only.
 * Table API only (SQLite and MariaDB/MySQL).
 */
export class V1Upgrade1763800001400 implements MigrationInterface {
  name = 'V1Upgrade1763800001400';

  async up(q: QueryRunner): Promise<void> {
    await q.addColumn(
      'peers',
      new TableColumn({ name: 'previousSecret', type: 'varchar', length: '255', isNullable: true }),
    );
    await q.addColumn('peers', new TableColumn(msColumn('secretSwitchAt')));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropColumn('peers', 'secretSwitchAt');
    await q.dropColumn('peers', 'previousSecret');
  }
}
