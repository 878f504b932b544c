// First: V8 settings that must be in place before the heap grows.
import './runtime-memory';
import 'reflect-metadata';
import { ConfigError, loadConfigWithWarnings, type LoadedConfig } from './config/load-config';
import { buildApp } from './app';
import { errorMessage } from './core/errors';

async function main(): Promise<void> {
  let loaded: LoadedConfig;
  try {
    loaded = loadConfigWithWarnings();
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`uuru-federation: invalid configuration\n${e.problems.join('\n')}\n`);
      process.exit(2);
    }
    throw e;
  }
  const app = buildApp(loaded.config);
  // Once, before anything else is logged: a misspelt or deprecated variable explains what follows.
  for (const w of loaded.warnings) app.logger.warn(w.message, { component: 'config', setting: w.setting });
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
