/**
 * Bad input: at least 10,000 generated requests over every federation (v2,
 * signed by the real partner and not), legacy v1 and admin endpoint (with a
 * valid bearer token, so validation is reached) against a real sidecar
 * process that manages a real Asterisk through the files backend, with a
 * real peered partner sidecar whose key signs the v2 requests.
 *
 * Asserted: no 5xx, no crash (the process is alive and answers /healthz), the
 * Asterisk config dir is byte for byte unchanged, no row was added or removed
 * in peers, requests, outbox or partners, and no request that could change
 * state was accepted (every such request carries a defect). The counts by
 * endpoint and status go to bench/results/fuzz.json.
 *
 * Reproduce a failure with UURU_FUZZ_SEED=<seed printed below>.
 * UURU_FUZZ_COUNT changes the number of requests (default 10,000).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { asteriskConfig, LOCAL_CONTEXT } from '../../bench/asterisk-sidecar';
import { LoopbackClient, type LoopbackResponse } from '../../bench/loopback-client';
import { PartnerSigner } from '../../bench/partner-signer';
import { writeResult } from '../../bench/result-files';
import { requestAndAccept, waitForPeer } from '../../bench/sidecar-peering';
import { type AsteriskInstance, startAsterisk } from '../harness/asterisk';
import { describeCase, type FuzzCase, fuzzCases } from '../harness/fuzz-requests';
import { pidAlive } from '../harness/processes';
import {
  activeKeys,
  countRows,
  destroyAll,
  peerByName,
  type PeerViewJson,
  startSidecar,
  type Sidecar,
} from '../harness/sidecar';
import { waitUntil } from '../harness/wait';

const SEED = Number(process.env.UURU_FUZZ_SEED ?? crypto.randomInt(1, 2 ** 31));
const COUNT = Number(process.env.UURU_FUZZ_COUNT ?? 10_000);
const CONCURRENCY = 16;
const BODY_LIMIT = 64 * 1024;
const TABLES = ['peers', 'incoming_requests', 'outgoing_requests', 'outbox', 'partners'] as const;

/** sha256 of every file in the dir (name and bytes), so any write, added or removed file shows. */
function hashDir(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of fs.readdirSync(dir).sort()) {
    const file = path.join(dir, name);
    if (!fs.statSync(file).isFile()) continue;
    out[name] = crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
  }
  return out;
}

async function rowCounts(s: Sidecar): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of TABLES) out[t] = await countRows(s, t);
  return out;
}

interface Finding {
  status: number | 'error';
  detail: string;
  request: string;
}

