import type { Command } from 'commander';
import type { DoctorReportView } from '../api-types';
import { type CliContext, jsonOption } from '../context';
import { CliError, EXIT_FAILED } from '../exit-codes';

/**
 * `uuru-fed doctor [--json] [--call]`: asks the running instance's admin API
 * (GET /api/admin/doctor) and prints each check with what to do. Exit 0 when
 * nothing failed (warnings do not fail), 1 when a check failed or the
 * instance could not answer.
 */

type CheckView = DoctorReportView['checks'][number];

const MARK: Record<CheckView['status'], string> = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL', skip: 'skip' };

export function renderDoctorText(r: DoctorReportView): string {
  const lines: string[] = [];
  for (const c of r.checks) {
    lines.push(`[${MARK[c.status]}] ${c.title}: ${c.detail}`);
    if (c.fix && (c.status === 'fail' || c.status === 'warn')) {
      for (const l of c.fix.split('\n')) lines.push(`       ${l}`);
    }
  }
  const count = (s: CheckView['status']) => r.checks.filter((c) => c.status === s).length;
  lines.push(
    '',
    `${r.status === 'fail' ? 'problems found' : r.status === 'warn' ? 'no failures, some warnings' : 'all good'}: ` +
      `${count('ok')} ok, ${count('warn')} warning(s), ${count('fail')} failed, ${count('skip')} skipped` +
      (r.calls ? '' : ' (add --call for a test call through every peer)'),
  );
  return lines.join('\n') + '\n';
}

export function registerDoctor(program: Command, ctx: CliContext): void {
  program
    .command('doctor')
    .description(
      'check the set-up (database, files, addresses, AMI/ARI, Asterisk config, partners) and say what to fix; exit 1 when a check fails',
    )
    .option('--call', "also place a test call through every peer (rings the partners' test extensions)")
    .addOption(jsonOption())
    .action(async (opts: { json?: boolean; call?: boolean }, cmd: Command) => {
      let r: DoctorReportView;
      try {
        r = await ctx.api(cmd).request<DoctorReportView>('GET', `/doctor${opts.call ? '?call=1' : ''}`);
      } catch (e) {
        // Until its database is up the instance answers every admin call with FED_UNAVAILABLE: that is a finding too.
        if (e instanceof CliError && e.code === 'FED_UNAVAILABLE') {
          throw new CliError(
            `${e.message}\nthe instance is starting or cannot reach its database: check UURU_DATABASE_* and the database server, and its log`,
            EXIT_FAILED,
            e.code,
          );
        }
        throw e;
      }
      if (r.status === 'fail') ctx.exitCode = EXIT_FAILED;
      if (opts.json) ctx.json(r);
      else ctx.out(renderDoctorText(r));
    });
}
