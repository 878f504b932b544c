import { Command, CommanderError } from 'commander';
import { errorMessage } from '../core/errors';
import { PACKAGE_VERSION } from '../core/version';
import { registerAccounts } from './commands/accounts';
import { registerAdopt } from './commands/adopt';
import { registerAsterisk } from './commands/asterisk';
import { registerCompletion } from './commands/completion';
import { registerDoctor } from './commands/doctor';
import { registerKeys } from './commands/keys';
import { registerOutbox } from './commands/outbox';
import { registerPartners } from './commands/partners';
import { registerPeers } from './commands/peers';
import { registerPhonebook } from './commands/phonebook';
import { registerPolicy } from './commands/policy';
import { registerRequests } from './commands/requests';
import { registerStatus } from './commands/status';
import { CliContext, type CliIo, PREFIX } from './context';
import { CliError, EXIT_FAILED, EXIT_OK, EXIT_USAGE } from './exit-codes';

export type { CliIo } from './context';

const EXIT_CODES_HELP = `
Exit codes:
  0  done (test-call: the call was answered)
  1  refused or failed (server error, unreachable instance, unanswered test call,
     a reconcile that could not run or left peers unverified, a partner's
     phonebook that could not be read, deliveries still waiting after outbox retry,
     a teardown not confirmed)
  2  usage or configuration error (bad arguments, invalid config, no token,
     a destructive command without --yes when standard input is not a terminal)

admin create and token create work on the configured database directly
(UURU_DATA_DIR or UURU_DATABASE_* and the config file, as the sidecar reads
them; they say which database and never create one unless given --init).
Every other command talks to a running instance's admin API: --url or
UURU_ADMIN_URL (default: the configured admin listener) and --token or
UURU_ADMIN_TOKEN. Errors and notes on standard error start with "${PREFIX}".`;

/** The command tree: one file per command group under ./commands. */
export function buildProgram(ctx: CliContext): Command {
  const program = new Command('uuru-fed');
  program
    .description('Administer a uuru-federation sidecar: status, peers, requests, policy, keys, accounts.')
    .version(PACKAGE_VERSION, '-V, --version', 'print the version')
    .option('--url <url>', 'admin API address of the running instance (env UURU_ADMIN_URL)')
    .option('--token <token>', 'API token (env UURU_ADMIN_TOKEN)')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => ctx.io.stdout.write(s),
      writeErr: (s) => ctx.io.stderr.write(s),
      // Commander's own errors ("error: unknown command ...") get the one prefix too.
      outputError: (s, write) => write(s.replace(/^error: /, PREFIX).replace(/^(?!uuru-fed: )/, PREFIX)),
    })
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', EXIT_CODES_HELP);

  registerStatus(program, ctx);
  registerDoctor(program, ctx);
  registerPeers(program, ctx);
  registerRequests(program, ctx);
  registerPolicy(program, ctx);
  registerKeys(program, ctx);
  registerAsterisk(program, ctx);
  registerPhonebook(program, ctx);
  registerOutbox(program, ctx);
  registerPartners(program, ctx);
  registerAccounts(program, ctx);
  registerAdopt(program, ctx);
  registerCompletion(program, ctx);
  return program;
}

/** Runs the CLI and returns the exit code. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const ctx = new CliContext(io);
  const program = buildProgram(ctx);
  try {
    await program.parseAsync(argv);
    return ctx.exitCode;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.exitCode === 0)
        return EXIT_OK;
      return EXIT_USAGE;
    }
    const prefixed = (message: string) =>
      message
        .split('\n')
        .map((l) => `${PREFIX}${l}\n`)
        .join('');
    if (e instanceof CliError) {
      io.stderr.write(prefixed(e.message));
      return e.exitCode;
    }
    io.stderr.write(prefixed(errorMessage(e)));
    return EXIT_FAILED;
  }
}
