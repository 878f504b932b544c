import { Table, type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * The audit trail (issue 18): one row per admin action, newest found by the
 * increasing `seq`. Table API only, so the one migration serves SQLite and
 * MariaDB/MySQL; on MariaDB the table inherits the database's utf8mb4 set by
 * 0006 (the start-up charset check covers it like every other table).
 */
export class AuditTrail1763800001000 implements MigrationInterface {
  name = 'AuditTrail1763800001000';

  async up(q: QueryRunner): Promise<void> {
    const str = (name: string, length: number, isNullable = false) => ({
      name,
      type: 'varchar',
      length: String(length),
      isNullable,
    });
    await q.createTable(
      new Table({
        name: 'audit_events',
        columns: [
          {
            name: 'seq',
            type: 'integer',
            isPrimary: true,
            isGenerated: true,
            generationStrategy: 'increment',
          },
          { name: 'at', type: 'bigint', isNullable: false },
          str('actorKind', 8),
          str('actor', 64),
          str('via', 8),
          str('action', 64),
          str('target', 255, true),
          str('outcome', 8),
          str('errorCode', 64, true),
        ],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('audit_events', true);
  }
}
