import readline from 'node:readline';
import { CliError, EXIT_USAGE } from './exit-codes';

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

/**
 * Asks before something that cannot be undone: on a terminal a y/N question;
 * `--yes` skips it; without a terminal and without --yes the command is
 * refused (a script must say what it means), CLI_CONFIRMATION_REQUIRED.
 */
export async function confirm(
  question: string,
  opts: { yes?: boolean; stdin: NodeJS.ReadStream; stderr: NodeJS.WriteStream },
): Promise<boolean> {
  if (opts.yes) return true;
  if (!opts.stdin.isTTY) {
    throw new CliError(
      'CLI_CONFIRMATION_REQUIRED: standard input is not a terminal, so nobody can confirm; pass --yes to go ahead',
      EXIT_USAGE,
      'CLI_CONFIRMATION_REQUIRED',
    );
  }
  const rl = readline.createInterface({ input: opts.stdin, output: opts.stderr, terminal: true });
  const answer = await new Promise<string>((resolve) => rl.question(`${question} [y/N] `, resolve));
  rl.close();
  return /^y(es)?$/i.test(answer.trim());
}
