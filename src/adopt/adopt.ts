import { AppError } from '../core/errors';
import { parseHostPort } from '../core/network-address';
import type { Peer } from '../federation/ports/peering-store';
import {
  type AdoptPlan,
  type AsteriskRowRef,
  buildPlan,
  extensionKey,
  isAdoptedPeer,
  type SidecarState,
} from './plan';
import type { AdoptSidecar, V1Records } from './ports';
import {
  dialedFriend,
  type UuruDeployment,
  type UuruPeer,
  type UuruSnapshot,
  uuruDialRow,
  uuruFriendValues,
} from './uuru-source';

/**
 * `uuru-fed adopt`: brings a running µURU's peerings and pending requests
 * into the sidecar as v1 records under the same names, prefixes, secrets and
 * codecs, and takes over µURU's Asterisk rows without a moment in which a
 * peer is unreachable. µURU's application database is only read; its
 * Asterisk rows are taken over (realtime backend) or removed once the
 * sidecar's files are live (files backend), and `undo` puts them back as
 * µURU wrote them.
 */

export interface AdoptReport {
  plan: AdoptPlan;
  imported: { peers: string[]; outgoing: string[]; incoming: string[] };
  /** Rows the realtime backend now owns (realtime backend). */
  claimed: AsteriskRowRef[];
  /** µURU rows deleted after the sidecar's files went live (files backend). */
  removed: AsteriskRowRef[];
  /** Peers whose files were not live in time: their µURU rows stay (a later adopt removes them). */
  notLive: string[];
}

export interface UndoReport {
  peers: string[];
  requests: string[];
  /** µURU's rows written back (as µURU writes them) or released from the sidecar. */
  restored: AsteriskRowRef[];
}

export interface RunOptions {
  /**
   * Files backend: resolves with the names whose generated files are live in
   * Asterisk (applied and verified); µURU's rows are removed for those only.
   */
  awaitLive(names: string[]): Promise<string[]>;
}

const v1IaxAddress = (raw: string): { host: string; port: number } => {
  const parsed = parseHostPort(raw);
  if (!parsed) throw new AppError('ADOPT_UNSUPPORTED_VALUE', `not an IAX2 host: ${JSON.stringify(raw)}`);
  return parsed;
};

export class Adopter {
  constructor(
    private readonly uuru: UuruDeployment,
    private readonly sidecar: AdoptSidecar,
  ) {}

  private async sidecarState(): Promise<SidecarState> {
    const p = this.sidecar.peerings;
    return {
      peers: await p.listPeers(),
      outgoing: await p.listOutgoing(),
      incoming: await p.listIncoming(),
    };
  }

  async plan(): Promise<{ plan: AdoptPlan; snapshot: UuruSnapshot }> {
    const snapshot = await this.uuru.read();
    return { plan: buildPlan(snapshot, await this.sidecarState()), snapshot };
  }

  /** Refuses, writing nothing, while the plan has a conflict. */
  private static assertNoConflict(plan: AdoptPlan): void {
    if (plan.conflicts.length === 0) return;
    const [first] = plan.conflicts;
    const all = plan.conflicts.map((c) => `${c.code}: ${c.message}`).join('\n');
    throw new AppError(first.code, `nothing was changed; fix these first:\n${all}`);
  }

