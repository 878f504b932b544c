import {
  Table,
  TableIndex,
  type MigrationInterface,
  type QueryRunner,
  type TableColumnOptions,
} from 'typeorm';

/**
 * Initial schema. Written with TypeORM's Table API so one migration serves
 * SQLite and MariaDB/MySQL alike; a frozen copy of the entities as of 0.1.
 */
type ColSpec = [name: string, type: string, opts?: Partial<TableColumnOptions>];

function table(
  name: string,
  cols: ColSpec[],
  uniques: string[][] = [],
  indices: [string, string[]][] = [],
): Table {
  return new Table({
    name,
    columns: cols.map(([n, type, opts]) => ({
      name: n,
      type,
      isNullable: false,
      ...(type === 'varchar' && !opts?.length ? { length: '255' } : {}),
      ...opts,
    })),
    uniques: uniques.map((columnNames) => ({ name: `uq_${name}_${columnNames.join('_')}`, columnNames })),
    indices: indices.map(([n, columnNames]) => new TableIndex({ name: n, columnNames })),
  });
}

const pk = { isPrimary: true };
const nul = { isNullable: true };
const v = (length: number, extra: Partial<TableColumnOptions> = {}): Partial<TableColumnOptions> => ({
  length: String(length),
  ...extra,
});

export class Initial1763800000001 implements MigrationInterface {
  name = 'Initial1763800000001';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      table(
        'peers',
        [
          ['id', 'varchar', v(36, pk)],
          ['name', 'varchar', v(32)],
          ['prefix', 'varchar', v(16)],
          ['partnerUrl', 'varchar', v(255)],
          ['partnerServerName', 'varchar', v(255, nul)],
          ['partnerIaxHost', 'varchar', v(255)],
          ['partnerIaxPort', 'integer'],
          ['partnerExtensionLength', 'integer'],
          ['codec', 'varchar', v(8)],
          ['secret', 'varchar', v(64)],
          ['dialect', 'varchar', v(4)],
          ['requestId', 'varchar', v(64)],
          ['role', 'varchar', v(16)],
          ['state', 'varchar', v(24)],
          ['applyState', 'varchar', v(16)],
          ['applyError', 'text', nul],
          ['appliedAt', 'bigint', nul],
          ['reachability', 'varchar', v(16)],
          ['latencyMs', 'integer', nul],
          ['lastSeen', 'bigint', nul],
          ['lastError', 'text', nul],
          ['partnerKeyFingerprint', 'varchar', v(128, nul)],
          ['lastTestCall', 'text', nul],
          ['createdAt', 'bigint'],
          ['updatedAt', 'bigint'],
        ],
        [['name'], ['prefix']],
      ),
    );
    await q.createTable(
      table('outgoing_requests', [
        ['id', 'varchar', v(36, pk)],
        ['name', 'varchar', v(32)],
        ['partnerUrl', 'varchar', v(255)],
        ['partnerServerName', 'varchar', v(255, nul)],
        ['prefix', 'varchar', v(16)],
        ['codec', 'varchar', v(8)],
        ['dialect', 'varchar', v(4)],
        ['secret', 'varchar', v(64, nul)],
        ['agreementKid', 'varchar', v(64, nul)],
        ['state', 'varchar', v(16)],
        ['declineReason', 'text', nul],
        ['lastError', 'text', nul],
        ['createdAt', 'bigint'],
        ['updatedAt', 'bigint'],
      ]),
    );
    await q.createTable(
      table(
        'incoming_requests',
        [
          ['id', 'varchar', v(36, pk)],
          ['requestId', 'varchar', v(64)],
          ['name', 'varchar', v(32)],
          ['partnerUrl', 'varchar', v(255)],
          ['partnerServerName', 'varchar', v(255, nul)],
          ['partnerIaxHost', 'varchar', v(255)],
          ['partnerIaxPort', 'integer'],
          ['partnerExtensionLength', 'integer'],
          ['codec', 'varchar', v(8)],
          ['dialect', 'varchar', v(4)],
          ['secret', 'varchar', v(64, nul)],
          ['partnerAgreementKid', 'varchar', v(64, nul)],
          ['state', 'varchar', v(16)],
          ['createdAt', 'bigint'],
          ['updatedAt', 'bigint'],
        ],
        [['requestId']],
      ),
    );
    await q.createTable(
      table('partners', [
        ['serverName', 'varchar', v(255, pk)],
        ['baseUrl', 'varchar', v(255)],
        ['signingKeys', 'text'],
        ['heldKeys', 'text', nul],
        ['agreementKeys', 'text'],
        ['descriptor', 'text', nul],
        ['fetchedAt', 'bigint', nul],
        ['fetchFailures', 'integer', { default: 0 }],
        ['nextFetchAt', 'bigint', nul],
        ['createdAt', 'bigint'],
        ['updatedAt', 'bigint'],
      ]),
    );
    await q.createTable(
      table('local_keys', [
        ['kid', 'varchar', v(64, pk)],
        ['alg', 'varchar', v(16)],
        ['publicKey', 'varchar', v(64)],
        ['privateKey', 'text'],
        ['status', 'varchar', v(16)],
        ['notBefore', 'bigint'],
        ['expiresAt', 'bigint'],
        ['endorsement', 'text', nul],
        ['createdAt', 'bigint'],
      ]),
    );
    await q.createTable(
      table(
        'nonces',
        [
          ['keyId', 'varchar', v(255, pk)],
          ['nonce', 'varchar', v(64, pk)],
          ['expiresAt', 'bigint'],
        ],
        [],
        [['idx_nonces_expires', ['expiresAt']]],
      ),
    );
    await q.createTable(
      table(
        'outbox',
        [
          ['id', 'varchar', v(36, pk)],
          ['kind', 'varchar', v(16)],
          ['dialect', 'varchar', v(4)],
          ['peerName', 'varchar', v(32, nul)],
          ['requestId', 'varchar', v(64, nul)],
          ['method', 'varchar', v(8)],
          ['url', 'text'],
          ['body', 'text', nul],
          ['state', 'varchar', v(16)],
          ['attempts', 'integer', { default: 0 }],
          ['nextAttemptAt', 'bigint'],
          ['expiresAt', 'bigint'],
          ['lastError', 'text', nul],
          ['createdAt', 'bigint'],
          ['updatedAt', 'bigint'],
        ],
        [],
        [['idx_outbox_due', ['state', 'nextAttemptAt']]],
      ),
    );
    await q.createTable(
      table('settings', [
        ['key', 'varchar', v(64, pk)],
        ['value', 'text'],
        ['updatedAt', 'bigint'],
      ]),
    );
    await q.createTable(
      table(
        'admin_users',
        [
          ['id', 'varchar', v(36, pk)],
          ['username', 'varchar', v(64)],
          ['passwordHash', 'varchar', v(255)],
          ['createdAt', 'bigint'],
        ],
        [['username']],
      ),
    );
    await q.createTable(
      table(
        'api_tokens',
        [
          ['id', 'varchar', v(36, pk)],
          ['name', 'varchar', v(64)],
          ['tokenHash', 'varchar', v(64)],
          ['createdAt', 'bigint'],
          ['lastUsedAt', 'bigint', nul],
        ],
        [['tokenHash']],
      ),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    for (const t of [
      'api_tokens',
      'admin_users',
      'settings',
      'outbox',
      'nonces',
      'local_keys',
      'partners',
      'incoming_requests',
      'outgoing_requests',
      'peers',
    ]) {
      await q.dropTable(t, true);
    }
  }
}
