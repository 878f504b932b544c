/**
 * A v1 peering whose name is Unicode (`Grüße_Ωmega`), with real calls both
 * ways between two real Asterisks.
 *
 * Only a stock µURU gives such a name (our admin API and uuru-fed/2 keep the
 * strict `^[A-Za-z0-9_]{1,32}$`), so the partner here is a stock µURU
 * stand-in: its HTTP side answers as µURU does, its Asterisk is a real one
 * with the IAX2 friend and dial plan row µURU writes (name = username = the
 * peering name, trunk, encryption, `Dial(IAX2/<name>/${EXTEN:-L})`), on IAX2
 * port 4569, since v1 carries no port. Our side (B) is a complete instance:
 * a real sidecar process with its own real Asterisk on 4569, each Asterisk at
 * a loopback address of its own.
 *
 * IAX2 authenticates a call by the user name the caller sends against the
 * exact section name: the call from the µURU side only gets into B when B's
 * friend is named exactly `Grüße_Ωmega`, and B's call only into µURU when B
 * sends exactly that user name. B's dial plan contexts and call group go by
 * the ASCII-safe Asterisk name.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { AmiClient } from '../../src/asterisk/ami-client';
import { asteriskName } from '../../src/core/peering-name';
import { createLogger } from '../../src/logging/logger';
import { type AsteriskInstance, ECHO_EXTEN, startAsterisk, TEST_CONTEXT } from '../harness/asterisk';
import { type Instance, LOCAL_CONTEXT, LOCAL_ECHO_EXTENSION, startInstance } from '../harness/instance';
import { adminOk, incomingByName, peerByName, type PeerViewJson } from '../harness/sidecar';
import { waitUntil } from '../harness/wait';

jest.setTimeout(120_000);

const NAME = 'Grüße_Ωmega';
const ASCII = asteriskName(NAME);
/** B's dial prefix for the µURU side, and the µURU side's for B. */
const PREFIX_ON_B = '61';
const PREFIX_ON_UURU = '62';
/** The context µURU's friends and dial plan rows live in. */
const UURU_CONTEXT = 'pjsip_internal';
/** Our sidecar's default test extension (asterisk.testExtension), which our test calls dial at the partner. */
const TEST_EXTENSION = '9999999';

const uuruSecret = (): string => {
  const abc = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return Array.from(crypto.randomBytes(32), (b) => abc[b % 62]).join('');
};
const SECRET = uuruSecret();

interface PeerView extends PeerViewJson {
  asterisk_name: string;
  prefix: string;
  apply_state: 'pending' | 'applied' | 'failed';
  apply_error: string | null;
  reachability: string;
}

interface Recorded {
  method: string;
  url: string;
  body: unknown;
}

/** µURU's HTTP side: records every call and answers as µURU does, 200 {"status":"OK"} (no descriptor: 404). */
async function startUuruHttp(): Promise<{ url: string; seen: Recorded[]; close(): Promise<void> }> {
  const seen: Recorded[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        body: text ? (JSON.parse(text) as unknown) : null,
      });
      const known = req.url !== '/.well-known/uuru-federation';
      res.writeHead(known ? 200 : 404, { 'content-type': 'application/json' });
      res.end(known ? '{"status":"OK"}' : '{"detail":"Not Found"}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

/** The friend and dial plan row stock µURU writes for a peer (uuru-deployment: iaxfriends and extensions rows). */
const uuruFriend = (host: string): string =>
  [
    `[${NAME}]`,
    'type = friend',
    `username = ${NAME}`,
    `secret = ${SECRET}`,
    `host = ${host}`,
    `context = ${UURU_CONTEXT}`,
    'trunk = yes',
    'encryption = yes',
    'disallow = all',
    'allow = alaw',
    '',
  ].join('\n');
const uuruDialplan = (bExtensionLength: number): string =>
  [
    `[${UURU_CONTEXT}]`,
    `exten => _${PREFIX_ON_UURU}${'X'.repeat(bExtensionLength)},1,Dial(IAX2/${NAME}/\${EXTEN:-${bExtensionLength}})`,
    `include => ${TEST_CONTEXT}`,
    // Not stock µURU's: it has no test extension, so a test call to it is never answered. Added here
    // so that our test call's path (ARI originate to IAX2/<Unicode name>/...) is proven too.
    `exten => ${TEST_EXTENSION},1,Answer()`,
    ' same => n,Echo()',
    '',
  ].join('\n');

async function call(method: string, url: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const res = await fetch(url, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as unknown) : null };
}

