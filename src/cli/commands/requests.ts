import { type Command, Option } from 'commander';
import { CODECS } from '../../config/schema';
import type { IncomingRequestView, OutgoingRequestView, PeerView } from '../api-types';
import { type CliContext, jsonOption } from '../context';
import { resolveIncoming, resolveOutgoing } from '../resolve';
import { textTable } from '../text-table';

export function registerRequests(program: Command, ctx: CliContext): void {
  const requests = program
    .command('requests')
    .alias('request')
    .description('peering requests, outgoing and incoming (by id or name)');
  requests
    .command('list')
    .description('list outgoing and incoming requests')
    .addOption(jsonOption())
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const client = ctx.api(cmd);
      const [o, i] = await Promise.all([
        client.request<{ requests: OutgoingRequestView[] }>('GET', '/federation/outgoing-requests'),
        client.request<{ requests: IncomingRequestView[] }>('GET', '/federation/incoming-requests'),
      ]);
      if (opts.json) return ctx.json({ outgoing: o.requests, incoming: i.requests });
      ctx.out('Outgoing:\n');
      ctx.out(
        textTable(
          ['ID', 'NAME', 'PARTNER', 'PREFIX', 'CODEC', 'DIALECT', 'STATE', 'WHY'],
          o.requests.map((r) => [
            r.id,
            r.name,
            r.partner_url,
            r.prefix,
            r.codec,
            r.dialect,
            r.state,
            r.decline_reason ?? r.last_error,
          ]),
        ),
      );
      ctx.out('\nIncoming:\n');
      ctx.out(
        textTable(
          ['ID', 'NAME', 'PARTNER', 'CODEC', 'DIALECT', 'STATE', 'PARTNER KEY'],
          i.requests.map((r) => [
            r.id,
            r.name,
            r.partner_url,
            r.codec,
            r.dialect,
            r.state,
            r.partner_key_fingerprint,
          ]),
        ),
      );
    });
  requests
    .command('create')
    .description('ask a partner instance to peer')
    .requiredOption('--name <name>', 'peering name, shared by both sides ([A-Za-z0-9_]{1,32})')
    .requiredOption('--partner-url <url>', "partner's web address, e.g. https://pbx.example.org")
    .requiredOption('--prefix <digits>', 'our dial prefix for the partner')
    .addOption(new Option('--codec <codec>', 'codec').choices([...CODECS]).makeOptionMandatory())
    .addOption(new Option('--dialect <dialect>', 'protocol').choices(['auto', 'v2', 'v1']).default('auto'))
    .addOption(jsonOption())
    .action(
      async (
        opts: {
          name: string;
          partnerUrl: string;
          prefix: string;
          codec: string;
          dialect: string;
          json?: boolean;
        },
        cmd: Command,
      ) => {
        const r = await ctx.api(cmd).request<OutgoingRequestView>('POST', '/federation/outgoing-requests', {
          name: opts.name,
          partner_url: opts.partnerUrl,
          prefix: opts.prefix,
          codec: opts.codec,
          dialect: opts.dialect,
        });
        if (opts.json) return ctx.json(r);
        ctx.out(`request ${r.id} '${r.name}' ${r.state} (${r.dialect})\n`);
        if (r.dialect === 'v1') ctx.note('note: legacy v1 peering; the IAX2 secret travels in clear');
      },
    );
  requests
    .command('accept <request>')
    .description('accept an incoming request (by id or name)')
    .requiredOption('--prefix <digits>', 'our dial prefix for the partner')
    .option('--local-only', "don't tell the partner (it is gone): only this side holds the peer")
    .addOption(jsonOption())
    .action(
      async (ref: string, opts: { prefix: string; localOnly?: boolean; json?: boolean }, cmd: Command) => {
        const client = ctx.api(cmd);
        const r = await resolveIncoming(client, ref);
        const p = await client.request<PeerView>(
          'POST',
          `/federation/incoming-requests/${encodeURIComponent(r.id)}/accept`,
          { prefix: opts.prefix, ...(opts.localOnly ? { local_only: true } : {}) },
        );
        if (opts.json) return ctx.json(p);
        ctx.out(
          `accepted: peer '${p.name}' (${p.id}) with prefix ${p.prefix}${opts.localOnly ? ' (local side only)' : ''}\n`,
        );
      },
    );
  requests
    .command('decline <request>')
    .description('decline an incoming request (by id or name)')
    .option('--local-only', "don't tell the partner")
    .option('--reason <text>', 'reason given to the partner')
    .action(async (ref: string, opts: { localOnly?: boolean; reason?: string }, cmd: Command) => {
      const client = ctx.api(cmd);
      const r = await resolveIncoming(client, ref);
      await client.request('POST', `/federation/incoming-requests/${encodeURIComponent(r.id)}/decline`, {
        ...(opts.localOnly ? { local_only: true } : {}),
        ...(opts.reason ? { reason: opts.reason } : {}),
      });
      ctx.out(`declined '${r.name}' (${r.id})\n`);
    });
  requests
    .command('revoke <request>')
    .description('revoke an outgoing request (by id or name)')
    .option('--local-only', "don't tell the partner")
    .action(async (ref: string, opts: { localOnly?: boolean }, cmd: Command) => {
      const client = ctx.api(cmd);
      const r = await resolveOutgoing(client, ref);
      await client.request(
        'DELETE',
        `/federation/outgoing-requests/${encodeURIComponent(r.id)}${opts.localOnly ? '?local_only=true' : ''}`,
      );
      ctx.out(`revoked '${r.name}' (${r.id})\n`);
    });
}
