import { type Command, Option } from 'commander';
import { ConfigError, loadConfig } from '../config/load-config';
import type { Config } from '../config/schema';
import { type AdminApiClient, clientFor } from './admin-api-client';
import { CliError, EXIT_USAGE } from './exit-codes';

export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WriteStream;
  stdin: NodeJS.ReadStream;
}

/** Every line the CLI writes to standard error starts with this: errors, warnings and notes alike. */
export const PREFIX = 'uuru-fed: ';

interface GlobalOptions {
  url?: string;
  token?: string;
}

/** What every command group gets: the streams, the configuration (read once, on first use), the admin API. */
export class CliContext {
  private loaded: Config | null = null;
  exitCode = 0;

  constructor(readonly io: CliIo) {}

  config(): Config {
    if (this.loaded) return this.loaded;
    try {
      this.loaded = loadConfig();
      return this.loaded;
    } catch (e) {
      if (e instanceof ConfigError)
        throw new CliError(`invalid configuration:\n${e.problems.join('\n')}`, EXIT_USAGE);
      throw e;
    }
  }

  /** The admin API of the running instance (--url/--token, UURU_ADMIN_URL/UURU_ADMIN_TOKEN, or the configured listener). */
  api(cmd: Command): AdminApiClient {
    return clientFor(this.config(), cmd.optsWithGlobals<GlobalOptions>());
  }

  out(s: string): void {
    this.io.stdout.write(s);
  }

  json(v: unknown): void {
    this.out(JSON.stringify(v, null, 2) + '\n');
  }

  /** A line on standard error (a warning or a note), with the CLI's prefix. */
  note(s: string): void {
    this.io.stderr.write(`${PREFIX}${s}\n`);
  }
}

/** Comma list; only spaces around entries go: a tab or newline stays in the entry and the API refuses it. */
export const splitList = (v: string): string[] =>
  v
    .split(',')
    .map((s) => s.replace(/^ +| +$/g, ''))
    .filter((s) => s.length > 0);

export const jsonOption = (): Option => new Option('--json', 'print JSON for scripts');