let B: Instance;
let uuruAst: AsteriskInstance;
let uuruAmi: AmiClient;
let uuruHttp: Awaited<ReturnType<typeof startUuruHttp>>;
const requestId = crypto.randomUUID();
let onB: PeerView;

beforeAll(async () => {
  uuruHttp = await startUuruHttp();
  B = await startInstance({ name: 'unib', standardIaxPort: true });
  uuruAst = await startAsterisk({
    name: 'uniuuru',
    standardIaxPort: true,
    iaxConf: uuruFriend(B.asterisk.iaxHost),
    extensionsConf: uuruDialplan(LOCAL_ECHO_EXTENSION.length),
  });
  uuruAmi = new AmiClient({
    host: '127.0.0.1',
    port: uuruAst.amiPort,
    username: uuruAst.amiUser,
    secret: uuruAst.amiSecret,
    logger: createLogger({ level: 'error', format: 'pretty', silent: true }),
    reconnect: { initialMs: 100, maxMs: 1000 },
  });
  uuruAmi.start();
  await uuruAmi.whenConnected(15_000);
}, 180_000);

afterAll(async () => {
  await uuruAmi?.stop().catch(() => undefined);
  await Promise.allSettled([B?.stop(), uuruAst?.stop()]);
  await uuruHttp?.close();
});

/** Calls `number` from the µURU side's context, as one of its phones would. */
async function dialFromUuru(number: string): Promise<boolean> {
  const r = await uuruAmi
    .action(
      {
        Action: 'Originate',
        Channel: `Local/${number}@${UURU_CONTEXT}/n`,
        Application: 'Wait',
        Data: '2',
        Timeout: '8000',
        Async: 'false',
      },
      { timeoutMs: 13_000 },
    )
    // An Originate that fails is an error answer: not answered.
    .catch(() => ({ response: 'Error' }));
  return (r.response ?? '').toLowerCase() === 'success';
}

async function uuruChannels(): Promise<string[]> {
  return (await uuruAst.cli('core show channels concise')).split('\n').filter((l) => l.includes('!'));
}

it('a µURU request with a Unicode name is accepted: µURU is told first, then the trunk is applied and verified', async () => {
  const sent = await call('POST', `${B.sidecar.federationUrl}/api/v1/federation/incoming/request`, {
    id: requestId,
    name: NAME,
    partner_uuru_host: uuruHttp.url,
    partner_iax_host: uuruAst.iaxHost,
    partner_extension_length: ECHO_EXTEN.length,
    secret: SECRET,
    codec: 'alaw',
  });
  expect(sent).toEqual({ status: 200, json: { status: 'OK' } });
  const inc = await waitUntil(() => incomingByName(B.sidecar, NAME), { what: 'the incoming request on B' });
  await adminOk(
    B.sidecar,
    'POST',
    `/federation/incoming-requests/${inc.id}/accept`,
    { prefix: PREFIX_ON_B },
    200,
  );

  // µURU got the accept with B's own hosts and no port (v1 carries none; B's IAX2 is on 4569).
  expect(uuruHttp.seen.filter((r) => r.method === 'PUT')).toEqual([
    {
      method: 'PUT',
      url: `/api/v1/federation/outgoing/request/${requestId}`,
      body: {
        accept: true,
        secret: SECRET,
        extension_length: LOCAL_ECHO_EXTENSION.length,
        partner_iax_host: B.asterisk.iaxHost,
        partner_uuru_host: B.sidecar.federationUrl,
      },
    },
  ]);

  onB = await waitUntil(
    async () => {
      const p = (await peerByName(B.sidecar, NAME)) as PeerView | undefined;
      if (p?.apply_state === 'failed') throw new Error(`apply failed: ${p.apply_error}`);
      return p?.apply_state === 'applied' ? p : undefined;
    },
    { what: `${NAME} applied on B`, timeoutMs: 20_000 },
  );
  expect(onB).toMatchObject({
    name: NAME,
    asterisk_name: ASCII,
    dialect: 'v1',
    role: 'acceptor',
    state: 'active',
  });
  expect(ASCII).toMatch(/^Grue_mega-[0-9a-f]{10}$/);
  // Asterisk holds the friend by its exact name, pointing at the µURU side's own address on 4569.
  expect((await B.iaxPeers()).find((p) => p.name === NAME)).toMatchObject({
    host: uuruAst.iaxHost,
    port: 4569,
  });
  const generated = B.generatedConfig();
  expect(generated).toContain(`[${NAME}](uuru-federation-friend)\n`);
  expect(generated).toContain(`username=${NAME}\n`);
  expect(generated).toContain(`[uuru-fed-in-${ASCII}]`);
});

