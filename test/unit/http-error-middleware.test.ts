/**
 * The shared error middleware against real express and body-parser: requests
 * broken before any handler runs (a path parameter that is not valid
 * percent-encoding, an unsupported charset or encoding, broken or oversized
 * JSON) are the caller's fault and get a 4xx with a code, while a real fault
 * in a handler is still a 500.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { AppError } from '../../src/core/errors';
import { clientRequestError } from '../../src/http/client-request-error';
import { errorMiddleware, notFoundHandler } from '../../src/http/error-middleware';
import { captureLogger } from '../harness/test-logger';

interface Answer {
  status: number;
  json: Record<string, unknown>;
}

/** node:http, so the request line goes out exactly as written (a lone % included). */
function send(
  base: string,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: Buffer | string,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}${path}`, { method, headers, agent: false }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString('utf8')));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) as Record<string, unknown> }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('errorMiddleware: broken requests are 4xx, faults stay 500', () => {
  let server: http.Server;
  let base: string;
  const log = captureLogger();

  beforeAll(async () => {
    const app = express();
    const r = express.Router();
    r.use(express.json({ limit: 1024, type: () => true }));
    r.get('/items/:id', (req, res) => {
      res.json({ id: req.params.id });
    });
    r.post('/items/:id', (req, res) => {
      res.json({ id: req.params.id, body: req.body as unknown });
    });
    r.get('/fault', () => {
      throw new Error('a bug in a handler');
    });
    app.use(r);
    app.use(notFoundHandler);
    app.use(errorMiddleware(log.logger));
    server = app.listen(0, '127.0.0.1');
    await new Promise<void>((ok) => server.once('listening', () => ok()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise<void>((ok) => server.close(() => ok()));
  });

  it('answers a well-formed request normally (control)', async () => {
    expect(await send(base, 'GET', '/items/a%20b')).toEqual({ status: 200, json: { id: 'a b' } });
  });

  it.each(['%', '%zz', 'abc%', '%E0%A4%A', '%C0%AF'])(
    'a path parameter %s that is not valid percent-encoding: 400 FED_MALFORMED, the value not echoed',
    async (param) => {
      const r = await send(base, 'GET', `/items/${param}`);
      expect(r.status).toBe(400);
      expect(r.json).toEqual({
        error: 'FED_MALFORMED',
        message: 'a path parameter is not valid percent-encoding',
      });
    },
  );

  it('an unsupported charset or Content-Encoding: 400 FED_MALFORMED, as the protocol table says', async () => {
    const charset = await send(
      base,
      'POST',
      '/items/x',
      { 'content-type': 'application/json; charset=latin1' },
      '{"a":1}',
    );
    expect(charset).toEqual({
      status: 400,
      json: { error: 'FED_MALFORMED', message: 'the request body must be UTF-8' },
    });
    const encoding = await send(
      base,
      'POST',
      '/items/x',
      { 'content-type': 'application/json', 'content-encoding': 'x-hostile' },
      '{"a":1}',
    );
    expect(encoding.status).toBe(400);
    expect(encoding.json.error).toBe('FED_MALFORMED');
  });

  it('broken JSON is 400 FED_MALFORMED, an oversized body 413 FED_TOO_LARGE', async () => {
    const broken = await send(base, 'POST', '/items/x', { 'content-type': 'application/json' }, '{');
    expect(broken).toEqual({
      status: 400,
      json: { error: 'FED_MALFORMED', message: 'request body is not valid JSON' },
    });
    const big = await send(base, 'POST', '/items/x', {}, JSON.stringify({ pad: 'x'.repeat(4096) }));
    expect(big.status).toBe(413);
    expect(big.json.error).toBe('FED_TOO_LARGE');
  });

  it('a fault in a handler is still a 500 INTERNAL, logged as a bug', async () => {
    expect(await send(base, 'GET', '/fault')).toEqual({
      status: 500,
      json: { error: 'INTERNAL', message: 'internal error' },
    });
    expect(log.text()).toContain('a bug in a handler');
  });
});

describe('clientRequestError', () => {
  it('is null for errors that are not the client’s: 5xx library errors, AppErrors, plain errors', () => {
    const streamError = Object.assign(new Error('stream is not readable'), {
      status: 500,
      type: 'stream.not.readable',
    });
    expect(clientRequestError(streamError)).toBeNull();
    expect(clientRequestError(new AppError('FED_MALFORMED', 'x'))).toBeNull();
    expect(clientRequestError(new Error('boom'))).toBeNull();
    expect(clientRequestError(Object.assign(new Error('x'), { status: 400, type: 'constructor' }))).toEqual({
      fault: 'bad_request',
      status: 400,
      message: 'the request cannot be read',
    });
  });
});
