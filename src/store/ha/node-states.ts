import type { DataSource } from 'typeorm';
import type { Clock } from '../../core/clock';
import type { PeerPatch, PeerRunRow, TestCallPeer } from '../../core/asterisk-peers';
import type { ApplyState } from '../../core/records';
import { type PeerApplySummary, type PeerNodeApply, summarizeNodes } from '../../core/replicas';
import { PeerRunRows, UPDATE_CHUNK } from '../peer-rows';
import { isDuplicateKey } from '../typeorm/transactions';
import type { DbReplicas } from './replicas';
import { execute, num, select } from './sql';

const APPLY_KEYS = ['applyState', 'applyError', 'appliedAt'] as const;
type ApplyKey = (typeof APPLY_KEYS)[number];

const nodeRow = (r: Record<string, unknown>): PeerNodeApply => ({
  node: String(r.node),
  applyState: String(r.applyState) as ApplyState,
  applyError: r.applyError === null || r.applyError === undefined ? null : String(r.applyError),
  appliedAt: r.appliedAt === null || r.appliedAt === undefined ? null : num(r.appliedAt),
});

/**
 * The peers as the Asterisk layer of a replica bound to one Asterisk node
 * sees them (`ha.enabled`): the same rows as PeerRunRows, but the apply state
 * (apply_state, apply_error, applied_at) is this node's row of
 * `peer_node_states` (none yet: pending), and a reconcile writes it there, so
 * replicas with different Asterisks never overwrite each other's state. The
 * link columns (monitor) and the test call stay on the peer row. Rows of
 * peers that are gone are deleted by the node's own reconcile reads.
 */
export class NodePeerRunRows extends PeerRunRows {
  constructor(
    private readonly database: DataSource,
    private readonly node: string,
    private readonly clock: Clock,
  ) {
    super(database);
  }

  override async readAll(): Promise<PeerRunRow[]> {
    const rows = await super.readAll();
    const mine = await this.nodeStates();
    return rows.map((r) => {
      const s = mine.get(r.id);
      return {
        ...r,
        applyState: s?.applyState ?? 'pending',
        applyError: s?.applyError ?? null,
        appliedAt: s?.appliedAt ?? null,
      };
    });
  }

  override async findForTestCall(name: string): Promise<TestCallPeer | null> {
    const p = await super.findForTestCall(name);
    if (!p) return null;
    const s = (await this.nodeStates([p.id])).get(p.id);
    return { ...p, applyState: s?.applyState ?? 'pending', applyError: s?.applyError ?? null };
  }

  override async patch(ids: string[], patch: PeerPatch): Promise<void> {
    const apply: Partial<Pick<PeerPatch, ApplyKey>> = {};
    const link: PeerPatch = {};
    for (const [k, v] of Object.entries(patch) as [keyof PeerPatch, unknown][]) {
      if (v === undefined) continue;
      if ((APPLY_KEYS as readonly string[]).includes(k)) Object.assign(apply, { [k]: v });
      else Object.assign(link, { [k]: v });
    }
    await super.patch(ids, link);
    if (Object.keys(apply).length > 0) await this.patchNode(ids, apply);
  }

  /** This node's rows (of the given peers, or all), deleting those of peers that are gone. */
  private async nodeStates(ids?: string[]): Promise<Map<string, PeerNodeApply>> {
    if (!ids)
      await execute(
        this.database,
        'DELETE FROM `peer_node_states` WHERE `node` = ? AND `peerId` NOT IN (SELECT `id` FROM `peers`)',
        [this.node],
      );
    const where = ids ? ` AND \`peerId\` IN (${ids.map(() => '?').join(', ')})` : '';
    const rows = await select<Record<string, unknown>>(
      this.database,
      `SELECT \`peerId\`, \`node\`, \`applyState\`, \`applyError\`, \`appliedAt\` FROM \`peer_node_states\` WHERE \`node\` = ?${where}`,
      [this.node, ...(ids ?? [])],
    );
    return new Map(rows.map((r) => [String(r.peerId), nodeRow(r)]));
  }

