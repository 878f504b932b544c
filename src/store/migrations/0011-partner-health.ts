import { Table, type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * Partner health (issue 14): one row per partner server name with what our
 * calls to it and its calls to us show (consecutive failures, failing since,
 * next attempt, last success, failure days, suspension, last verified inbound
 * request, a paused queue). Written only by the protocol core. Table API only,
 * so the one migration serves SQLite and MariaDB/MySQL.
 */
export class PartnerHealth1763800001100 implements MigrationInterface {
  name = 'PartnerHealth1763800001100';

  async up(q: QueryRunner): Promise<void> {
    const ms = (name: string) => ({ name, type: 'bigint', isNullable: true });
    await q.createTable(
      new Table({
        name: 'partner_health',
        columns: [
          { name: 'serverName', type: 'varchar', length: '255', isPrimary: true },
          { name: 'consecutiveFailures', type: 'integer', isNullable: false, default: 0 },
          ms('failingSince'),
          ms('nextAttemptAt'),
          ms('lastSuccessAt'),
          ms('lastFailureAt'),
          { name: 'lastError', type: 'text', isNullable: true },
          { name: 'failureDays', type: 'integer', isNullable: false, default: 0 },
          { name: 'lastFailureDay', type: 'integer', isNullable: true },
          ms('suspendedAt'),
          { name: 'suspendedReason', type: 'text', isNullable: true },
          ms('lastInboundAt'),
          ms('queuePausedAt'),
          { name: 'updatedAt', type: 'bigint', isNullable: false },
        ],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('partner_health', true);
  }
}