  async run(opts: RunOptions): Promise<AdoptReport> {
    const { plan, snapshot } = await this.plan();
    Adopter.assertNoConflict(plan);
    const report: AdoptReport = {
      plan,
      imported: { peers: [], outgoing: [], incoming: [] },
      claimed: [],
      removed: [],
      notLive: [],
    };
    const byId = <T extends { id: string }>(rows: T[]) => new Map(rows.map((r) => [r.id, r]));
    const peers = byId(snapshot.peers);
    const outgoing = byId(snapshot.outgoing);
    const incoming = byId(snapshot.incoming);
    const records: V1Records = { peers: [], outgoing: [], incoming: [] };
    for (const p of plan.peers) {
      const u = peers.get(p.uuruId);
      if (p.action !== 'import' || !u) continue;
      const { host, port } = v1IaxAddress(u.partnerIaxHost);
      records.peers.push({
        id: u.id,
        name: u.name,
        prefix: u.prefix,
        partnerUrl: u.partnerUuruHost,
        partnerIaxHost: host,
        partnerIaxPort: port,
        partnerExtensionLength: u.partnerExtensionLength,
        codec: u.codec,
        secret: u.secret,
      });
      report.imported.peers.push(u.name);
    }
    for (const r of plan.requests) {
      if (r.action !== 'import') continue;
      const o = r.kind === 'outgoing' ? outgoing.get(r.uuruId) : undefined;
      const i = r.kind === 'incoming' ? incoming.get(r.uuruId) : undefined;
      if (o) {
        records.outgoing.push({
          id: o.id,
          name: o.name,
          partnerUrl: o.partnerUuruHost,
          prefix: o.prefix,
          codec: o.codec,
          secret: o.secret,
        });
        report.imported.outgoing.push(o.name);
      }
      if (i) {
        const { host, port } = v1IaxAddress(i.partnerIaxHost);
        records.incoming.push({
          requestId: i.id,
          name: i.name,
          partnerUrl: i.partnerUuruHost,
          partnerIaxHost: host,
          partnerIaxPort: port,
          partnerExtensionLength: i.partnerExtensionLength,
          codec: i.codec,
          secret: i.secret,
        });
        report.imported.incoming.push(i.name);
      }
    }
    // Peers first, claims after: a running sidecar deletes a claimed row that no peer of its wants.
    await this.sidecar.imports.importAll(records);

    if (this.sidecar.backend === 'realtime') {
      // Every µURU row of an adopted peer that still exists and is not claimed yet (a second run finds none).
      const present = presentRows(snapshot, plan);
      const already = await this.sidecar.claims.claimed(present);
      const keyOf = (r: AsteriskRowRef) => `${r.table}|${r.key}`;
      const owned = new Set(already.map(keyOf));
      const toClaim = present.filter((r) => !owned.has(keyOf(r)));
      await this.sidecar.claims.claim(toClaim);
      report.claimed = toClaim;
    } else {
      const present = presentRows(snapshot, plan);
      const names = [...new Set(present.map((r) => peerOfRow(r, snapshot)).filter((n): n is string => !!n))];
      if (names.length > 0) {
        const live = new Set(await opts.awaitLive(names));
        report.notLive = names.filter((n) => !live.has(n));
        const removable = present.filter((r) => live.has(peerOfRow(r, snapshot) ?? ''));
        await this.removeUuruRows(snapshot, removable);
        report.removed = removable;
      }
    }
    return report;
  }

  /** Deletes µURU's rows of peers the sidecar now serves from its files (dial plan row first, then the friend). */
  private async removeUuruRows(snapshot: UuruSnapshot, rows: AsteriskRowRef[]): Promise<void> {
    if (rows.length === 0) return;
    await this.uuru.asterisk.transaction(async (q) => {
      for (const r of rows.filter((x) => x.table === 'extensions')) {
        const [context, exten, priority] = r.key.split('|');
        await q('DELETE FROM extensions WHERE context = ? AND exten = ? AND priority = ?', [
          context,
          exten,
          Number(priority),
        ]);
      }
      for (const r of rows.filter((x) => x.table === 'iaxfriends')) {
        const peer = snapshot.peers.find((p) => p.name === r.key);
        if (peer) await q('DELETE FROM iaxfriends WHERE name = ? AND secret = ?', [peer.name, peer.secret]);
      }
    });
  }

