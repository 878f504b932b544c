import 'reflect-metadata';
import { ConfigError, loadConfig } from './config/load-config';
import { buildApp } from './app';
import { errorMessage } from './core/errors';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`uuru-federation: invalid configuration\n${e.problems.join('\n')}\n`);
      process.exit(2);
    }
    throw e;
  }
  const app = buildApp(config);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.logger.info('stopping', { component: 'main', signal });
    app
      .stop()
      .then(() => process.exit(0))
      .catch((e) => {
        app.logger.error('stop failed', { component: 'main', error: errorMessage(e) });
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  await app.start();
}

main().catch((e) => {
  process.stderr.write(`uuru-federation: ${errorMessage(e)}\n`);
  process.exit(1);
});
