import type { AsteriskPeerRows, PeerPatch } from '../core/asterisk-peers';

/**
 * Patches for many peers, grouped by identical content: after a reconcile run
 * nearly all peers get the same one, and many trunks change state together
 * (an iax2 reload re-probes all of them), so a few UPDATE ... IN statements
 * replace one per peer. No transaction: on SQLite the single TypeORM
 * connection is shared with other layers' transactions, and each row's patch
 * stands on its own.
 */
export class PeerPatchBatch {
  private readonly groups = new Map<string, { patch: PeerPatch; ids: string[] }>();
  /** The key of a patch object already seen: callers hand the same object for many peers. */
  private readonly keys = new WeakMap<PeerPatch, string>();

  add(id: string, patch: PeerPatch): void {
    let key = this.keys.get(patch);
    if (key === undefined) {
      key = JSON.stringify(patch);
      this.keys.set(patch, key);
    }
    let group = this.groups.get(key);
    if (!group) this.groups.set(key, (group = { patch, ids: [] }));
    group.ids.push(id);
  }

  async flush(rows: Pick<AsteriskPeerRows, 'patch'>): Promise<void> {
    for (const { patch, ids } of this.groups.values()) await rows.patch(ids, patch);
    this.groups.clear();
  }
}
