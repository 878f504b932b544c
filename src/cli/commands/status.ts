import type { Command } from 'commander';
import type { StatusResponse } from '../api-types';
import { type CliContext, jsonOption } from '../context';

const counts = (c: Record<string, number>): string =>
  Object.entries(c)
    .map(([k, n]) => `${n} ${k.replace(/_/g, ' ')}`)
    .join(', ') || 'none';

export function registerStatus(program: Command, ctx: CliContext): void {
  program
    .command('status')
    .description(
      'the running instance at a glance: what it advertises, where it listens, the Asterisk link, peers',
    )
    .addOption(jsonOption())
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const client = ctx.api(cmd);
      const s = await client.request<StatusResponse>('GET', '/status');
      if (opts.json) return ctx.json(s);
      const a = s.asterisk;
      const asterisk = a.enabled
        ? `${a.backend} backend, AMI ${a.ami}, ARI ${a.ari}, monitoring ${a.monitoring.replace(/_/g, ' ')}` +
          (a.lastReconcileAt === null
            ? ', not reconciled yet'
            : `, last reconcile ${new Date(a.lastReconcileAt).toISOString()}`) +
          (a.lastReconcileError ? ` (error: ${a.lastReconcileError})` : '')
        : 'disabled (UURU_ASTERISK_ENABLED=false): peers are not applied';
      const lines: [string, string][] = [
        ['instance', `${s.instance.public_url}, IAX2 ${s.instance.iax2}, version ${s.instance.version}`],
        ['admin API', client.baseUrl],
        ['listeners', `federation ${s.listeners.federation}, admin ${s.listeners.admin}`],
        ['asterisk', asterisk],
        [
          'peers',
          s.peers.total === 0
            ? 'none'
            : `${s.peers.total}: ${counts(s.peers.by_state)}; ${counts(s.peers.by_apply_state)}; ${counts(s.peers.by_reachability)}`,
        ],
        [
          'requests',
          `${s.requests.incoming_pending} incoming pending, ${s.requests.outgoing_pending} outgoing pending`,
        ],
        ['signed in as', s.principal],
      ];
      // Replicas (UURU_HA_ENABLED): each with its Asterisk node, and who holds which job lease.
      if (s.replicas) {
        const r = s.replicas;
        lines.push(['this replica', `${r.self.replica_id}, Asterisk node ${r.self.asterisk_node ?? 'none'}`]);
        for (const x of r.replicas)
          lines.push([
            'replica',
            `${x.replica_id}: Asterisk node ${x.asterisk_node ?? 'none'}, ${x.live ? 'live' : 'not seen'} (last seen ${x.last_seen_at}), version ${x.version}`,
          ]);
        for (const l of r.leases)
          lines.push([
            'lease',
            l.state === 'free'
              ? `${l.job}: free, token ${l.token}`
              : `${l.job}: ${l.holder}, token ${l.token}, ${l.state}, until ${l.expires_at}`,
          ]);
      }
      const width = Math.max(...lines.map(([k]) => k.length)) + 1;
      for (const [k, v] of lines) ctx.out(`${`${k}:`.padEnd(width)} ${v}\n`);
    });
}
