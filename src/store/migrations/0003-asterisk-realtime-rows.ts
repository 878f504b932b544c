import { Table, type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * Rows the sidecar created in Asterisk's realtime tables (iaxfriends,
 * extensions). The realtime backend changes or deletes only rows listed here,
 * so a row an admin wrote by hand is never touched.
 */
export class AsteriskRealtimeRows1763800000300 implements MigrationInterface {
  name = 'AsteriskRealtimeRows1763800000300';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'asterisk_realtime_rows',
        columns: [
          { name: 'tableName', type: 'varchar', length: '32', isPrimary: true, isNullable: false },
          { name: 'rowKey', type: 'varchar', length: '160', isPrimary: true, isNullable: false },
          { name: 'createdAt', type: 'bigint', isNullable: false },
        ],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('asterisk_realtime_rows', true);
  }
}
