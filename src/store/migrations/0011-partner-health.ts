import { type MigrationInterface, type QueryRunner } from 'typeorm';
import { createTable, intColumn, msColumn } from './columns';

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
    await createTable(q, 'partner_health', [
      { name: 'serverName', type: 'varchar', length: '255', isPrimary: true },
      intColumn('consecutiveFailures', true, 0),
      msColumn('failingSince'),
      msColumn('nextAttemptAt'),
      msColumn('lastSuccessAt'),
      msColumn('lastFailureAt'),
      { name: 'lastError', type: 'text', isNullable: true },
      intColumn('failureDays', true, 0),
      intColumn('lastFailureDay'),
      msColumn('suspendedAt'),
      { name: 'suspendedReason', type: 'text', isNullable: true },
      msColumn('lastInboundAt'),
      msColumn('queuePausedAt'),
      msColumn('updatedAt', true),
    ]);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('partner_health', true);
  }
}
