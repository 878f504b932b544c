import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { OutgoingRequestEntity } from '../../src/store/entities';
import { adminApi, type Instance, startInstance } from './admin-fixtures';

/**
 * A legacy (v1) partner's answer is read with a size bound, like v2 answers
 * and descriptors: a real instance A asks a fault-injecting fake partner (a
 * bare HTTP server in this process, standing in for a hostile µURU that no
 * real one would imitate) to peer, and the fake answers with a body far over
 * the bound, with and without announcing its length. A refuses the answer
 * with its own code, stores nothing, and stays healthy.
 */

type Reply = (req: http.IncomingMessage, res: http.ServerResponse) => void;

let a: Instance;
let fake: http.Server;
let fakeUrl = '';
let reply: Reply = (_req, res) => res.end();
let bytesSent = 0;

const MB = 1024 * 1024;

/** Streams `total` bytes of a JSON string in 64 kB chunks, stopping when the client goes away. */
function hugeAnswer(total: number, announceLength: boolean): Reply {
  return (_req, res) => {
    res.setHeader('content-type', 'application/json');
    if (announceLength) res.setHeader('content-length', String(total));
    const chunk = Buffer.alloc(64 * 1024, 'x');
    let sent = 0;
    const pump = () => {
      while (sent < total) {
        const n = Math.min(chunk.length, total - sent);
        sent += n;
        bytesSent += n;
        if (!res.write(chunk.subarray(0, n))) {
          res.once('drain', pump);
          return;
        }
      }
      res.end();
    };
    res.on('close', () => res.removeAllListeners('drain'));
    pump();
  };
}

beforeAll(async () => {
  fake = http.createServer((req, res) => reply(req, res));
  await new Promise<void>((r) => fake.listen(0, '127.0.0.1', () => r()));
  fakeUrl = `http://127.0.0.1:${(fake.address() as AddressInfo).port}`;
  a = await startInstance('bounded-a');
});

afterAll(async () => {
  await a?.stop();
  fake.closeAllConnections();
  await new Promise((r) => fake.close(r));
});

const request = (name: string, prefix: string) =>
  adminApi(a)('POST', '/federation/outgoing-requests', {
    name,
    partner_url: fakeUrl,
    prefix,
    codec: 'alaw',
    dialect: 'v1',
  });

it.each([
  ['streamed without a length', false],
  ['announced by Content-Length', true],
])(
  'refuses an oversized v1 answer (%s) with FED_PARTNER_ANSWER_TOO_LARGE; nothing stored',
  async (_how, announce) => {
    bytesSent = 0;
    reply = hugeAnswer(64 * MB, announce);
    const res = await request('huge', '71');
    expect(res.status).toBe(502);
    expect(res.json).toMatchObject({
      error: 'FED_PARTNER_ANSWER_TOO_LARGE',
      message: expect.stringContaining(`larger than ${MB} bytes`),
    });
    expect(await a.app.db!.getRepository(OutgoingRequestEntity).count()).toBe(0);
    // The read stopped near the bound: the rest of the 64 MB was never pulled.
    expect(bytesSent).toBeLessThan(16 * MB);
    expect((await adminApi(a)('GET', '/status')).status).toBe(200);
  },
);

it('still takes a v1 answer of normal size', async () => {
  reply = (_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ ok: true }));
  };
  const res = await request('normal', '72');
  expect(res.status).toBe(201);
  expect(res.json).toMatchObject({ name: 'normal', dialect: 'v1', state: 'pending' });
});
