import { type AsteriskInstance, startAsterisk } from '../test/harness/asterisk';
import { startSidecar, type Sidecar } from '../test/harness/sidecar';
import { deepMerge } from '../src/config/deep-merge';

export const LOCAL_CONTEXT = 'uuru-local';
export const TEST_EXTENSION = '9999';

/** A complete instance: a real Asterisk from the harness and a sidecar process managing it (files backend). */
export interface Instance {
  asterisk: AsteriskInstance;
  sidecar: Sidecar;
  stop(): Promise<void>;
}

export function asteriskConfig(
  ast: AsteriskInstance,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    instance: { extensionDigits: 4, iax2Port: ast.iaxPort },
    asterisk: {
      enabled: true,
      ami: { host: '127.0.0.1', port: ast.amiPort, user: ast.amiUser, password: ast.amiSecret },
      ari: { url: ast.ariUrl, user: ast.ariUser, password: ast.ariPassword, app: `uuru-bench-${ast.id}` },
      stateBackend: 'files',
      configDir: ast.configDir,
      localContext: LOCAL_CONTEXT,
      inboundTargetContext: LOCAL_CONTEXT,
      testExtension: TEST_EXTENSION,
      qualifyFreqOkMs: 2000,
      qualifyFreqNotOkMs: 1000,
      ...extra,
    },
  };
}

export async function startInstance(
  name: string,
  opts: {
    config?: Record<string, unknown>;
    asterisk?: Record<string, unknown>;
    /** 'build' runs dist/main.js as `npm start` does (see buildProduct). */
    entry?: 'source' | 'build';
  } = {},
): Promise<Instance> {
  const asterisk = await startAsterisk({
    name,
    extensionsConf: [`[${LOCAL_CONTEXT}]`, `include => ${LOCAL_CONTEXT}-federation`, ''].join('\n'),
  });
  try {
    const sidecar = await startSidecar({
      name,
      env: { UURU_ASTERISK_ENABLED: 'true' },
      config: deepMerge(asteriskConfig(asterisk, opts.asterisk), opts.config ?? {}),
      // The sources unless asked (the test harness's own default follows the build's age).
      entry: opts.entry ?? 'source',
    });
    return {
      asterisk,
      sidecar,
      async stop() {
        await sidecar.destroy().catch(() => undefined);
        await asterisk.stop();
      },
    };
  } catch (e) {
    await asterisk.stop();
    throw e;
  }
}