  /** Writes the apply columns of this node's rows, making the rows that are missing. */
  private async patchNode(ids: string[], apply: Partial<Pick<PeerPatch, ApplyKey>>): Promise<void> {
    const sets = Object.entries(apply);
    const now = this.clock.now();
    const setSql = [...sets.map(([k]) => `\`${k}\` = ?`), '`updatedAt` = ?'].join(', ');
    for (let i = 0; i < ids.length; i += UPDATE_CHUNK) {
      const chunk = ids.slice(i, i + UPDATE_CHUNK);
      const marks = chunk.map(() => '?').join(', ');
      await execute(
        this.database,
        `UPDATE \`peer_node_states\` SET ${setSql} WHERE \`node\` = ? AND \`peerId\` IN (${marks})`,
        [...sets.map(([, v]) => v), now, this.node, ...chunk],
      );
      const have = await select<{ peerId: unknown }>(
        this.database,
        `SELECT \`peerId\` FROM \`peer_node_states\` WHERE \`node\` = ? AND \`peerId\` IN (${marks})`,
        [this.node, ...chunk],
      );
      const present = new Set(have.map((r) => String(r.peerId)));
      const missing = chunk.filter((id) => !present.has(id));
      for (const id of missing) {
        const row = [
          id,
          this.node,
          apply.applyState ?? 'pending',
          apply.applyError ?? null,
          apply.appliedAt ?? null,
          now,
        ];
        try {
          await execute(
            this.database,
            'INSERT INTO `peer_node_states` (`peerId`, `node`, `applyState`, `applyError`, `appliedAt`, `updatedAt`) VALUES (?, ?, ?, ?, ?, ?)',
            row,
          );
        } catch (e) {
          // Another replica bound to the same node made it meanwhile: write over it.
          if (!isDuplicateKey(e)) throw e;
          await execute(
            this.database,
            `UPDATE \`peer_node_states\` SET ${setSql} WHERE \`node\` = ? AND \`peerId\` = ?`,
            [...sets.map(([, v]) => v), now, this.node, id],
          );
        }
      }
    }
  }
}

/**
 * The per-node apply states as the admin surfaces read them (src/core's
 * PeerApplyStates): each peer over the Asterisk nodes of the live replicas.
 */
export class DbPeerApplyStates {
  constructor(
    private readonly db: DataSource,
    private readonly replicas: Pick<DbReplicas, 'liveNodes'>,
  ) {}

  async summarize(peerIds: readonly string[]): Promise<Map<string, PeerApplySummary>> {
    const out = new Map<string, PeerApplySummary>();
    if (peerIds.length === 0) return out;
    const nodes = await this.replicas.liveNodes();
    if (nodes.length === 0) return out;
    const rows = await select<Record<string, unknown>>(
      this.db,
      `SELECT \`peerId\`, \`node\`, \`applyState\`, \`applyError\`, \`appliedAt\` FROM \`peer_node_states\` WHERE \`node\` IN (${nodes.map(() => '?').join(', ')})`,
      nodes,
    );
    const byPeer = new Map<string, PeerNodeApply[]>();
    for (const r of rows) {
      const id = String(r.peerId);
      byPeer.set(id, [...(byPeer.get(id) ?? []), nodeRow(r)]);
    }
    for (const id of peerIds) out.set(id, summarizeNodes(nodes, byPeer.get(id) ?? []));
    return out;
  }
}

/**
 * A mark of the peers as they stand: their number and the latest change the
 * protocol made to one (`updatedAt`). An insert, an update and a delete each
 * change it (a delete lowers the count; an insert and a delete together raise
 * the latest change), so a replica that polls it sees what another replica
 * changed and reconciles its own Asterisk.
 */
export async function peersMark(db: DataSource): Promise<string> {
  const rows = await select<{ n: unknown; latest: unknown }>(
    db,
    'SELECT COUNT(*) AS `n`, MAX(`updatedAt`) AS `latest` FROM `peers`',
    [],
  );
  const r = rows[0] ?? { n: 0, latest: null };
  return `${num(r.n)}:${r.latest === null || r.latest === undefined ? '-' : num(r.latest)}`;
}
