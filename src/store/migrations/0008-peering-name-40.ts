import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Peering names up to 40 characters (was 32): stock µURU accepts names of up
 * to 40 Unicode word characters (Asterisk's iaxfriends.name is varchar(40)),
 * and a v1 partner's name is stored as it comes. MariaDB/MySQL only: SQLite
 * does not enforce a varchar length. Runs after the utf8mb4 conversion (0006),
 * so the widened columns keep the table's utf8mb4 character set.
 */
const isMysqlFamily = (q: QueryRunner): boolean =>
  q.connection.options.type === 'mariadb' || q.connection.options.type === 'mysql';

export class PeeringName401763800000800 implements MigrationInterface {
  name = 'PeeringName401763800000800';

  async up(q: QueryRunner): Promise<void> {
    if (!isMysqlFamily(q)) return;
    for (const table of ['peers', 'outgoing_requests', 'incoming_requests']) {
      await q.query(`ALTER TABLE \`${table}\` MODIFY \`name\` varchar(40) NOT NULL`);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    if (!isMysqlFamily(q)) return;
    for (const table of ['peers', 'outgoing_requests', 'incoming_requests']) {
      await q.query(`ALTER TABLE \`${table}\` MODIFY \`name\` varchar(32) NOT NULL`);
    }
  }
}
