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

  /**
   * Narrows a table back to 32 only while every name in it fits: narrowing
   * would otherwise cut stored peering names (MariaDB refuses it in strict mode
   * and truncates them otherwise). A wider column is harmless to older code.
   */
  async down(q: QueryRunner): Promise<void> {
    if (!isMysqlFamily(q)) return;
    for (const table of ['peers', 'outgoing_requests', 'incoming_requests']) {
      const rows = (await q.query(
        `SELECT COUNT(*) AS n FROM \`${table}\` WHERE CHAR_LENGTH(\`name\`) > 32`,
      )) as { n: number | string }[];
      if (Number(rows[0]?.n ?? 0) > 0) continue;
      await q.query(`ALTER TABLE \`${table}\` MODIFY \`name\` varchar(32) NOT NULL`);
    }
  }
}
