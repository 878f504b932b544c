import type { Command } from 'commander';
import type { AsteriskConfigView, ReconcileResponse } from '../api-types';
import { type CliContext, jsonOption } from '../context';
import { CliError, EXIT_FAILED, EXIT_USAGE } from '../exit-codes';

export function registerAsterisk(program: Command, ctx: CliContext): void {
  const reconcile = async (opts: { json?: boolean; changedOnly?: boolean }, cmd: Command) => {
    const r = await ctx
      .api(cmd)
      .request<ReconcileResponse>('POST', '/reconcile', opts.changedOnly ? { verify: 'changed' } : {});
    if (r.result !== 'disabled' && !r.ok) ctx.exitCode = EXIT_FAILED;
    if (opts.json) return ctx.json(r);
    if (r.result === 'disabled') {
      ctx.out(`${r.error ?? 'Asterisk integration is disabled: there is nothing to reconcile'}\n`);
      return;
    }
    if (r.result === 'not_run') {
      ctx.note(`reconcile did not run: ${r.error ?? 'unknown reason'}`);
      return;
    }
    const reloads = r.reloaded.length ? `, reloaded ${r.reloaded.join(', ')}` : ', no reload';
    ctx.out(
      `reconciled: ${r.changes.length} change(s)${reloads}, ${r.verified.length} peer(s) verified (AMI ${r.asterisk.ami}, ARI ${r.asterisk.ari})\n`,
    );
    for (const c of r.changes) ctx.out(`  ${c.action.padEnd(6)} ${c.object}\n`);
    for (const f of r.failed) ctx.note(`not verified: ${f.name}: ${f.error}`);
    for (const p of r.problems) ctx.note(`problem: ${p}`);
  };
  const reconcileHelp =
    'bring Asterisk in line with the database now and print what changed; exit 1 unless every peer verified';
  const changedOnly = [
    '--changed-only',
    'read back only what may have changed (quicker; misses dial plan edits made on the Asterisk CLI)',
  ] as const;

  program
    .command('reconcile')
    .description(reconcileHelp)
    .option(...changedOnly)
    .addOption(jsonOption())
    .action(reconcile);

  const asterisk = program.command('asterisk').description('what the sidecar writes into Asterisk');
  asterisk
    .command('config')
    .description(
      'print the Asterisk configuration the sidecar generates from its peers (IAX2 secrets replaced)',
    )
    .option('--file <name>', 'only this file (iax or extensions, or its full name)')
    .addOption(jsonOption())
    .action(async (opts: { file?: string; json?: boolean }, cmd: Command) => {
      const r = await ctx.api(cmd).request<AsteriskConfigView>('GET', '/asterisk/config');
      let files = r.files;
      if (opts.file) {
        const want = opts.file;
        files = files.filter((f) => f.name === want || f.name.split(/[- ]/)[0] === want);
        if (files.length !== 1)
          throw new CliError(
            `--file ${want}: choose one of ${r.files.map((f) => f.name.split(' ')[0]).join(', ')}`,
            EXIT_USAGE,
          );
      }
      if (opts.json) return ctx.json({ ...r, files });
      if (!r.enabled)
        ctx.note(
          'Asterisk integration is disabled in this instance: nothing is written; this is what would be',
        );
      for (const f of files) {
        if (files.length > 1) ctx.out(`;; ==> ${f.name} <==\n`);
        ctx.out(f.content.endsWith('\n') ? f.content : `${f.content}\n`);
      }
      for (const x of r.refused) ctx.note(`left out: peer '${x.name}': ${x.error}`);
    });
  asterisk
    .command('reconcile')
    .description(reconcileHelp)
    .option(...changedOnly)
    .addOption(jsonOption())
    .action(reconcile);
}
