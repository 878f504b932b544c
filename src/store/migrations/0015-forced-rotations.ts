import { TableColumn, type MigrationInterface, type QueryRunner } from 'typeorm';
import { intColumn, msColumn } from './columns';

/**
 * Forced trunk secret rotations (issue 15): on a peer on epochs, the epochs
 * added by forced rotations already settled (0 for every existing peering) and
 * the moment of the last one agreed with the partner (NULL: none). Both
 * written by src/federation. Table API only (SQLite and MariaDB/MySQL).
 */
export class ForcedRotations1763800001500 implements MigrationInterface {
  name = 'ForcedRotations1763800001500';

  async up(q: QueryRunner): Promise<void> {
    await q.addColumn('peers', new TableColumn(intColumn('secretEpochOffset', true, 0)));
    await q.addColumn('peers', new TableColumn(msColumn('secretShiftAt')));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropColumn('peers', 'secretShiftAt');
    await q.dropColumn('peers', 'secretEpochOffset');
  }
}
