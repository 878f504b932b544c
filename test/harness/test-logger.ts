import { PassThrough } from 'node:stream';
import { createLogger, type Logger } from '../../src/logging/logger';

/**
 * A real (winston, JSON, redacting) logger whose output is kept in memory, so
 * tests can assert what was logged and that no secret was. Set
 * UURU_TEST_LOG=1 to also see the lines on stderr.
 */
export function captureLogger(level = 'debug'): { logger: Logger; text: () => string } {
  const stream = new PassThrough();
  const chunks: string[] = [];
  stream.on('data', (c: Buffer) => {
    chunks.push(c.toString());
    if (process.env.UURU_TEST_LOG === '1') process.stderr.write(c);
  });
  const logger = createLogger({ level, format: 'json', stream });
  return { logger, text: () => chunks.join('') };
}
