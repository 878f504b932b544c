import { TableColumn, type MigrationInterface, type QueryRunner } from 'typeorm';

/** The columns that hold an IAX2 secret; 0001 made them varchar(64). */
const SECRET_COLUMNS: { table: string; nullable: boolean }[] = [
  { table: 'peers', nullable: false },
  { table: 'outgoing_requests', nullable: true },
  { table: 'incoming_requests', nullable: true },
];

/**
 * Secrets at rest, the schema half: IAX2 secrets are stored sealed
 * (enc:v1:..., about 100 characters for a 40-character secret), so their
 * columns widen to varchar(255). The data half, sealing the rows written in
 * clear by earlier versions, needs the key, which a migration does not have:
 * openDatabase() does it right after the migrations, on every start, and
 * only for rows not sealed yet (src/store/secrets-at-rest.ts).
 */
export class EncryptSecrets1763800000500 implements MigrationInterface {
  name = 'EncryptSecrets1763800000500';

  async up(q: QueryRunner): Promise<void> {
    for (const { table, nullable } of SECRET_COLUMNS) {
      const t = await q.getTable(table);
      const old = t?.findColumnByName('secret');
      if (!t || !old || old.length === '255') continue;
      await q.changeColumn(
        t,
        old,
        new TableColumn({ name: 'secret', type: 'varchar', length: '255', isNullable: nullable }),
      );
    }
  }

  async down(): Promise<void> {
    // Nothing: sealed values are longer than 64 characters and only the key opens them; narrowing would cut them.
  }
}
