import { addressChecks, classifyAddress } from '../../src/doctor/address-checks';
import { configSchema } from '../../src/config/schema';
import type { PeerView } from '../../src/core/federation-admin';

/** The address classes the doctor warns about, at the edges of each range. */
describe('doctor address classes', () => {
  it.each([
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['::1', 'loopback'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['169.254.10.1', 'link-local'],
    ['fe80::1', 'link-local'],
    ['10.1.2.3', 'private'],
    ['172.15.255.255', 'public'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['172.32.0.0', 'public'],
    ['192.168.1.1', 'private'],
    ['100.63.255.255', 'public'],
    ['100.64.0.1', 'private'],
    ['fd12:3456::1', 'private'],
    ['::ffff:10.0.0.1', 'private'],
    ['192.0.2.10', 'public'],
    ['2001:db8::1', 'public'],
  ])('%s is %s', (ip, cls) => {
    expect(classifyAddress(ip)).toBe(cls);
  });

  const config = (instance: Record<string, unknown>) => configSchema.parse({ instance });
  const peer = (iax: string, url: string) =>
    ({ partner_iax_host: iax, partner_url: url }) as unknown as PeerView;
  const noDns = async () => {
    throw new Error('no DNS in this test');
  };

  it('a private address warns only while a partner is on a public one', async () => {
    const c = config({ publicUrl: 'http://192.168.1.5:8090', iax2Host: '192.168.1.5' });
    const lan = await addressChecks(c, [peer('192.168.1.9', 'http://192.168.1.9:8090')], noDns);
    expect(lan.map((r) => r.status)).toEqual(['ok', 'ok']);
    const remote = await addressChecks(c, [peer('198.51.100.7', 'https://198.51.100.7')], noDns);
    expect(remote.map((r) => r.status)).toEqual(['warn', 'warn']);
  });

  it('the built-in defaults fail, unless every partner is on this host too', async () => {
    const alone = await addressChecks(config({}), [], noDns);
    expect(alone.map((r) => r.status)).toEqual(['fail', 'fail']);
    expect(alone[0].detail).toContain('http://localhost:8090');
    const lab = await addressChecks(config({}), [peer('127.0.0.1', 'http://127.0.0.1:9000')], noDns);
    expect(lab.map((r) => r.status)).toEqual(['ok', 'ok']);
  });

  it('a name that does not resolve warns; 0.0.0.0 and link-local warn', async () => {
    const r = await addressChecks(
      config({ publicUrl: 'https://pbx.invalid', iax2Host: '0.0.0.0' }),
      [],
      noDns,
    );
    expect(r.map((x) => [x.status, x.detail])).toEqual([
      ['warn', expect.stringContaining('does not resolve')],
      ['warn', expect.stringContaining('"any address"')],
    ]);
    const ll = await addressChecks(
      config({ publicUrl: 'http://[fe80::1]:8090', iax2Host: '169.254.1.1' }),
      [],
      noDns,
    );
    expect(ll.map((x) => x.status)).toEqual(['warn', 'warn']);
  });
});
