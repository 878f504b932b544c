import type { Command } from 'commander';
import { type CliContext, jsonOption } from '../context';
import { CliError, EXIT_USAGE } from '../exit-codes';

interface AdoptOptions {
  appDb?: string;
  asteriskDb?: string;
  uuruEnv?: string;
  dryRun?: boolean;
  undo?: boolean;
  wait: string;
  json?: boolean;
}

/**
 * `uuru-fed adopt`: takes over a running stock µURU's federation (see
 * src/adopt). Works on the sidecar's database directly, as `admin create`
 * does, and on µURU's two databases; with the files backend it waits for
 * the running sidecar to make the imported peers live before removing
 * µURU's rows.
 */
export function registerAdopt(program: Command, ctx: CliContext): void {
  program
    .command('adopt')
    .description(
      "import a running µURU's peerings and pending requests (v1, same names, prefixes, secrets, codecs) and take over its Asterisk rows",
    )
    .option(
      '--app-db <url>',
      "µURU's application database (postgresql://user:pw@host:5432/db or mysql://...)",
    )
    .option('--asterisk-db <url>', "µURU's Asterisk realtime database (mysql://user:pw@host:3306/db)")
    .option(
      '--uuru-env <file>',
      "µURU's .env file: its UURU_DATABASE_* and UURU_ASTERISK_DATABASE_* settings name the two databases",
    )
    .option(
      '--dry-run',
      'print the plan (what is imported, which rows are taken over, conflicts); change nothing',
    )
    .option('--undo', 'give the Asterisk rows back to µURU as it writes them and forget the adopted records')
    .option(
      '--wait <seconds>',
      'files backend: how long to wait for the sidecar to make the peers live',
      '120',
    )
    .addOption(jsonOption())
    .action(async (opts: AdoptOptions, cmd: Command) => {
      if (!opts.appDb && !opts.asteriskDb && !opts.uuruEnv)
        throw new CliError('adopt: give --uuru-env, or --app-db and --asterisk-db', EXIT_USAGE);
      if (opts.dryRun && opts.undo)
        throw new CliError('adopt: --dry-run and --undo exclude each other', EXIT_USAGE);
      const waitMs = Number(opts.wait) * 1000;
      if (!Number.isFinite(waitMs) || waitMs < 0)
        throw new CliError('--wait: a number of seconds', EXIT_USAGE);
      const { runAdopt } = await import('../local-adopt');
      await runAdopt(ctx, cmd, { ...opts, waitMs });
    });
}
