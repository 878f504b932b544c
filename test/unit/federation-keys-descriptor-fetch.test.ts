import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { ManualClock } from '../harness/manual-clock';
import { type Descriptor, DESCRIPTOR_PATH, fetchDescriptor } from '../../src/federation/descriptor';
import { deadUrl, startInstance, type TestInstance } from './federation-keys-fixtures';

/**
 * fetchDescriptor against a real HTTP server serving good and bad documents:
 * 404 means "no v2 here", anything else that is not a valid descriptor is
 * FED_KEY_FETCH_FAILED (503), with a message saying what was wrong.
 */

const clock = new ManualClock(Date.parse('2026-04-01T00:00:00Z'));
let inst: TestInstance;
let server: http.Server;
let url: string;
let serve: (res: express.Response, good: Descriptor) => void;

beforeAll(async () => {
  inst = await startInstance({ clock });
  const app = express();
  app.get(DESCRIPTOR_PATH, (_req, res, next) => {
    inst
      .descriptor()
      .then((d) => serve(res, { ...d, server_name: new URL(url).host, base_url: url }))
      .catch(next);
  });
  server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise<void>((resolve) => server?.close(() => resolve()) ?? resolve());
  await inst?.close();
});

const get = (base = url) => fetchDescriptor(base, { fetch, timeoutMs: 2000 });

it('returns a valid descriptor (trailing slash in the base URL tolerated, unknown fields ignored)', async () => {
  serve = (res, d) => res.json({ ...d, future_field: { x: 1 } });
  const r = await get(`${url}/`);
  expect(r.kind).toBe('found');
  expect(r.kind === 'found' && r.descriptor.signing_keys[0].alg).toBe('ed25519');
  expect(r.kind === 'found' && 'future_field' in r.descriptor).toBe(false);
});

it('reports 404 as not_found (a stock µURU)', async () => {
  serve = (res) => res.status(404).json({ detail: 'Not Found' });
  expect(await get()).toEqual({ kind: 'not_found' });
});

it.each<[string, (res: express.Response, d: Descriptor) => void, RegExp]>([
  ['HTTP 500', (res) => res.status(500).end(), /HTTP 500/],
  ['a redirect', (res) => res.redirect(302, 'http://127.0.0.1:9/elsewhere'), /HTTP 302/],
  ['not JSON', (res) => res.type('text/html').send('<html>hi</html>'), /not JSON/],
  ['a missing field', (res, d) => res.json({ ...d, iax2: undefined }), /iax2/],
  [
    'a short public key',
    (res, d) => res.json({ ...d, signing_keys: [{ ...d.signing_keys[0], public_key: 'AAAA' }] }),
    /public_key/,
  ],
  [
    'another alg',
    (res, d) => res.json({ ...d, signing_keys: [{ ...d.signing_keys[0], alg: 'rsa' }] }),
    /alg/,
  ],
  [
    'no active key',
    (res, d) => res.json({ ...d, signing_keys: [{ ...d.signing_keys[0], status: 'next' }] }),
    /no active/,
  ],
  [
    'server_name not the authority of base_url',
    (res, d) => res.json({ ...d, server_name: 'evil.example.org' }),
    /server_name/,
  ],
  [
    'another base_url',
    (res, d) => res.json({ ...d, base_url: 'http://127.0.0.1:1', server_name: '127.0.0.1:1' }),
    /another base_url/,
  ],
  ['a bad date', (res, d) => res.json({ ...d, valid_until: 'tomorrow' }), /valid_until/],
])('refuses %s with FED_KEY_FETCH_FAILED', async (_what, bad, message) => {
  serve = bad;
  await expect(get()).rejects.toMatchObject({ code: 'FED_KEY_FETCH_FAILED', status: 503, message });
});

it('refuses an unreachable partner with FED_KEY_FETCH_FAILED and a malformed address with FED_MALFORMED', async () => {
  await expect(get(await deadUrl())).rejects.toMatchObject({ code: 'FED_KEY_FETCH_FAILED', status: 503 });
  await expect(get('not a url')).rejects.toMatchObject({ code: 'FED_MALFORMED', status: 400 });
});
