import type { Command } from 'commander';
import { Adopter } from '../adopt/adopt';
import { planText } from '../adopt/plan';
import { UuruDeployment, uuruDatabases } from '../adopt/uuru-source';
import { RealtimeRowClaimStore } from '../asterisk/realtime-claims';
import { systemClock } from '../core/clock';
import { errorMessage } from '../core/errors';
import { V1PeeringImport } from '../federation/v1-import';
import { TypeormPeeringStore, TypeormTransactions } from '../store/typeorm';
import { DbPeerApplyStates, liveNodes } from '../store/ha';
import type { PeerApplyStates } from '../core/replicas';
import type { Config } from '../config/schema';
import type { DataSource } from 'typeorm';
import type { CliContext } from './context';
import { EXIT_FAILED } from './exit-codes';
import { openLocalDatabase, rethrowForCli } from './local-database';

/**
 * The composition of `uuru-fed adopt`: the sidecar's database opened as the
 * sidecar opens it (with its key for secrets at rest, so imported secrets
 * are sealed like every other), its peering store and the realtime
 * backend's row claims handed to the adopt module as ports.
 */
export async function runAdopt(
  ctx: CliContext,
  cmd: Command,
  opts: {
    appDb?: string;
    asteriskDb?: string;
    uuruEnv?: string;
    dryRun?: boolean;
    undo?: boolean;
    waitMs: number;
    json?: boolean;
  },
): Promise<void> {
  const config = ctx.config();
  let where;
  try {
    where = uuruDatabases({ appUrl: opts.appDb, asteriskUrl: opts.asteriskDb, envFile: opts.uuruEnv });
  } catch (e) {
    return rethrowForCli(e);
  }
  const db = await openLocalDatabase(config, { create: false }, (line) => ctx.note(line));
  const uuru = new UuruDeployment(where);
  const peerings = new TypeormPeeringStore(db);
  const backend = config.asterisk.stateBackend;
  const applyStates = peerApplyStatesOf(db, config);
  const adopter = new Adopter(uuru, {
    peerings,
    // The protocol core writes the peering tables; adopt only says what to import or forget.
    imports: new V1PeeringImport({ peerings, transactions: new TypeormTransactions(db) }, systemClock),
    claims: new RealtimeRowClaimStore(db, systemClock),
    backend,
  });
  // Ask the running sidecar to apply at once when its admin API is at hand; its schedule does otherwise.
  const askReconcile = async (): Promise<void> => {
    try {
      await ctx.api(cmd).request('POST', '/reconcile', {});
    } catch (e) {
      ctx.note(
        `could not ask the running sidecar to reconcile now (${errorMessage(e)}); it applies the change at its next scheduled reconcile`,
      );
    }
  };
  try {
    if (opts.dryRun) {
      const { plan } = await adopter.plan();
      if (opts.json) ctx.json(plan);
      else ctx.out(planText(plan, backend));
      if (plan.conflicts.length > 0) ctx.exitCode = EXIT_FAILED;
      return;
    }
    if (opts.undo) {
      const r = await adopter.undo();
      // The sidecar then deletes its own rows of the peers it no longer has.
      if (r.peers.length > 0) await askReconcile();
      if (opts.json) return ctx.json(r);
      for (const row of r.restored) ctx.out(`given back to µURU: ${row.table} ${row.key}\n`);
      for (const name of r.peers) ctx.out(`peer ${name}: removed from the sidecar\n`);
      for (const name of r.requests) ctx.out(`request ${name}: removed from the sidecar\n`);
      if (r.peers.length === 0 && r.requests.length === 0)
        ctx.out('nothing to undo: no adopted µURU records\n');
      return;
    }
    const r = await adopter.run({
      awaitLive: async (names) => {
        await askReconcile();
        const deadline = Date.now() + opts.waitMs;
        for (;;) {
          const live = await appliedPeers(names, peerings, applyStates);
          if (live.length === names.length || Date.now() >= deadline) return live;
          await new Promise((res) => setTimeout(res, 500));
        }
      },
    });
    if (backend === 'realtime' && (r.claimed.length > 0 || r.imported.peers.length > 0)) await askReconcile();
    if (opts.json) return ctx.json(r);
    ctx.out(planText(r.plan, backend));
    for (const name of r.imported.peers) ctx.out(`imported peer ${name}\n`);
    for (const name of r.imported.outgoing) ctx.out(`imported outgoing request ${name}\n`);
    for (const name of r.imported.incoming) ctx.out(`imported incoming request ${name}\n`);
    for (const row of r.claimed) ctx.out(`taken over: ${row.table} ${row.key}\n`);
    for (const row of r.removed) ctx.out(`removed from µURU's Asterisk database: ${row.table} ${row.key}\n`);
    if (r.notLive.length > 0) {
      ctx.note(
        `not live in time, µURU's rows kept for: ${r.notLive.join(', ')}; start the sidecar (or check \`uuru-fed peers list\`) and run adopt again`,
      );
      ctx.exitCode = EXIT_FAILED;
    }
  } catch (e) {
    rethrowForCli(e);
  } finally {
    await uuru.close();
    await db.destroy();
  }
}

/**
 * With replicas (ha.enabled) a peer's apply state is per Asterisk node
 * (peer_node_states, written by the replica bound to each node) and the
 * peer row's own column keeps its insert value: the states over the nodes
 * of the live replicas, as the admin views read them. Null for one sidecar.
 */
export function peerApplyStatesOf(db: DataSource, config: Pick<Config, 'ha'>): PeerApplyStates | null {
  if (!config.ha.enabled) return null;
  const { heartbeatMs } = config.ha;
  return new DbPeerApplyStates(db, { liveNodes: () => liveNodes(db, systemClock, heartbeatMs) });
}

/**
 * Which of `names` are applied: on every live replica's Asterisk node with
 * replicas (`applyStates`), else by the peer row's apply state.
 */
export async function appliedPeers(
  names: readonly string[],
  peerings: Pick<TypeormPeeringStore, 'findPeer'>,
  applyStates: PeerApplyStates | null,
): Promise<string[]> {
  const found: { name: string; id: string; applyState: string }[] = [];
  for (const name of names) {
    const p = await peerings.findPeer({ name });
    if (p) found.push({ name, id: p.id, applyState: p.applyState });
  }
  const perNode = applyStates ? await applyStates.summarize(found.map((p) => p.id)) : null;
  return found
    .filter((p) => (perNode ? perNode.get(p.id)?.applyState : p.applyState) === 'applied')
    .map((p) => p.name);
}
