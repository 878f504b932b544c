import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describeFetchFailure, withoutUrls } from '../../src/federation/fetch-failure';

/** Real fetch failures: their messages may quote the URL, which must never reach an error message. */
describe('describeFetchFailure', () => {
  const failureOf = async (url: string): Promise<unknown> => {
    try {
      await fetch(url, { signal: AbortSignal.timeout(5000) });
    } catch (e) {
      return e;
    }
    throw new Error(`fetch ${url} did not fail`);
  };

  it('never repeats user info or a query string (fetch quotes the URL when it refuses credentials)', async () => {
    const e = await failureOf('http://user:pass@127.0.0.1:9/api/v1/x?secret=s3cr3tvalue');
    expect(String((e as Error).message)).toContain('user:pass');
    const text = describeFetchFailure(e);
    expect(text).toContain('127.0.0.1:9');
    expect(text).not.toMatch(/user|pass|secret|s3cr3t/);
  });

  it('names the network error: a refused connection by its code, a blocked port by its reason', async () => {
    const server = http.createServer();
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    const port = (server.address() as AddressInfo).port;
    await new Promise<void>((ok) => server.close(() => ok()));
    expect(describeFetchFailure(await failureOf(`http://127.0.0.1:${port}/?secret=x`))).toBe('ECONNREFUSED');
    expect(describeFetchFailure(await failureOf('http://127.0.0.1:1/?secret=x'))).toBe(
      'fetch failed (bad port)',
    );
  });

  it('a timeout is "timed out"', async () => {
    const server = http.createServer(() => undefined);
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    const port = (server.address() as AddressInfo).port;
    try {
      const e = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(50) }).then(
        () => null,
        (err: unknown) => err,
      );
      expect(describeFetchFailure(e)).toBe('timed out');
    } finally {
      server.closeAllConnections();
      await new Promise<void>((ok) => server.close(() => ok()));
    }
  });
});

describe('withoutUrls', () => {
  it('cuts every URL in a text down to its host', () => {
    expect(withoutUrls('a http://u:p@h.example:81/x?secret=1 and https://k.example/?q=2 here')).toBe(
      'a h.example:81 and k.example here',
    );
  });
});
