/**
 * Exit codes of uuru-fed, stable for scripts:
 *   0  done (for test-call: the call was answered)
 *   1  refused or failed: the server answered with an error, could not be
 *      reached, or a test call was not answered
 *   2  usage or configuration error: bad arguments, invalid config, no token
 */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT_FAILED,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'CliError';
  }
}
