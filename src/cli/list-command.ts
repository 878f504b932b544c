import type { Command } from 'commander';
import { type CliContext, jsonOption } from './context';
import { textTable } from './text-table';

/**
 * Adds a `list` subcommand that reads `path` from the admin API and prints the
 * answer as it came with --json, else the items under `key` as a table: one
 * row each, `row` giving its cells under `headers`.
 */
export function addListCommand<K extends string, T>(
  parent: Command,
  ctx: CliContext,
  spec: {
    description: string;
    path: string;
    key: K;
    headers: string[];
    row: (item: T) => (string | number | null | undefined)[];
  },
): Command {
  return parent
    .command('list')
    .description(spec.description)
    .addOption(jsonOption())
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const r = await ctx.api(cmd).request<Record<K, T[]>>('GET', spec.path);
      if (opts.json) return ctx.json(r);
      ctx.out(textTable(spec.headers, r[spec.key].map(spec.row)));
    });
}
