import readline from 'node:readline';
import type { Config } from '../config/schema';
import { systemClock } from '../core/clock';
import { errorMessage, isAppError } from '../core/errors';
import { createAdminUser } from '../http/admin/admin-users';
import { createApiToken } from '../http/admin/api-tokens';
import { openDatabase } from '../store/data-source';
import { CliError, EXIT_FAILED, EXIT_USAGE } from './exit-codes';

/**
 * `admin create` and `token create` work on the configured database
 * directly: they are what an operator needs before any token exists, and
 * they only touch the admin tables (the running sidecar reads them per
 * request, so no restart is needed).
 */

async function withDatabase<T>(
  config: Config,
  run: (db: Awaited<ReturnType<typeof openDatabase>>) => Promise<T>,
): Promise<T> {
  let db;
  try {
    // Only the admin tables are touched: no key-encryption secret is needed (nor a key file made where the CLI runs).
    db = await openDatabase(config, { secrets: false });
  } catch (e) {
    throw new CliError(
      `cannot open the ${config.database.type} database: ${errorMessage(e)}`,
      EXIT_FAILED,
      'FED_UNAVAILABLE',
    );
  }
  try {
    return await run(db);
  } catch (e) {
    if (isAppError(e))
      throw new CliError(`${e.code}: ${e.message}`, e.status === 400 ? EXIT_USAGE : EXIT_FAILED, e.code);
    throw e;
  } finally {
    await db.destroy();
  }
}

export async function createAdmin(
  config: Config,
  input: { username: string; password: string; replace: boolean },
): Promise<{ id: string; username: string; created: boolean }> {
  return withDatabase(config, (db) => createAdminUser(db, systemClock, input));
}

export async function createToken(
  config: Config,
  name: string,
): Promise<{ id: string; name: string; token: string }> {
  return withDatabase(config, (db) => createApiToken(db, systemClock, name));
}

/** The password from standard input: prompted without echo on a terminal, else the first line. */
export async function readPassword(stdin: NodeJS.ReadStream, stderr: NodeJS.WriteStream): Promise<string> {
  if (stdin.isTTY) {
    const first = await promptHidden('Password: ', stdin, stderr);
    const second = await promptHidden('Repeat password: ', stdin, stderr);
    if (first !== second) throw new CliError('the two passwords differ', EXIT_USAGE);
    return first;
  }
  let data = '';
  for await (const chunk of stdin) {
    data += String(chunk);
    if (data.includes('\n') || data.length > 4096) break;
  }
  const line = data.split(/\r?\n/)[0] ?? '';
  if (line.length === 0) throw new CliError('no password on standard input', EXIT_USAGE);
  return line;
}

function promptHidden(
  question: string,
  stdin: NodeJS.ReadStream,
  stderr: NodeJS.WriteStream,
): Promise<string> {
  return new Promise((resolve) => {
    const rl = readline.createInterface({ input: stdin, output: stderr, terminal: true });
    const out = rl as unknown as { _writeToOutput: (s: string) => void };
    let muted = false;
    out._writeToOutput = (s: string) => {
      if (!muted) stderr.write(s);
    };
    rl.question(question, (answer) => {
      rl.close();
      stderr.write('\n');
      resolve(answer);
    });
    muted = true;
  });
}
