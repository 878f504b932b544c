import type { Command } from 'commander';
import type { AdminUserView, ApiTokenView } from '../api-types';
import { type CliContext, jsonOption } from '../context';
import { createAdmin, createToken } from '../local-database';
import { readPassword } from '../prompt';
import { pick } from '../resolve';
import { textTable } from '../text-table';

/**
 * Admin accounts and API tokens. `create` works on the database directly
 * (before any token exists); `list` and `revoke` go through the admin API.
 */
export function registerAccounts(program: Command, ctx: CliContext): void {
  const initOption = [
    '--init',
    'create the database if there is none yet (normally the sidecar does, at its first start)',
  ] as const;
  const say = (line: string) => ctx.note(line);

  const admin = program.command('admin').alias('admins').description('admin accounts of the web panel');
  admin
    .command('create <username>')
    .description(
      'create a panel admin on the database; the password is read from standard input (prompted without echo on a terminal)',
    )
    .option('--replace', 'set a new password if the admin exists')
    .option(...initOption)
    .addOption(jsonOption())
    .action(async (username: string, opts: { replace?: boolean; init?: boolean; json?: boolean }) => {
      const cfg = ctx.config();
      const password = await readPassword(ctx.io.stdin, ctx.io.stderr);
      const r = await createAdmin(
        cfg,
        { init: opts.init ?? false, say },
        { username, password, replace: opts.replace ?? false },
      );
      if (opts.json) ctx.json(r);
      else ctx.out(`admin '${r.username}' ${r.created ? 'created' : 'password replaced'}\n`);
    });
  admin
    .command('list')
    .description('list the panel admins')
    .addOption(jsonOption())
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const r = await ctx.api(cmd).request<{ admins: AdminUserView[] }>('GET', '/admins');
      if (opts.json) return ctx.json(r);
      ctx.out(
        textTable(
          ['ID', 'USERNAME', 'CREATED'],
          r.admins.map((a) => [a.id, a.username, a.created_at]),
        ),
      );
    });
  admin
    .command('revoke <admin>')
    .alias('delete')
    .description('delete a panel admin (by id or username); their panel sessions end at once')
    .action(async (ref: string, _opts: unknown, cmd: Command) => {
      const client = ctx.api(cmd);
      const { admins } = await client.request<{ admins: AdminUserView[] }>('GET', '/admins');
      const a = pick(admins, ref, (x) => [x.username], {
        code: 'ADMIN_NOT_FOUND',
        what: 'admin',
        list: 'admin list',
      });
      await client.request('DELETE', `/admins/${encodeURIComponent(a.id)}`);
      ctx.out(`admin '${a.username}' deleted\n`);
    });

  const token = program.command('token').alias('tokens').description('API tokens for scripts and the CLI');
  token
    .command('create <name>')
    .description('create an API token on the database; it is printed once and only its hash is stored')
    .option(...initOption)
    .addOption(jsonOption())
    .action(async (name: string, opts: { init?: boolean; json?: boolean }) => {
      const r = await createToken(ctx.config(), { init: opts.init ?? false, say }, name);
      if (opts.json) return ctx.json(r);
      ctx.out(`${r.token}\n`);
      ctx.note(`token '${r.name}' created; store it now, it is not shown again`);
    });
  token
    .command('list')
    .description('list the stored API tokens (names and times; a token cannot be shown again)')
    .addOption(jsonOption())
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const r = await ctx.api(cmd).request<{ tokens: ApiTokenView[] }>('GET', '/tokens');
      if (opts.json) return ctx.json(r);
      ctx.out(
        textTable(
          ['ID', 'NAME', 'CREATED', 'LAST USED'],
          r.tokens.map((t) => [t.id, t.name, t.created_at, t.last_used_at]),
        ),
      );
    });
  token
    .command('revoke <token>')
    .description('revoke an API token (by id or name); requests with it are refused from then on')
    .action(async (ref: string, _opts: unknown, cmd: Command) => {
      const client = ctx.api(cmd);
      const { tokens } = await client.request<{ tokens: ApiTokenView[] }>('GET', '/tokens');
      const t = pick(tokens, ref, (x) => [x.name], {
        code: 'TOKEN_NOT_FOUND',
        what: 'token',
        list: 'token list',
      });
      await client.request('DELETE', `/tokens/${encodeURIComponent(t.id)}`);
      ctx.out(`token '${t.name}' revoked\n`);
    });
}
