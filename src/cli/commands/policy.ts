import { type Command, Option } from 'commander';
import type { Policy, PolicyChangeReport } from '../api-types';
import { type CliContext, jsonOption, splitList } from '../context';

export function registerPolicy(program: Command, ctx: CliContext): void {
  const policy = program
    .command('policy')
    .description('who may ask to peer, and which numbers never federate');
  const printPolicy = (p: Policy) =>
    ctx.out(
      [
        `mode:                ${p.mode}`,
        `allowed peers:       ${p.allowed_peers.join(', ') || '-'}`,
        `blocked peers:       ${p.blocked_peers.join(', ') || '-'}`,
        `legacy v1:           ${p.allow_legacy ? 'on' : 'off'}`,
        `unfederated numbers: ${p.unfederated_numbers.join(', ') || '-'}`,
        '',
      ].join('\n'),
    );
  policy
    .command('show')
    .description('print the policy')
    .addOption(jsonOption())
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const p = await ctx.api(cmd).request<Policy>('GET', '/federation/policy');
      if (opts.json) ctx.json(p);
      else printPolicy(p);
    });
  policy
    .command('set')
    .description('change the policy; options not given keep their value')
    .addOption(new Option('--mode <mode>', 'who may ask').choices(['open', 'invite_only', 'closed']))
    .option('--allowed <list>', 'comma list of allowed instances (replaces the list; "" clears it)')
    .option('--blocked <list>', 'comma list of blocked instances (replaces the list; "" clears it)')
    .addOption(new Option('--legacy <on|off>', 'allow legacy v1 peerings').choices(['on', 'off']))
    .option('--unfederated <list>', 'comma list of numbers never federated, e.g. 110,112,9*')
    .addOption(jsonOption())
    .action(
      async (
        opts: {
          mode?: Policy['mode'];
          allowed?: string;
          blocked?: string;
          legacy?: 'on' | 'off';
          unfederated?: string;
          json?: boolean;
        },
        cmd: Command,
      ) => {
        const client = ctx.api(cmd);
        const current = await client.request<Policy>('GET', '/federation/policy');
        const next: Policy = {
          mode: opts.mode ?? current.mode,
          allowed_peers: opts.allowed === undefined ? current.allowed_peers : splitList(opts.allowed),
          blocked_peers: opts.blocked === undefined ? current.blocked_peers : splitList(opts.blocked),
          allow_legacy: opts.legacy === undefined ? current.allow_legacy : opts.legacy === 'on',
          unfederated_numbers:
            opts.unfederated === undefined ? current.unfederated_numbers : splitList(opts.unfederated),
        };
        const r = await client.request<PolicyChangeReport>('PUT', '/federation/policy', next);
        if (opts.json) return ctx.json(r);
        printPolicy(r.policy);
        for (const a of r.affected_peers)
          ctx.note(`warning: peer '${a.name}' would not be admitted now: ${a.reason}`);
      },
    );
}