it('a call from the µURU side authenticates by the exact Unicode name and is answered on B', async () => {
  const answered = dialFromUuru(`${PREFIX_ON_UURU}${LOCAL_ECHO_EXTENSION}`);
  // While the caller holds the line: B's leg is the friend's, answered by B's local Echo.
  const leg = await waitUntil(
    async () => (await B.channels()).find((c) => c.channel.startsWith(`IAX2/${NAME}-`) && c.state === 'Up'),
    { what: 'the µURU call up on B', timeoutMs: 10_000 },
  );
  expect(leg).toMatchObject({ context: LOCAL_CONTEXT, exten: LOCAL_ECHO_EXTENSION });
  expect(await answered).toBe(true);
  expect(fs.readFileSync(B.asterisk.logFile, 'utf8')).not.toMatch(/failed to authenticate/i);
});

it("a call from B reaches the µURU side's Echo through the prefix, under the exact name", async () => {
  await waitUntil(async () => (await uuruChannels()).length === 0, {
    what: 'no calls left on the µURU side',
  });
  const dialled = B.dial(`${PREFIX_ON_B}${ECHO_EXTEN}`, { holdSec: 2 });
  const leg = await waitUntil(
    async () => (await uuruChannels()).find((l) => l.startsWith(`IAX2/${NAME}-`) && l.includes('!Up!')),
    { what: 'the call from B up on the µURU side', timeoutMs: 10_000 },
  );
  expect(leg.split('!').slice(1, 3)).toEqual([UURU_CONTEXT, ECHO_EXTEN]);
  expect(await dialled).toMatchObject({ answered: true, reason: null });
  expect(fs.readFileSync(uuruAst.logFile, 'utf8')).not.toMatch(/failed to authenticate/i);
});

it('a test call through the admin API (ARI to the Unicode name) passes, and the trunk is reachable', async () => {
  const result = await adminOk<{ answered: boolean; error: string | null }>(
    B.sidecar,
    'POST',
    `/federation/peers/${onB.id}/test-call`,
    {},
    200,
  );
  expect(result).toMatchObject({ answered: true, error: null });
  await waitUntil(
    async () => ((await peerByName(B.sidecar, NAME)) as PeerView | undefined)?.reachability === 'reachable',
    { what: `${NAME} reachable on B`, timeoutMs: 15_000, intervalMs: 200 },
  );
});

it('teardown from B tells µURU the exact name and secret, removes the trunk, and calls fail', async () => {
  await adminOk(B.sidecar, 'DELETE', `/federation/peers/${onB.id}`, undefined, 204);
  const told = await waitUntil(
    () => uuruHttp.seen.find((r) => r.url === '/api/v1/federation/peer/teardown'),
    { what: 'the teardown at µURU' },
  );
  expect(told).toEqual({
    method: 'POST',
    url: '/api/v1/federation/peer/teardown',
    body: { name: NAME, secret: SECRET },
  });
  await waitUntil(
    async () =>
      !B.generatedConfig().includes(`[${NAME}]`) && !(await B.iaxPeers()).some((p) => p.name === NAME),
    { what: `${NAME} gone from B's Asterisk` },
  );
  expect((await B.dial(`${PREFIX_ON_B}${ECHO_EXTEN}`)).answered).toBe(false);
  expect(await dialFromUuru(`${PREFIX_ON_UURU}${LOCAL_ECHO_EXTENSION}`)).toBe(false);
});
