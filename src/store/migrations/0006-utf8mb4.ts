import type { MigrationInterface, QueryRunner } from 'typeorm';
import { AppError, errorMessage } from '../../core/errors';
import { conversionStatements, inspectCharset, isMysqlFamily, ownTableNames } from '../charset';

/**
 * MariaDB/MySQL: converts the database's default character set and our
 * tables to utf8mb4 (utf8mb4_unicode_ci). 0001 created the tables with the
 * database's default, which is latin1 on a server left at MariaDB's compiled
 * default; such tables cannot hold every name a partner may send and fail on
 * comparisons with parameters they cannot represent. Tables created after
 * this migration inherit utf8mb4 from the database. SQLite stores UTF-8
 * anyway: nothing to do there.
 *
 * Needs the ALTER privilege on the database; without it the start stops
 * here (DB_CHARSET_UNSUPPORTED) with the statements an administrator can run
 * instead.
 */
export class Utf8mb41763800000600 implements MigrationInterface {
  name = 'Utf8mb41763800000600';

  async up(q: QueryRunner): Promise<void> {
    if (!isMysqlFamily(q.connection)) return;
    const report = await inspectCharset(q, ownTableNames(q.connection));
    const statements = conversionStatements(report);
    for (const sql of statements) {
      try {
        await q.query(sql);
      } catch (e) {
        throw new AppError(
          'DB_CHARSET_UNSUPPORTED',
          `cannot convert database ${report.database} to utf8mb4 (${errorMessage(e)}); ` +
            `grant ALTER on it to the sidecar's database user, or run as an administrator: ${statements.join('; ')};`,
          { cause: e },
        );
      }
    }
  }

  async down(): Promise<void> {
    // Nothing: converting back to a narrower character set would lose the characters it cannot hold.
  }
}
