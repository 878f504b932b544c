import { type MigrationInterface, type QueryRunner, type TableColumnOptions } from 'typeorm';
import { createIndex, createTable, msColumn, varcharColumn as str } from './columns';

/** `replicas`: one row per replica. */
const replicaColumns = (): TableColumnOptions[] => [
  str('replicaId', 100, true),
  str('asteriskNode', 100, false, true),
  str('version', 40),
  msColumn('startedAt', true),
  msColumn('lastSeenAt', true),
];

/** `peer_node_states`: a peer's apply state on one Asterisk node. */
const peerNodeStateColumns = (): TableColumnOptions[] => [
  str('peerId', 36, true),
  str('node', 100, true),
  str('applyState', 16),
  { name: 'applyError', type: 'text', isNullable: true },
  msColumn('appliedAt'),
  msColumn('updatedAt', true),
];

/**
 * Replicas bound to Asterisk nodes (issue 16): `replicas` holds one row per
 * replica (its Asterisk node, when it started, its last heartbeat) for the
 * status views; `peer_node_states` holds a peer's apply state per Asterisk
 * node (written by the Asterisk layer of the replica bound to that node),
 * since replicas with different Asterisks cannot share the one apply column
 * of `peers`. Used only when `ha.enabled`. Table API only (SQLite and
 * MariaDB/MySQL).
 */
export class ReplicasAndNodeStates1763800001700 implements MigrationInterface {
  name = 'ReplicasAndNodeStates1763800001700';

  async up(q: QueryRunner): Promise<void> {
    await createTable(q, 'replicas', replicaColumns());
    await createTable(q, 'peer_node_states', peerNodeStateColumns());
    await createIndex(q, 'peer_node_states', 'idx_peer_node_states_node', ['node']);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('peer_node_states', true);
    await q.dropTable('replicas', true);
  }
}
