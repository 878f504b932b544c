/**
 * The start-up log names each listener's real bound address and warns when
 * the address advertised to partners is one no other machine can reach.
 */
import http from 'node:http';
import { configSchema } from '../../src/config/schema';
import { unroutableReason } from '../../src/core/network-address';
import { boundAddress, logStartup } from '../../src/startup-log';
import { captureLogger } from '../harness/test-logger';

interface Line {
  level: string;
  message: string;
  federation?: string;
  admin?: string;
  webAddress?: string;
  iax2?: string;
}
const linesOf = (text: string): Line[] =>
  text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Line);

function listening(host: string): Promise<http.Server> {
  return new Promise((resolve, reject) => {
    const s = http.createServer();
    s.once('error', reject);
    s.listen(0, host, () => resolve(s));
  });
}

describe('unroutableReason', () => {
  it.each([
    ['localhost', 'loopback'],
    ['LOCALHOST', 'loopback'],
    ['pbx.localhost', 'loopback'],
    ['127.0.0.1', 'loopback'],
    ['127.8.9.10', 'loopback'],
    ['::1', 'loopback'],
    ['[::1]', 'loopback'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['0.0.0.0', 'any address'],
    ['::', 'any address'],
    ['169.254.10.1', 'link-local'],
    ['fe80::1', 'link-local'],
  ])('%s is %s', (host, reason) => {
    expect(unroutableReason(host)).toBe(reason);
  });

  it.each(['10.8.0.1', '192.0.2.1', 'pbx.example.org', '2001:db8::1', '128.0.0.1', 'localhost.example.org'])(
    '%s may be reached',
    (host) => {
      expect(unroutableReason(host)).toBeNull();
    },
  );
});

describe('logStartup', () => {
  const servers: http.Server[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
  });

  it('names the bound addresses and warns about the loopback defaults', async () => {
    const federation = await listening('0.0.0.0');
    const admin = await listening('127.0.0.1');
    servers.push(federation, admin);
    const logs = captureLogger('info');
    logStartup(logs.logger, configSchema.parse({}), { federation, admin });
    const lines = linesOf(logs.text());
    const fedPort = (federation.address() as { port: number }).port;
    const adminPort = (admin.address() as { port: number }).port;
    expect(lines.find((l) => l.message === 'listening')).toMatchObject({
      federation: `0.0.0.0:${fedPort} (every IPv4 address)`,
      admin: `127.0.0.1:${adminPort}`,
    });
    expect(lines.find((l) => l.message === 'advertised to partners')).toMatchObject({
      webAddress: 'http://localhost:8090',
      iax2: '127.0.0.1:4569',
    });
    const warnings = lines.filter((l) => l.level === 'warn').map((l) => l.message);
    expect(warnings).toEqual([
      expect.stringMatching(/web address .*http:\/\/localhost:8090.* loopback .*UURU_FEDERATION_UURU_HOST/),
      expect.stringMatching(/IAX2 host .*127\.0\.0\.1.* loopback .*UURU_FEDERATION_IAX2_HOST/),
    ]);
  });

  it('warns about nothing when both advertised addresses are routable; one listener serves both', async () => {
    const federation = await listening('127.0.0.1');
    servers.push(federation);
    const logs = captureLogger('info');
    const config = configSchema.parse({
      instance: { publicUrl: 'https://pbx.example.org', iax2Host: '192.0.2.10' },
    });
    logStartup(logs.logger, config, { federation, admin: null });
    const lines = linesOf(logs.text());
    const port = (federation.address() as { port: number }).port;
    expect(lines.find((l) => l.message === 'listening')).toMatchObject({
      federation: `127.0.0.1:${port}`,
      admin: `127.0.0.1:${port} (the same listener)`,
    });
    expect(lines.filter((l) => l.level === 'warn')).toEqual([]);
  });

  it('boundAddress says when a server is not listening', () => {
    expect(boundAddress(http.createServer())).toBe('not listening');
  });
});
