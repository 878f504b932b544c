import { TableIndex, type MigrationInterface, type QueryRunner } from 'typeorm';
import { createTable, intColumn, msColumn, seqColumn } from './columns';

/**
 * Call-quality samples per trunk (issue 14), written by the Asterisk layer's
 * call-quality monitor and pruned to 24 h. Table API only, so one migration
 * serves SQLite and MariaDB/MySQL. Figures are whole numbers as chan_iax2
 * prints them (ms; loss in per mille, chan_iax2 gives whole percent) and
 * nullable: null is "not reported" (no jitter buffer on that side, no PONG
 * yet), never a made-up 0.
 */
export class TrunkQualitySamples1763800001200 implements MigrationInterface {
  name = 'TrunkQualitySamples1763800001200';

  async up(q: QueryRunner): Promise<void> {
    await createTable(q, 'trunk_quality_samples', [
      seqColumn(),
      { name: 'peer', type: 'varchar', length: '40', isNullable: false },
      msColumn('at', true),
      { name: 'source', type: 'varchar', length: '8', isNullable: false },
      intColumn('calls', true),
      intColumn('rttMs'),
      intColumn('inJitterMs'),
      intColumn('inLossPermille'),
      intColumn('outJitterMs'),
      intColumn('outLossPermille'),
    ]);
    await q.createIndex(
      'trunk_quality_samples',
      new TableIndex({ name: 'idx_trunk_quality_peer_at', columnNames: ['peer', 'at'] }),
    );
    await q.createIndex(
      'trunk_quality_samples',
      new TableIndex({ name: 'idx_trunk_quality_at', columnNames: ['at'] }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('trunk_quality_samples', true);
  }
}
