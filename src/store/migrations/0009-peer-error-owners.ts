import { TableColumn, type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * peers.lastError had two writers: the Asterisk monitor (a sticky trunk
 * problem) and the protocol (the partner forgot the peering, our accept did
 * not reach it; cleared when fixed), so whichever wrote last won and a fix on
 * one side erased the other side's problem. It becomes two columns, each with
 * one writing layer: linkError/linkErrorAt (src/asterisk) and
 * partnerError/partnerErrorAt (src/federation).
 *
 * A stored value goes to whoever wrote it, told by its text: the protocol
 * only ever wrote the messages starting with PROTOCOL_PREFIXES (frozen copies
 * of src/federation's wording as of this migration); everything else came from
 * the monitor. The time of a migrated error is unknown and stays NULL
 * (updatedAt is touched by other writes, so it would be a guess).
 *
 * Table API and plain UPDATEs only, so the one migration serves SQLite and
 * MariaDB/MySQL (on SQLite TypeORM rebuilds the table to add or drop a column).
 */
const PROTOCOL_PREFIXES = ['the partner was not told of the accept', 'the partner reports this peering as'];

const NEW_COLUMNS = [
  new TableColumn({ name: 'linkError', type: 'text', isNullable: true }),
  new TableColumn({ name: 'linkErrorAt', type: 'bigint', isNullable: true }),
  new TableColumn({ name: 'partnerError', type: 'text', isNullable: true }),
  new TableColumn({ name: 'partnerErrorAt', type: 'bigint', isNullable: true }),
];

export class PeerErrorOwners1763800000900 implements MigrationInterface {
  name = 'PeerErrorOwners1763800000900';

  async up(q: QueryRunner): Promise<void> {
    const c = (name: string) => q.connection.driver.escape(name);
    await q.addColumns('peers', NEW_COLUMNS);
    const fromProtocol = PROTOCOL_PREFIXES.map(() => `${c('lastError')} LIKE ?`).join(' OR ');
    await q.query(
      `UPDATE ${c('peers')} SET ${c('partnerError')} = ${c('lastError')} WHERE ${fromProtocol}`,
      PROTOCOL_PREFIXES.map((p) => `${p}%`),
    );
    await q.query(
      `UPDATE ${c('peers')} SET ${c('linkError')} = ${c('lastError')} WHERE ${c('lastError')} IS NOT NULL AND ${c('partnerError')} IS NULL`,
    );
    await q.dropColumn('peers', 'lastError');
  }

  /**
   * Folds the two back into one: the partner's error wins, as a broken
   * peering makes the trunk's state moot (older code clears it when fixed).
   */
  async down(q: QueryRunner): Promise<void> {
    const c = (name: string) => q.connection.driver.escape(name);
    await q.addColumn('peers', new TableColumn({ name: 'lastError', type: 'text', isNullable: true }));
    await q.query(
      `UPDATE ${c('peers')} SET ${c('lastError')} = COALESCE(${c('partnerError')}, ${c('linkError')})`,
    );
    for (const column of NEW_COLUMNS) await q.dropColumn('peers', column.name);
  }
}
