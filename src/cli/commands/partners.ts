import type { Command } from 'commander';
import type { PartnerHealthView, PurgeQueueResponse } from '../api-types';
import { type CliContext, jsonOption } from '../context';
import { addListCommand } from '../list-command';

const seg = encodeURIComponent;

/** One partner as lines: outbound (our calls) and inbound (its calls) apart. */
function describePartner(p: PartnerHealthView): string {
  const o = p.outbound;
  const lines = [
    `partner         ${p.server_name}`,
    `peers           ${p.peers.join(', ') || '-'}`,
    `outbound        ${o.state}${o.consecutive_failures > 0 ? `, ${o.consecutive_failures} failures in a row on ${o.failure_days} day(s)` : ''}`,
    `  failing since ${o.failing_since ?? '-'}`,
    `  next attempt  ${o.next_attempt_at ?? '-'}`,
    `  last success  ${o.last_success_at ?? '-'}`,
    `  last error    ${o.last_error ?? '-'}`,
    ...(o.suspended_at ? [`  suspended     ${o.suspended_at}: ${o.suspended_reason ?? ''}`] : []),
    `inbound         last verified request ${p.inbound.last_verified_at ?? 'never'}`,
    `queue           ${p.queue.pending} pending${p.queue.paused ? `, paused since ${p.queue.paused_at ?? ''}` : ''}`,
  ];
  return `${lines.join('\n')}\n`;
}

export function registerPartners(program: Command, ctx: CliContext): void {
  const partners = program
    .command('partners')
    .description("partners' health (our calls to them, theirs to us) and their delivery queues");
  addListCommand<'partners', PartnerHealthView>(partners, ctx, {
    description: 'every partner with its outbound and inbound health',
    path: '/federation/partners',
    key: 'partners',
    headers: [
      'PARTNER',
      'OUTBOUND',
      'FAILURES',
      'FAILING SINCE',
      'NEXT ATTEMPT',
      'LAST SUCCESS',
      'INBOUND (LAST VERIFIED)',
      'QUEUE',
    ],
    row: (p) => [
      p.server_name,
      p.outbound.state,
      p.outbound.consecutive_failures,
      p.outbound.failing_since,
      p.outbound.next_attempt_at,
      p.outbound.last_success_at,
      p.inbound.last_verified_at,
      `${p.queue.pending} pending${p.queue.paused ? ', paused' : ''}`,
    ],
  });
  partners
    .command('show <partner>')
    .description('one partner (server name host[:port] or a peer id)')
    .addOption(jsonOption())
    .action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
      const r = await ctx.api(cmd).request<PartnerHealthView>('GET', `/federation/partners/${seg(id)}`);
      if (opts.json) return ctx.json(r);
      ctx.out(describePartner(r));
    });
  for (const [action, what] of [
    ['pause', "hold the partner's notifications (they stay pending) until resumed"],
    ['resume', "lift a pause and try the partner's notifications now"],
  ] as const) {
    partners
      .command(`${action} <partner>`)
      .description(what)
      .addOption(jsonOption())
      .action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
        const r = await ctx
          .api(cmd)
          .request<PartnerHealthView>('POST', `/federation/partners/${seg(id)}/queue/${action}`, {});
        if (opts.json) return ctx.json(r);
        ctx.out(describePartner(r));
      });
  }
  partners
    .command('purge <partner>')
    .description('give up every pending notification to the partner (kept as failed, "purged by an admin")')
    .addOption(jsonOption())
    .action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
      const r = await ctx
        .api(cmd)
        .request<PurgeQueueResponse>('POST', `/federation/partners/${seg(id)}/queue/purge`, {});
      if (opts.json) return ctx.json(r);
      ctx.out(`purged ${r.purged} notification(s) to ${r.partner.server_name}\n`);
    });
}