  /**
   * Gives µURU back what adopt took: its Asterisk rows as µURU writes them
   * (written or rewritten before anything else, so every peer stays
   * reachable), then the sidecar's claims, peers and requests from µURU go.
   */
  async undo(): Promise<UndoReport> {
    const snapshot = await this.uuru.read();
    const state = await this.sidecarState();
    const plan = buildPlan(snapshot, state);
    const schema = plan.conflicts.find((c) => c.code === 'ADOPT_SCHEMA_UNKNOWN');
    if (schema) throw new AppError(schema.code, `nothing was changed: ${schema.message}`);
    const report: UndoReport = { peers: [], requests: [], restored: [] };
    const adopted: { uuru: UuruPeer; mine: Peer }[] = [];
    for (const p of snapshot.peers) {
      const mine = state.peers.find((s) => isAdoptedPeer(s, p));
      if (mine) adopted.push({ uuru: p, mine });
    }
    const rowsOf = (p: UuruPeer): AsteriskRowRef[] => [
      { table: 'extensions', key: extensionKey(uuruDialRow(p)) },
      { table: 'iaxfriends', key: p.name },
    ];
    // The dial plan rows first (a new row in µURU's context, beside the sidecar's in its own), in one go.
    await this.uuru.asterisk.transaction(async (q) => {
      for (const { uuru: p } of adopted) {
        const d = uuruDialRow(p);
        // µURU writes a plan delete-then-insert, and so does this.
        await q('DELETE FROM extensions WHERE context = ? AND exten = ?', [d.context, d.exten]);
        await q('INSERT INTO extensions (context, exten, priority, app, appdata) VALUES (?, ?, ?, ?, ?)', [
          d.context,
          d.exten,
          d.priority,
          d.app,
          d.appdata,
        ]);
      }
    });
    // Released before the friends are rewritten: a running sidecar then leaves them alone.
    await this.sidecar.claims.release(adopted.flatMap(({ uuru: p }) => rowsOf(p)));
    const columns = (
      await this.uuru.asterisk.query<{ name: string }>(
        'SELECT COLUMN_NAME AS name FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?',
        ['iaxfriends'],
      )
    ).map((c) => c.name.toLowerCase());
    await this.uuru.asterisk.transaction(async (q) => {
      for (const { uuru: p } of adopted) {
        const values: Record<string, string | null> = {};
        // Every column µURU does not set is NULL in a row it wrote.
        for (const c of columns) if (c !== 'id' && c !== 'name') values[c] = null;
        Object.assign(values, uuruFriendValues(p));
        const found = await q<{ id: number }>('SELECT id FROM iaxfriends WHERE name = ?', [p.name]);
        if (found.length > 0) await q('UPDATE iaxfriends SET ? WHERE name = ?', [values, p.name]);
        else await q('INSERT INTO iaxfriends SET ?', [values]);
      }
    });
    for (const { uuru: p } of adopted) report.restored.push(...rowsOf(p));
    const outgoingIds = snapshot.outgoing
      .filter((o) => state.outgoing.some((s) => s.id === o.id && s.dialect === 'v1' && s.secret === o.secret))
      .map((o) => o.id);
    const incomingRequestIds = snapshot.incoming
      .filter((i) =>
        state.incoming.some((s) => s.requestId === i.id && s.dialect === 'v1' && s.secret === i.secret),
      )
      .map((i) => i.id);
    const forgotten = await this.sidecar.imports.forget({
      peerIds: adopted.map(({ mine }) => mine.id),
      outgoingIds,
      incomingRequestIds,
    });
    report.peers.push(...forgotten.peers);
    report.requests.push(...forgotten.requests);
    return report;
  }
}

/** The µURU rows of the plan's peers that still exist in its Asterisk database. */
function presentRows(snapshot: UuruSnapshot, plan: AdoptPlan): AsteriskRowRef[] {
  const out: AsteriskRowRef[] = [];
  for (const p of plan.peers) {
    const uuru = snapshot.peers.find((x) => x.id === p.uuruId);
    if (!uuru) continue;
    const friend = snapshot.friends.get(uuru.name);
    // A friend µURU wrote carries the peer's secret; one rewritten by the sidecar does too.
    if (friend && String(friend.secret ?? '') === uuru.secret)
      out.push({ table: 'iaxfriends', key: uuru.name });
    const d = uuruDialRow(uuru);
    const row = snapshot.dialRows.find(
      (r) => r.exten === d.exten && Number(r.priority) === 1 && dialedFriend(r.appdata) === uuru.name,
    );
    if (row) out.push({ table: 'extensions', key: extensionKey(d) });
  }
  return out;
}

function peerOfRow(r: AsteriskRowRef, snapshot: UuruSnapshot): string | null {
  if (r.table === 'iaxfriends') return r.key;
  const [, exten] = r.key.split('|');
  const p = snapshot.peers.find((x) => uuruDialRow(x).exten === exten);
  return p ? p.name : null;
}
