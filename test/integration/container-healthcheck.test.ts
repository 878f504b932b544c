import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { healthUrl } from '../../src/healthcheck';
import { freePort } from '../harness/ports';
import { type Sidecar, startSidecar } from '../harness/sidecar';

/**
 * The image's HEALTHCHECK (node dist/healthcheck.js, here its source under
 * ts-node) against a real running sidecar: it finds the listener from the
 * same settings the sidecar reads, so moving the port in UURU_HTTP_LISTEN or
 * in the config file needs no change to the image.
 */

const ROOT = path.resolve(__dirname, '..', '..');

function runHealthcheck(env: Record<string, string>): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['-r', 'ts-node/register/transpile-only', path.join(ROOT, 'src', 'healthcheck.ts')],
      { cwd: ROOT, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, timeout: 30_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, out: `${stdout}${stderr}` });
      },
    );
  });
}

describe('container health check', () => {
  let sidecar: Sidecar;
  let port: number;

  beforeAll(async () => {
    sidecar = await startSidecar({ name: 'healthcheck' });
    port = Number(new URL(sidecar.federationUrl).port);
  }, 90_000);

  afterAll(async () => {
    await sidecar?.destroy();
  });

  it('is healthy when UURU_HTTP_LISTEN names the running listener', async () => {
    const r = await runHealthcheck({ UURU_HTTP_LISTEN: `127.0.0.1:${port}` });
    expect(r).toEqual({ code: 0, out: `http://127.0.0.1:${port}/healthz: HTTP 200\n` });
  });

  it('follows the port of the config file, a wildcard bind probed on loopback', async () => {
    const file = path.join(sidecar.dataDir, 'healthcheck-config.json');
    fs.writeFileSync(file, JSON.stringify({ http: { federation: { host: '0.0.0.0', port } } }));
    const r = await runHealthcheck({ UURU_CONFIG_FILE: file });
    expect(r).toEqual({ code: 0, out: `http://127.0.0.1:${port}/healthz: HTTP 200\n` });
  });

  it('is unhealthy, saying why, when nothing listens on the configured port', async () => {
    const other = await freePort();
    const r = await runHealthcheck({ UURU_HTTP_LISTEN: `0.0.0.0:${other}` });
    expect(r.code).toBe(1);
    expect(r.out).toBe(`http://127.0.0.1:${other}/healthz: ECONNREFUSED\n`);
  });

  it('is unhealthy on a configuration the sidecar would refuse', async () => {
    const r = await runHealthcheck({ UURU_HTTP_LISTEN: 'no-port' });
    expect(r.code).toBe(1);
    expect(r.out).toBe('invalid configuration: UURU_HTTP_LISTEN: expected host:port\n');
  });
});

describe('healthUrl', () => {
  it.each([
    [{ host: '0.0.0.0', port: 8090 }, 'http://127.0.0.1:8090/healthz'],
    [{ host: '::', port: 8090 }, 'http://[::1]:8090/healthz'],
    [{ host: '10.1.2.3', port: 9000 }, 'http://10.1.2.3:9000/healthz'],
    [{ host: 'fd00::5', port: 9000 }, 'http://[fd00::5]:9000/healthz'],
  ])('probes %j at %s', (federation, url) => {
    expect(healthUrl(federation)).toBe(url);
  });
});
