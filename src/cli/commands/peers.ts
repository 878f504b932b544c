import type { Command } from 'commander';
import type { PeerView, TestCallResponse } from '../api-types';
import { type CliContext, jsonOption } from '../context';
import { EXIT_FAILED } from '../exit-codes';
import { confirm } from '../prompt';
import { resolvePeer } from '../resolve';
import { addListCommand } from '../list-command';

/** A Unicode v1 name with the ASCII name Asterisk's dial plan knows it by (also accepted as <peer>). */
const displayName = (p: PeerView) => (p.asterisk_name === p.name ? p.name : `${p.name} (${p.asterisk_name})`);

/** The trunk secret's epoch, its length, the next rotation and an overlap under way; or that it is fixed. */
function secretEpochText(p: PeerView): string {
  const e = p.trunk_rotation;
  if (!e) return 'fixed (no epochs agreed)';
  const overlap = e.also_accepted ? `; the ${e.also_accepted} epoch's secret is accepted too` : '';
  const forced = e.forced_rotation_at ? `; forced rotation at ${e.forced_rotation_at}` : '';
  const upgrade = !e.switch_at
    ? ''
    : e.sends === 'v1'
      ? `; sends the v1 secret until ${e.switch_at}`
      : `; switched from the v1 secret at ${e.switch_at}`;
  const keys = e.agreement_key_switch_at
    ? `; secret from the rotated agreement keys from ${e.agreement_key_switch_at}`
    : '';
  return `${e.epoch} (every ${e.length_seconds} s), next rotation ${e.next_rotation_at}${overlap}${forced}${upgrade}${keys}`;
}

