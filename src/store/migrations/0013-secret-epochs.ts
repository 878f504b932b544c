import { TableColumn, type MigrationInterface, type QueryRunner } from 'typeorm';
import { intColumn } from './columns';

/**
 * Trunk secret epochs (issue 15): the epoch length a v2 peering agreed in its
 * handshake, on the peer and on a pending incoming request (the requester's
 * proposal, echoed in the accept). NULL: a fixed secret, as every peering made
 * before this migration keeps. Both written by src/federation. Table API only
 * (SQLite and MariaDB/MySQL).
 */
const column = (): TableColumn => new TableColumn(intColumn('secretEpochSeconds'));

export class SecretEpochs1763800001300 implements MigrationInterface {
  name = 'SecretEpochs1763800001300';

  async up(q: QueryRunner): Promise<void> {
    await q.addColumn('peers', column());
    await q.addColumn('incoming_requests', column());
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropColumn('incoming_requests', 'secretEpochSeconds');
    await q.dropColumn('peers', 'secretEpochSeconds');
  }
}
