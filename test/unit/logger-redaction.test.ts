import { PassThrough } from 'node:stream';
import { createLogger, redact } from '../../src/logging/logger';

describe('log redaction', () => {
  it('replaces secret-looking fields at any depth and keeps the rest', () => {
    const out = redact({
      name: 'berlin',
      secret: 'iax-secret-value',
      nested: { password: 'pw', list: [{ token: 't0k3n', host: '10.0.0.1' }], authorization: 'Bearer x' },
      empty: { secret: '' },
    });
    expect(out).toEqual({
      name: 'berlin',
      secret: '[redacted]',
      nested: {
        password: '[redacted]',
        list: [{ token: '[redacted]', host: '10.0.0.1' }],
        authorization: '[redacted]',
      },
      empty: { secret: '' },
    });
  });

  it.each(['json', 'pretty'] as const)('never writes a secret in %s output', async (format) => {
    const stream = new PassThrough();
    let text = '';
    stream.on('data', (d: Buffer) => (text += d.toString()));
    const logger = createLogger({ level: 'debug', format, stream });
    logger.info('peer applied', {
      component: 'asterisk',
      peer: 'berlin',
      secret: 'S3CRET-IAX',
      db: { password: 'pw-123' },
    });
    logger.warn('login failed', { privateKey: 'PRIVATE-KEY-BYTES', err: new Error('boom') });
    await new Promise((r) => setImmediate(r));
    expect(text).toContain('peer applied');
    expect(text).toContain('berlin');
    expect(text).toContain('boom');
    for (const s of ['S3CRET-IAX', 'pw-123', 'PRIVATE-KEY-BYTES']) expect(text).not.toContain(s);
  });
});