export function registerPeers(program: Command, ctx: CliContext): void {
  const peers = program.command('peers').description('peers (live trunks)');
  addListCommand<'peers', PeerView>(peers, ctx, {
    description: 'list peers with their trunk state',
    path: '/federation/peers',
    key: 'peers',
    headers: [
      'ID',
      'NAME',
      'PREFIX',
      'PARTNER',
      'DIALECT',
      'STATE',
      'APPLY',
      'REACHABILITY',
      'LATENCY',
      'LAST SEEN',
      // The trunk's last problem (Asterisk) and the partner's (protocol): each has its own writer.
      'LINK ERROR',
      'PARTNER ERROR',
      'SECRET EPOCH',
      'NEXT ROTATION',
    ],
    row: (p) => [
      p.id,
      displayName(p),
      p.prefix,
      p.partner_url,
      p.dialect,
      p.state,
      p.apply_state,
      p.reachability,
      p.latency_ms === null ? null : `${p.latency_ms} ms`,
      p.last_seen,
      p.link_error,
      p.partner_error,
      p.trunk_rotation ? String(p.trunk_rotation.epoch) : 'fixed',
      p.trunk_rotation?.next_rotation_at ?? null,
    ],
  });

  const peer = program.command('peer').description('one peer');
  peer
    .command('show <peer>')
    .description('everything about one peer (by id or name)')
    .addOption(jsonOption())
    .action(async (ref: string, opts: { json?: boolean }, cmd: Command) => {
      const client = ctx.api(cmd);
      const found = await resolvePeer(client, ref);
      const p = await client.request<PeerView>('GET', `/federation/peers/${encodeURIComponent(found.id)}`);
      if (opts.json) return ctx.json(p);
      const call = p.last_test_call;
      const rows: [string, string | number | null][] = [
        ['id', p.id],
        ['name', displayName(p)],
        ['prefix', `${p.prefix} (then ${p.partner_extension_length} digits)`],
        ['partner', p.partner_url],
        ['partner IAX2', p.partner_iax_host],
        ['partner key', p.partner_key_fingerprint],
        ['dialect', p.dialect],
        ['role', p.role],
        ['codec', p.codec],
        ['state', p.state],
        ['apply', p.apply_error ? `${p.apply_state}: ${p.apply_error}` : p.apply_state],
        ['reachability', p.latency_ms === null ? p.reachability : `${p.reachability} (${p.latency_ms} ms)`],
        ['last seen', p.last_seen],
        ['secret epoch', secretEpochText(p)],
        ['link error', p.link_error ? `${p.link_error} (${p.link_error_at})` : null],
        ['partner error', p.partner_error ? `${p.partner_error} (${p.partner_error_at})` : null],
        [
          'last test call',
          call
            ? `${call.answered ? `answered in ${call.setupMs} ms` : `not answered: ${call.error ?? 'no answer'}`} (${new Date(call.at).toISOString()})`
            : null,
        ],
        ['pending deliveries', p.pending_deliveries],
        ['created', p.created_at],
      ];
      const width = Math.max(...rows.map(([k]) => k.length)) + 1;
      for (const [k, v] of rows) ctx.out(`${`${k}:`.padEnd(width)} ${v === null || v === '' ? '-' : v}\n`);
    });
  peer
    .command('rotate-secret <peer>')
    .description(
      'force a trunk secret rotation (by id or name): agreed with the partner, then both sides move to a new secret with the usual overlap; calls that are up stay up',
    )
    .addOption(jsonOption())
    .action(async (ref: string, opts: { json?: boolean }, cmd: Command) => {
      const client = ctx.api(cmd);
      const found = await resolvePeer(client, ref);
      const p = await client.request<PeerView>(
        'POST',
        `/federation/peers/${encodeURIComponent(found.id)}/secret-rotation`,
        {},
      );
      if (opts.json) return ctx.json(p);
      ctx.out(`peer '${p.name}': ${secretEpochText(p)}\n`);
    });
  peer
    .command('teardown <peer>')
    .description(
      'tear a peer down (by id or name) and tell the partner; asks first on a terminal, --yes in scripts',
    )
    .option('--local-only', "remove only our side (the partner is gone); don't notify it")
    .option('-y, --yes', 'do not ask (needed when standard input is not a terminal)')
    .addOption(jsonOption())
    .action(
      async (ref: string, opts: { localOnly?: boolean; yes?: boolean; json?: boolean }, cmd: Command) => {
        const client = ctx.api(cmd);
        const p = await resolvePeer(client, ref);
        const sure = await confirm(
          `Tear down peer '${p.name}' (prefix ${p.prefix}, ${p.partner_url})? ${opts.localOnly ? 'Only our side goes; the partner is not told.' : 'The partner is told and removes its side too.'}`,
          { yes: opts.yes, stdin: ctx.io.stdin, stderr: ctx.io.stderr },
        );
        if (!sure) {
          ctx.note(`peer '${p.name}' left as it is`);
          ctx.exitCode = EXIT_FAILED;
          return;
        }
        await client.request(
          'DELETE',
          `/federation/peers/${encodeURIComponent(p.id)}${opts.localOnly ? '?local_only=true' : ''}`,
        );
        if (opts.json)
          ctx.json({ id: p.id, name: p.name, torn_down: true, local_only: opts.localOnly ?? false });
        else ctx.out(`peer '${p.name}' torn down${opts.localOnly ? ' (local side only)' : ''}\n`);
      },
    );

  program
    .command('test-call <peer>')
    .description(
      "call the partner's test extension through a peer (by id or name); exit 0 only when answered",
    )
    .addOption(jsonOption())
    .action(async (ref: string, opts: { json?: boolean }, cmd: Command) => {
      const client = ctx.api(cmd);
      const p = await resolvePeer(client, ref);
      const r = await client.request<TestCallResponse>(
        'POST',
        `/federation/peers/${encodeURIComponent(p.id)}/test-call`,
        {},
      );
      if (opts.json) ctx.json({ peer: p.name, ...r });
      else
        ctx.out(r.answered ? `answered in ${r.setup_ms} ms\n` : `not answered: ${r.error ?? 'no answer'}\n`);
      if (!r.answered) ctx.exitCode = EXIT_FAILED;
    });
}
