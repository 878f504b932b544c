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
  listAndRevoke<AdminUserView>(admin, ctx, {
    collection: 'admins',
    listDescription: 'list the panel admins',
    columns: ['ID', 'USERNAME', 'CREATED'],
    row: (a) => [a.id, a.username, a.created_at],
    revokeDescription: 'delete a panel admin (by id or username); their panel sessions end at once',
    revokeAliases: ['delete'],
    nameOf: (a) => a.username,
    notFound: { code: 'ADMIN_NOT_FOUND', what: 'admin', list: 'admin list' },
    done: 'deleted',
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
  listAndRevoke<ApiTokenView>(token, ctx, {
    collection: 'tokens',
    listDescription: 'list the stored API tokens (names and times; a token cannot be shown again)',
    columns: ['ID', 'NAME', 'CREATED', 'LAST USED'],
    row: (t) => [t.id, t.name, t.created_at, t.last_used_at],
    revokeDescription: 'revoke an API token (by id or name); requests with it are refused from then on',
    revokeAliases: [],
    nameOf: (t) => t.name,
    notFound: { code: 'TOKEN_NOT_FOUND', what: 'token', list: 'token list' },
    done: 'revoked',
  });
}

/**
 * `list` and `revoke` of one kind of account (admins, tokens) on the admin
 * API: the collection at /<collection>, an item deleted at /<collection>/<id>
 * and named by id or by its name.
 */
function listAndRevoke<T extends { id: string }>(
  group: Command,
  ctx: CliContext,
  kind: {
    collection: 'admins' | 'tokens';
    listDescription: string;
    columns: string[];
    row: (item: T) => (string | null)[];
    revokeDescription: string;
    revokeAliases: string[];
    nameOf: (item: T) => string;
    notFound: Parameters<typeof pick>[3];
    done: string;
  },
): void {
  const path = `/${kind.collection}`;
  const read = (client: ReturnType<CliContext['api']>) =>
    client.request<Record<typeof kind.collection, T[]>>('GET', path);
  group
    .command('list')
    .description(kind.listDescription)
    .addOption(jsonOption())
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const r = await read(ctx.api(cmd));
      if (opts.json) return ctx.json(r);
      ctx.out(textTable(kind.columns, r[kind.collection].map(kind.row)));
    });
  group
    .command(`revoke <${kind.notFound.what}>`)
    .aliases(kind.revokeAliases)
    .description(kind.revokeDescription)
    .action(async (ref: string, _opts: unknown, cmd: Command) => {
      const client = ctx.api(cmd);
      const items = (await read(client))[kind.collection];
      const item = pick(items, ref, (x) => [kind.nameOf(x)], kind.notFound);
      await client.request('DELETE', `${path}/${encodeURIComponent(item.id)}`);
      ctx.out(`${kind.notFound.what} '${kind.nameOf(item)}' ${kind.done}\n`);
    });
}
