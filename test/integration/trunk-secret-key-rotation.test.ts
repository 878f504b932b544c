/**
 * Agreement key rotation flowing into a new trunk secret epoch (issue 15),
 * end to end on real parts: two in-process sidecars, each on its own injected
 * ManualClock with a real Asterisk (files backend), peered in uuru-fed/2 with
 * the default epoch (30 days) and overlap (24 h).
 *
 * A call is held up while A's admin rotates A's keys (admin API; the new
 * agreement key is in force at once). Nothing is sent for the trunk: from the
 * middle of the period each side reads both sides' dated agreement keys (B
 * refetches A's descriptor) and both schedule the next period's root from
 * the new pair, shown as `trunk_rotation.agreement_key_switch_at`. The clocks
 * then cross that boundary with A leading by minutes, and at every step the
 * long call stays up, new calls both ways are answered and encrypted
 * (CHANNEL(secure_media)), and the old secret is answered inside B's overlap
 * and refused after it (a hand-written IAX2 peer carrying it).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildApp, type App } from '../../src/app';
import { AmiClient } from '../../src/asterisk/ami-client';
import { loadConfig } from '../../src/config/load-config';
import { createLogger } from '../../src/logging/logger';
import { type AsteriskInstance, ECHO_EXTEN, startAsterisk, TEST_CONTEXT } from '../harness/asterisk';
import { ManualClock } from '../harness/manual-clock';
import { freePort } from '../harness/ports';
import { waitUntil } from '../harness/wait';

jest.setTimeout(300_000);

const LOCAL = 'uuru-local';
const PROBE_FILE = 'old-secret-probe.conf';
const TEST_EXTENSION = '9999999';
const DAY = 86_400_000;
const EPOCH_MS = 30 * DAY;
const OVERLAP_MS = DAY;
const SKEW_MS = 5 * 60_000;
const NAME = 'krot_ab';
const PREFIX_ON_A = '73';
const PREFIX_ON_B = '74';

interface Node {
  name: string;
  ast: AsteriskInstance;
  app: App;
  clock: ManualClock;
  ami: AmiClient;
  token: string;
  adminUrl: string;
  federationUrl: string;
  stop(): Promise<void>;
}

async function startNode(name: string, clock: ManualClock): Promise<Node> {
  const ast = await startAsterisk({
    name,
    extensionsConf: [`[${LOCAL}]`, `include => ${LOCAL}-federation`, `include => ${TEST_CONTEXT}`, ''].join(
      '\n',
    ),
    iaxConf: `#tryinclude ${PROBE_FILE}\n`,
  });
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `uuru-krot-${name}-`));
  const ami = new AmiClient({
    host: '127.0.0.1',
    port: ast.amiPort,
    username: ast.amiUser,
    secret: ast.amiSecret,
    logger: createLogger({ level: 'error', format: 'pretty', silent: true }),
    reconnect: { initialMs: 100, maxMs: 1000 },
  });
  let app: App | null = null;
  try {
    const fedPort = await freePort();
    const token = crypto.randomBytes(24).toString('base64url');
    const federationUrl = `http://127.0.0.1:${fedPort}`;
    const config = loadConfig({
      env: {},
      overrides: {
        dataDir,
        instance: {
          publicUrl: federationUrl,
          iax2Host: ast.iaxHost,
          iax2Port: ast.iaxPort,
          extensionDigits: ECHO_EXTEN.length,
        },
        http: { federation: { host: '127.0.0.1', port: fedPort }, admin: { host: '127.0.0.1', port: 0 } },
        admin: { bootstrapToken: token },
        asterisk: {
          enabled: true,
          ami: { host: '127.0.0.1', port: ast.amiPort, user: ast.amiUser, password: ast.amiSecret },
          ari: { url: ast.ariUrl, user: ast.ariUser, password: ast.ariPassword, app: 'uuru-federation' },
          stateBackend: 'files' as const,
          configDir: ast.configDir,
          localContext: LOCAL,
          inboundTargetContext: LOCAL,
          testExtension: TEST_EXTENSION,
          qualifyFreqOkMs: 1000,
          qualifyFreqNotOkMs: 1000,
          reloadDebounceMs: 50,
        },
        // The epoch jobs (Asterisk's and the key-epochs one) look often, so a moved clock is followed at once.
        jobs: { monitorPollMs: 500, outboxPollMs: 100, secretEpochPollMs: 200 },
        federation: { outboxRetryBaseMs: 200, outboxRetryMaxMs: 1000 },
        log: { level: 'warn', format: 'json' },
      },
    });
    app = buildApp(config, { clock });
    await app.start({ waitForDb: true });
    ami.start();
    await ami.whenConnected(15_000);
    const started = app;
    return {
      name,
      ast,
      app: started,
      clock,
      ami,
      token,
      adminUrl: started.adminUrl,
      federationUrl,
      async stop() {
        await ami.stop().catch(() => undefined);
        await started.stop().catch(() => undefined);
        await ast.stop();
        fs.rmSync(dataDir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await ami.stop().catch(() => undefined);
    await app?.stop().catch(() => undefined);
    await ast.stop().catch(() => undefined);
    throw e;
  }
}

async function api<T>(n: Node, method: string, apiPath: string, body?: unknown, status = 200): Promise<T> {
  const res = await fetch(`${n.adminUrl}/api/admin${apiPath}`, {
    method,
    headers: {
      authorization: `Bearer ${n.token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status !== status) throw new Error(`${n.name} ${method} ${apiPath}: ${res.status} ${text}`);
  return (text ? JSON.parse(text) : null) as T;
}

interface PeerJson {
  id: string;
  name: string;
  apply_state: string;
  apply_error: string | null;
  trunk_rotation: { epoch: number; agreement_key_switch_at?: string } | null;
}

const peerOn = async (n: Node): Promise<PeerJson | undefined> =>
  (await api<{ peers: PeerJson[] }>(n, 'GET', '/federation/peers')).peers.find((p) => p.name === NAME);

/** The secrets a side's generated file holds for the peering: its epoch users' ones, the one the friend sends last. */
function secretLines(n: Node): string[] {
  const file = path.join(n.ast.configDir, 'iax-uuru-federation.conf');
  const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  const objects = text
    .split(/^\[/m)
    .filter((s) => s.startsWith(`${NAME}]`) || s.startsWith(`${NAME}-e`))
    .map((s) => ({
      name: s.slice(0, s.indexOf(']')),
      secret: (s.split('\n').find((l) => l.startsWith('secret=')) ?? '').slice('secret='.length),
    }));
  const sent = objects.find((o) => o.name === NAME)?.secret;
  const users = objects.filter((o) => o.name !== NAME).map((o) => o.secret);
  return sent === undefined ? users : [...users.filter((u) => u !== sent), sent];
}

async function originate(
  n: Node,
  channel: string,
  holdSec: number,
): Promise<{ answered: boolean; reason: string | null }> {
  try {
    const r = await n.ami.action(
      {
        Action: 'Originate',
        Channel: channel,
        Application: 'Wait',
        Data: String(holdSec),
        Timeout: '8000',
        Async: 'false',
      },
      { timeoutMs: 15_000 },
    );
    const answered = (r.response ?? '').toLowerCase() === 'success';
    return { answered, reason: answered ? null : (r.message ?? 'failed') };
  } catch (e) {
    return { answered: false, reason: e instanceof Error ? e.message : String(e) };
  }
}

const dial = (n: Node, number: string, holdSec: number) =>
  originate(n, `Local/${number}@${LOCAL}/n`, holdSec);

async function iaxChannels(n: Node): Promise<string[]> {
  const out = await n.ami.command('core show channels concise');
  return out
    .split('\n')
    .map((l) => l.split('!')[0])
    .filter((c) => c.startsWith('IAX2/'));
}

async function secureMedia(n: Node, channel: string): Promise<string> {
  const r = await n.ami.action({ Action: 'Getvar', Channel: channel, Variable: 'CHANNEL(secure_media)' });
  return String(r.value ?? '');
}

describe('agreement key rotation into a new trunk secret epoch (two real Asterisks, files backend)', () => {
  let A: Node;
  let B: Node;
  let longOnA: string;
  let longOnB: string;
  const t0 = Date.parse('2026-01-01T00:00:00Z');
  /** The first boundary at least 20 days after the start: the key rotation comes before the middle of its period. */
  const boundary = (Math.floor(t0 / EPOCH_MS) + 2) * EPOCH_MS;

  beforeAll(async () => {
    const start = boundary - 20 * DAY;
    const [a, b] = await Promise.allSettled([
      startNode('krota', new ManualClock(start)),
      startNode('krotb', new ManualClock(start)),
    ]);
    if (a.status === 'rejected' || b.status === 'rejected') {
      await Promise.allSettled([a, b].map((r) => (r.status === 'fulfilled' ? r.value.stop() : undefined)));
      throw a.status === 'rejected' ? a.reason : (b as PromiseRejectedResult).reason;
    }
    A = a.value;
    B = b.value;
  }, 120_000);

  afterAll(async () => {
    await Promise.allSettled([A?.stop(), B?.stop()]);
  });

  function setClocks(t: number): void {
    A.clock.set(t + SKEW_MS);
    B.clock.set(t);
  }

  /** Waits until each side's file holds the expected number of secrets, then until Asterisk has read it. */
  async function applied(onA: number, onB: number): Promise<void> {
    for (const [n, count] of [
      [A, onA],
      [B, onB],
    ] as const) {
      await waitUntil(() => (secretLines(n).length === count ? true : undefined), {
        what: `${count} secret line(s) on ${n.name}`,
        timeoutMs: 15_000,
      });
    }
    for (const n of [A, B]) await api(n, 'POST', '/reconcile', {});
  }

  /** A new call each way is answered and encrypted on both ends; the long call is still up and encrypted. */
  async function callsWork(moment: string): Promise<void> {
    for (const [from, to, number] of [
      [A, B, `${PREFIX_ON_A}${ECHO_EXTEN}`],
      [B, A, `${PREFIX_ON_B}${ECHO_EXTEN}`],
    ] as const) {
      const r = await dial(from, number, 3);
      expect({ moment, from: from.name, ...r }).toEqual({
        moment,
        from: from.name,
        answered: true,
        reason: null,
      });
      const fresh = async (n: Node) =>
        (await iaxChannels(n)).filter((c) => c !== (n === A ? longOnA : longOnB));
      const [onFrom, onTo] = await waitUntil(
        async () => {
          const [f, t] = [await fresh(from), await fresh(to)];
          return f.length > 0 && t.length > 0 ? [f[0], t[0]] : undefined;
        },
        { what: `the new call's IAX2 channels (${moment})`, timeoutMs: 3000 },
      );
      expect([await secureMedia(from, onFrom), await secureMedia(to, onTo)]).toEqual(['1', '1']);
      await waitUntil(async () => ((await fresh(from)).length === 0 ? true : undefined), {
        what: `the new call from ${from.name} ended`,
        timeoutMs: 10_000,
      });
    }
    expect({ moment, onA: await iaxChannels(A), onB: await iaxChannels(B) }).toEqual({
      moment,
      onA: expect.arrayContaining([longOnA]) as unknown,
      onB: expect.arrayContaining([longOnB]) as unknown,
    });
    expect([await secureMedia(A, longOnA), await secureMedia(B, longOnB)]).toEqual(['1', '1']);
  }

  /** A hand-written IAX2 peer on A that calls B as a given user of the peering with a given secret. */
  async function writeProbe(username: string, secret: string): Promise<void> {
    fs.writeFileSync(
      path.join(A.ast.configDir, PROBE_FILE),
      [
        '[old_secret_probe]',
        'type=peer',
        `host=${B.ast.iaxHost}`,
        `port=${B.ast.iaxPort}`,
        `username=${username}`,
        `secret=${secret}`,
        'encryption=yes',
        'forceencryption=yes',
        'disallow=all',
        'allow=ulaw',
        '',
      ].join('\n'),
    );
    await A.ami.command('module reload chan_iax2.so');
    await waitUntil(
      async () =>
        (await A.ami.command('iax2 show peer old_secret_probe')).includes(String(B.ast.iaxPort))
          ? true
          : undefined,
      { what: 'the probe peer loaded' },
    );
  }

  it('a call stays up and calls keep working while a rotated agreement key becomes the next epoch', async () => {
    await api(
      A,
      'POST',
      '/federation/outgoing-requests',
      { name: NAME, partner_url: B.federationUrl, prefix: PREFIX_ON_A, codec: 'ulaw', dialect: 'v2' },
      201,
    );
    const incoming = await waitUntil(
      async () =>
        (
          await api<{ requests: { id: string; name: string }[] }>(B, 'GET', '/federation/incoming-requests')
        ).requests.find((r) => r.name === NAME),
      { what: 'the request on B' },
    );
    await api(B, 'POST', `/federation/incoming-requests/${incoming.id}/accept`, { prefix: PREFIX_ON_B });
    for (const n of [A, B])
      await waitUntil(async () => ((await peerOn(n))?.apply_state === 'applied' ? true : undefined), {
        what: `peer applied on ${n.name}`,
        timeoutMs: 20_000,
      });
    await waitUntil(
      async () => ((await dial(A, `${PREFIX_ON_A}${ECHO_EXTEN}`, 1)).answered ? true : undefined),
      {
        what: 'a first call A→B',
        timeoutMs: 20_000,
      },
    );
    expect(await dial(A, `${PREFIX_ON_A}${ECHO_EXTEN}`, 3600)).toEqual({ answered: true, reason: null });
    [longOnA, longOnB] = await waitUntil(
      async () => {
        const [a, b] = [await iaxChannels(A), await iaxChannels(B)];
        return a.length === 1 && b.length === 1 ? [a[0], b[0]] : undefined;
      },
      { what: 'the long call on both sides' },
    );
    const [old] = secretLines(A);
    expect(secretLines(B)).toEqual([old]);

    // A's admin rotates A's keys an hour later: the new agreement key is in force from then on, and nothing is
    // sent for the trunk.
    setClocks(boundary - 20 * DAY + 3_600_000);
    const keys = await api<{ keys: { kid: string; alg: string; status: string }[] }>(
      A,
      'POST',
      '/federation/keys/rotate',
      {},
    );
    const newKid = keys.keys.find((k) => k.alg === 'x25519' && k.status === 'active')?.kid;
    expect(newKid).toMatch(/^x/);
    // Before the middle of the period, the trunk does not move.
    setClocks(boundary - 16 * DAY);
    await callsWork('keys rotated on A, before the middle of the period');
    expect((await peerOn(A))?.trunk_rotation?.agreement_key_switch_at).toBeUndefined();

    // From the middle of the period both sides schedule the new keys' root for the next boundary.
    setClocks(boundary - 14 * DAY);
    for (const n of [A, B])
      await waitUntil(
        async () =>
          (await peerOn(n))?.trunk_rotation?.agreement_key_switch_at === new Date(boundary).toISOString()
            ? true
            : undefined,
        { what: `the new keys' root scheduled on ${n.name}`, timeoutMs: 15_000 },
      );
    await applied(1, 1);
    expect(secretLines(A)).toEqual([old]);
    await callsWork('the new root scheduled');

    // Both in the overlap before the boundary: the new root's epoch secret is accepted too, the old one sent.
    setClocks(boundary - OVERLAP_MS / 2);
    await applied(2, 2);
    const [next] = secretLines(A);
    expect(secretLines(A)).toEqual([next, old]);
    expect(secretLines(B)).toEqual([next, old]);
    await callsWork('both in the overlap before the boundary');

    // A past the boundary sends the new secret, B (minutes behind) still the old one.
    setClocks(boundary - SKEW_MS / 2);
    await waitUntil(() => (secretLines(A)[1] === next ? true : undefined), {
      what: 'A sends the new secret',
    });
    await applied(2, 2);
    expect(secretLines(B)).toEqual([next, old]);
    await callsWork('A on the new keys, B not yet');

    // A past the overlap drops the old secret; B still accepts it (a hand-written peer carrying it is answered).
    setClocks(boundary + OVERLAP_MS - SKEW_MS / 2);
    await applied(1, 2);
    expect(secretLines(A)).toEqual([next]);
    await callsWork('A past the overlap, B not yet');
    await writeProbe(`${NAME}-e${(boundary / EPOCH_MS - 1) % 2}`, old);
    expect(await originate(A, `IAX2/old_secret_probe/${TEST_EXTENSION}`, 1)).toEqual({
      answered: true,
      reason: null,
    });

    // Both past the overlap: the old secret no longer authenticates; the new root is the root on both sides.
    setClocks(boundary + OVERLAP_MS + SKEW_MS);
    await applied(1, 1);
    expect(secretLines(B)).toEqual([next]);
    expect((await originate(A, `IAX2/old_secret_probe/${TEST_EXTENSION}`, 1)).answered).toBe(false);
    await callsWork('both past the overlap');
    for (const n of [A, B])
      await waitUntil(
        async () =>
          (await peerOn(n))?.trunk_rotation?.agreement_key_switch_at === undefined ? true : undefined,
        { what: `the new root folded on ${n.name}` },
      );
  });
});
