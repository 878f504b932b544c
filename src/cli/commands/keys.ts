import type { Command } from 'commander';
import type { KeyView } from '../api-types';
import { type CliContext, jsonOption } from '../context';
import { textTable } from '../text-table';

export function registerKeys(program: Command, ctx: CliContext): void {
  const key = program.command('key').alias('keys').description('our signing and agreement keys');
  const printKeys = (keys: KeyView[]) =>
    ctx.out(
      textTable(
        ['KID', 'ALG', 'STATUS', 'FINGERPRINT', 'EXPIRES'],
        keys.map((k) => [k.kid, k.alg, k.status, k.fingerprint, k.expires_at]),
      ),
    );
  key
    .command('show')
    .alias('list')
    .description('list our keys with their fingerprints')
    .addOption(jsonOption())
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const r = await ctx.api(cmd).request<{ keys: KeyView[] }>('GET', '/federation/keys');
      if (opts.json) ctx.json(r);
      else printKeys(r.keys);
    });
  key
    .command('rotate')
    .description('start a key rotation')
    .addOption(jsonOption())
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const r = await ctx.api(cmd).request<{ keys: KeyView[] }>('POST', '/federation/keys/rotate', {});
      if (opts.json) ctx.json(r);
      else printKeys(r.keys);
    });
}
