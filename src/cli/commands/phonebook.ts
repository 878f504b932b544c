import type { Command } from 'commander';
import type { PartnerPhonebookView } from '../api-types';
import { type CliContext, jsonOption } from '../context';
import { EXIT_FAILED } from '../exit-codes';
import { resolvePeer } from '../resolve';
import { textTable } from '../text-table';

export function registerPhonebook(program: Command, ctx: CliContext): void {
  program
    .command('phonebook')
    .description(
      "our partners' public numbers as a local phone dials them (our prefix + extension); exit 1 if a partner could not be read",
    )
    .option('--peer <peer>', 'only this peer (id or name)')
    .option('--refresh', 'fetch now instead of using the cached copy')
    .addOption(jsonOption())
    .action(async (opts: { peer?: string; refresh?: boolean; json?: boolean }, cmd: Command) => {
      const client = ctx.api(cmd);
      const query = opts.refresh ? '?refresh=true' : '';
      let books: PartnerPhonebookView[];
      if (opts.peer) {
        const p = await resolvePeer(client, opts.peer);
        books = [
          await client.request<PartnerPhonebookView>(
            'GET',
            `/federation/peers/${encodeURIComponent(p.id)}/phonebook${query}`,
          ),
        ];
      } else {
        books = (
          await client.request<{ phonebooks: PartnerPhonebookView[] }>('GET', `/federation/phonebook${query}`)
        ).phonebooks;
      }
      if (books.some((b) => b.error !== null)) ctx.exitCode = EXIT_FAILED;
      if (opts.json) return ctx.json(opts.peer ? books[0] : { phonebooks: books });
      ctx.out(
        textTable(
          ['DIAL', 'NAME', 'PARTNER', 'EXTENSION'],
          books.flatMap((b) => b.entries.map((e) => [e.dial, e.name, b.peer.name, e.extension])),
        ),
      );
      for (const b of books.filter((x) => x.error !== null)) ctx.note(`partner '${b.peer.name}': ${b.error}`);
    });
}
