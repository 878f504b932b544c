import { TableColumn, type MigrationInterface, type QueryRunner } from 'typeorm';
import { createIndex, createTable, intColumn, msColumn, seqColumn } from './columns';

const str = (name: string, length: number, primary = false, nullable = false) => ({
  name,
  type: 'varchar',
  length: String(length),
  isPrimary: primary,
  isNullable: nullable,
});

/**
 * State that replicas sharing one database must share (issue 16): job leases
 * (one run per job per period across replicas, with a fencing token), admin
 * panel sessions, failed logins (the login throttle) and rate-limit windows;
 * and the claim of an outbox item by one replica's delivery worker. The
 * nonces were in the database already (0001). Used only when `ha.enabled`;
 * a single sidecar keeps these in memory. Table API only (SQLite and
 * MariaDB/MySQL).
 */
export class HaSharedState1763800001600 implements MigrationInterface {
  name = 'HaSharedState1763800001600';

  async up(q: QueryRunner): Promise<void> {
    await createTable(q, 'job_leases', [
      str('name', 100, true),
      str('holder', 100, false, true),
      { name: 'token', type: 'bigint', isNullable: false, default: 0 },
      { name: 'period', type: 'bigint', isNullable: false, default: -1 },
      { name: 'expiresAt', type: 'bigint', isNullable: false, default: 0 },
      intColumn('done', true, 0),
      msColumn('updatedAt'),
    ]);
    await createTable(q, 'admin_sessions', [
      str('idHash', 64, true),
      str('username', 64),
      str('csrfToken', 64),
      msColumn('createdAt', true),
      msColumn('lastSeenAt', true),
      { name: 'flash', type: 'text', isNullable: true },
    ]);
    await createIndex(q, 'admin_sessions', 'idx_admin_sessions_user', ['username']);
    await createTable(q, 'login_failures', [seqColumn(), str('throttleKey', 300), msColumn('at', true)]);
    await createIndex(q, 'login_failures', 'idx_login_failures_key_at', ['throttleKey', 'at']);
    await createIndex(q, 'login_failures', 'idx_login_failures_at', ['at']);
    await createTable(q, 'rate_limit_windows', [
      str('limiterKey', 300, true),
      msColumn('windowStart', true),
      intColumn('hits', true, 0),
    ]);
    await q.addColumn('outbox', new TableColumn(str('claimedBy', 100, false, true)));
    await q.addColumn('outbox', new TableColumn(str('claimToken', 36, false, true)));
    await q.addColumn('outbox', new TableColumn(msColumn('claimExpiresAt')));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropColumn('outbox', 'claimExpiresAt');
    await q.dropColumn('outbox', 'claimToken');
    await q.dropColumn('outbox', 'claimedBy');
    await q.dropTable('rate_limit_windows', true);
    await q.dropTable('login_failures', true);
    await q.dropTable('admin_sessions', true);
    await q.dropTable('job_leases', true);
  }
}