describe('fuzz: generated bad requests against every endpoint', () => {
  let ast: AsteriskInstance | null = null;
  let a: Sidecar | null = null;
  let b: Sidecar | null = null;
  let stranger: Sidecar | null = null;

  beforeAll(async () => {
    ast = await startAsterisk({
      name: 'fuzz',
      extensionsConf: [`[${LOCAL_CONTEXT}]`, `include => ${LOCAL_CONTEXT}-federation`, ''].join('\n'),
    });
    const limits = {
      federation: {
        rateLimitPerIpPerMinute: 10_000_000,
        rateLimitPerOriginPerMinute: 10_000_000,
        unsolicitedRequestsPerOriginPerHour: 1000,
        outboxRetryBaseMs: 200,
        outboxRetryMaxMs: 1000,
      },
      jobs: { outboxPollMs: 100 },
      http: { bodyLimitBytes: BODY_LIMIT },
      log: { level: 'warn' },
    };
    [a, b, stranger] = await Promise.all([
      startSidecar({ name: 'fuzz_partner', config: limits }),
      startSidecar({
        name: 'fuzz_target',
        env: { UURU_ASTERISK_ENABLED: 'true' },
        config: { ...asteriskConfig(ast), ...limits },
      }),
      startSidecar({ name: 'fuzz_stranger', config: limits }),
    ]);
    await requestAndAccept(a, b, 'fuzz_real', { requester: '81', acceptor: '82' });
    await waitForPeer(a, 'fuzz_real');
    const target = b;
    await waitUntil(
      async () => {
        const peer = (await peerByName(target, 'fuzz_real')) as
          (PeerViewJson & { apply_state?: string }) | undefined;
        return peer?.pending_deliveries === 0 && peer.apply_state === 'applied';
      },
      { what: 'the real peer applied on the target', timeoutMs: 60_000, intervalMs: 200 },
    );
  }, 180_000);

  afterAll(async () => {
    await destroyAll([a, b, stranger]);
    await ast?.stop();
  });

  it(`sends ${COUNT} requests: no 5xx, no crash, no config change, no row written`, async () => {
    if (!a || !b || !stranger || !ast) throw new Error('set-up failed');
    process.stdout.write(`fuzz seed ${SEED} (reproduce with UURU_FUZZ_SEED=${SEED})\n`);
    const target = b;
    const signer = await PartnerSigner.of(a);
    const strangerSigner = await PartnerSigner.of(stranger);
    const configBefore = hashDir(ast.configDir);
    expect(Object.keys(configBefore)).toEqual(
      expect.arrayContaining(['iax-uuru-federation.conf', 'extensions-uuru-federation.conf']),
    );
    const rowsBefore = await rowCounts(b);

    const fed = new LoopbackClient(b.federationUrl, { maxSockets: CONCURRENCY });
    const adm = new LoopbackClient(b.adminUrl, { maxSockets: CONCURRENCY });
    const cases = fuzzCases(SEED, COUNT, {
      sign: (method, p, body, contentType) =>
        signer.sign(target.federationUrl, method, p, body, contentType).headers ?? {},
      partnerUrl: a.federationUrl,
      signAsStranger: (method, p, body, contentType) =>
        strangerSigner.sign(target.federationUrl, method, p, body, contentType).headers ?? {},
      strangerUrl: stranger.federationUrl,
      strangerAgreementKid: (await activeKeys(stranger)).agreementKid,
      adminToken: b.token,
      bodyLimitBytes: BODY_LIMIT,
    });

    const byEndpoint: Record<string, Record<string, number>> = {};
    const bySurface: Record<string, Record<string, number>> = {};
    const serverErrors: Finding[] = [];
    const acceptedMutations: Finding[] = [];
    const transportErrors: Finding[] = [];
    const tally = (c: FuzzCase, status: string) => {
      (byEndpoint[c.endpoint] ??= {})[status] = ((byEndpoint[c.endpoint] ??= {})[status] ?? 0) + 1;
      (bySurface[c.surface] ??= {})[status] = ((bySurface[c.surface] ??= {})[status] ?? 0) + 1;
    };
    const t0 = performance.now();
    const worker = async (): Promise<void> => {
      for (let next = cases.next(); !next.done; next = cases.next()) {
        const c = next.value;
        let res: LoopbackResponse;
        try {
          res = await (c.surface === 'admin' ? adm : fed).request(
            { method: c.method, path: c.path, headers: c.headers, body: c.body },
            15_000,
          );
        } catch (e) {
          tally(c, 'error');
          transportErrors.push({
            status: 'error',
            detail: e instanceof Error ? e.message : String(e),
            request: describeCase(SEED, c),
          });
          continue;
        }
        tally(c, String(res.status));
        if (res.status >= 500)
          serverErrors.push({
            status: res.status,
            detail: res.body.slice(0, 300),
            request: describeCase(SEED, c),
          });
        else if (c.mutating && res.status < 300)
          acceptedMutations.push({
            status: res.status,
            detail: res.body.slice(0, 300),
            request: describeCase(SEED, c),
          });
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const elapsedMs = performance.now() - t0;
    fed.close();
    adm.close();

    // Let anything the requests set off (a reconcile, an outbox delivery) run before looking.
    const reconcile = await b.admin('POST', '/reconcile', {});
    const alive = pidAlive(b.pid);
    const health = await fetch(`${b.federationUrl}/healthz`, { signal: AbortSignal.timeout(5000) });
    const configAfter = hashDir(ast.configDir);
    const rowsAfter = await rowCounts(b);
    const total = Object.values(bySurface).reduce(
      (n, s) => n + Object.values(s).reduce((m, v) => m + v, 0),
      0,
    );

    writeResult(
      {
        name: 'fuzz',
        title: 'Bad input: generated requests against every endpoint',
        method:
          `${total} requests from a seeded generator (seed ${SEED}), ${CONCURRENCY} in flight over keep-alive, against a sidecar ` +
          'process managing a real Asterisk (files backend) and peered with a real partner sidecar whose key signs part of the v2 ' +
          'requests. Every state-changing request carries a defect (wrong type, missing/extra field, broken JSON, huge or deeply ' +
          'nested body, wrong content type, hostile string aimed at the Asterisk config, bad path parameter, tampered signature).',
        durationMs: elapsedMs,
      },
      {
        status: 'ok',
        metrics: {
          seed: SEED,
          requests: total,
          elapsed_ms: Math.round(elapsedMs),
          by_surface: bySurface,
          by_endpoint: byEndpoint,
          server_errors: serverErrors.length,
          accepted_mutations: acceptedMutations.length,
          transport_errors: transportErrors.length,
          process_alive: alive,
          healthz: health.status,
          config_unchanged: JSON.stringify(configAfter) === JSON.stringify(configBefore),
          rows_before: rowsBefore,
          rows_after: rowsAfter,
        },
        targets: [],
        notes: [
          ...serverErrors.filter((f) => f.status !== 500),
          ...serverErrors.filter((f) => f.status === 500).slice(0, 10),
          ...acceptedMutations.slice(0, 10),
          ...transportErrors.slice(0, 10),
        ].map((f) => `${f.status}: ${f.request} -> ${f.detail}`),
      },
    );

    const show = (what: string, list: Finding[]) =>
      list.length
        ? `${list.length} ${what}, e.g.:\n${list
            .slice(0, 5)
            .map((f) => `  ${f.status} ${f.detail}\n    ${f.request}`)
            .join('\n')}`
        : '';
    const problems = [
      show('5xx responses', serverErrors),
      show('state-changing requests accepted', acceptedMutations),
      show('requests without an answer', transportErrors),
    ].filter(Boolean);
    if (problems.length) process.stdout.write(`fuzz seed ${SEED}:\n${problems.join('\n')}\n`);

    expect(total).toBe(COUNT);
    expect(serverErrors.map((f) => f.request)).toEqual([]);
    expect(transportErrors.map((f) => f.request)).toEqual([]);
    expect(acceptedMutations.map((f) => f.request)).toEqual([]);
    expect(alive).toBe(true);
    expect(health.status).toBe(200);
    expect(reconcile.status).toBe(200);
    expect(configAfter).toEqual(configBefore);
    expect(rowsAfter).toEqual(rowsBefore);
    // Every surface was reached and validation answered (4xx), not only the auth layer.
    for (const surface of ['v2', 'v1', 'admin']) {
      const statuses = Object.keys(bySurface[surface] ?? {});
      expect(statuses.some((s) => s === '400' || s === '422')).toBe(true);
    }
  }, 240_000);
});
