import { type Command, Option } from 'commander';
import type { DeliveryView, RetryDeliveriesResponse } from '../api-types';
import { type CliContext, jsonOption } from '../context';
import { EXIT_FAILED } from '../exit-codes';
import { textTable } from '../text-table';

export function registerOutbox(program: Command, ctx: CliContext): void {
  const outbox = program.command('outbox').description('notifications to partners waiting for delivery');
  outbox
    .command('list')
    .description('list pending deliveries and the latest ones given up (never their bodies)')
    .addOption(new Option('--state <state>', 'only these').choices(['pending', 'failed']))
    .addOption(jsonOption())
    .action(async (opts: { state?: string; json?: boolean }, cmd: Command) => {
      const r = await ctx
        .api(cmd)
        .request<{ deliveries: DeliveryView[] }>(
          'GET',
          `/federation/outbox${opts.state ? `?state=${opts.state}` : ''}`,
        );
      if (opts.json) return ctx.json(r);
      ctx.out(
        textTable(
          ['KIND', 'PARTNER', 'PEER', 'STATE', 'ATTEMPTS', 'NEXT ATTEMPT', 'LAST ERROR'],
          r.deliveries.map((d) => [
            d.kind,
            d.partner,
            d.peer_name,
            d.state,
            d.attempts,
            d.next_attempt_at,
            d.last_error,
          ]),
        ),
      );
    });
  outbox
    .command('retry')
    .description('try every pending delivery now; exit 1 if some are still waiting afterwards')
    .addOption(jsonOption())
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const r = await ctx.api(cmd).request<RetryDeliveriesResponse>('POST', '/federation/outbox/retry', {});
      if (r.pending > 0) ctx.exitCode = EXIT_FAILED;
      if (opts.json) return ctx.json(r);
      ctx.out(`tried ${r.attempted}, delivered ${r.delivered}, ${r.pending} still waiting\n`);
    });
}
