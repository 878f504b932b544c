import { ConfigError, loadConfig } from './config/load-config';
import type { Config } from './config/schema';

/**
 * The container's health check (Dockerfile HEALTHCHECK): GET /healthz on the
 * federation listener the configuration names, read the way the sidecar reads
 * it (UURU_HTTP_LISTEN, else the UURU_CONFIG_FILE file, else the default), so
 * a port moved by either is followed without editing the image. Exit 0 when it
 * answers 200, 1 otherwise, with one line on stderr saying why (Docker keeps
 * it in `docker inspect`'s health log).
 */

/** Where the probe connects: a wildcard bind is reached on the loopback address of its family. */
export function healthUrl(listener: Config['http']['federation']): string {
  const { host, port } = listener;
  const target = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${target.includes(':') ? `[${target}]` : target}:${port}/healthz`;
}

export async function probe(
  env?: NodeJS.ProcessEnv,
  timeoutMs = 2500,
): Promise<{ ok: boolean; line: string }> {
  let url: string;
  try {
    url = healthUrl(loadConfig({ env }).http.federation);
  } catch (e) {
    if (e instanceof ConfigError)
      return { ok: false, line: `invalid configuration: ${e.problems.join('; ')}` };
    throw e;
  }
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await res.body?.cancel();
    return { ok: res.status === 200, line: `${url}: HTTP ${res.status}` };
  } catch (e) {
    // fetch says only "fetch failed"; the reason (ECONNREFUSED, "bad port", a timeout) is its cause
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    return { ok: false, line: `${url}: ${cause?.code ?? cause?.message ?? (e as Error).message}` };
  }
}

if (require.main === module) {
  probe()
    .then(({ ok, line }) => {
      (ok ? process.stdout : process.stderr).write(`${line}\n`);
      process.exit(ok ? 0 : 1);
    })
    .catch((e: unknown) => {
      process.stderr.write(`${(e as Error).message}\n`);
      process.exit(1);
    });
}
