import { adminOk, peerByName, type Sidecar } from '../test/harness/sidecar';
import { sleep } from '../test/harness/processes';
import { type Instance, startInstance } from './asterisk-sidecar';
import { percentile, round2 } from './percentiles';
import { type Scenario, target } from './scenario';
import { requestAndAccept, teardown } from './sidecar-peering';

const PEERINGS = 20;
const PER_PEERING_TIMEOUT_MS = 30_000;

const config = {
  jobs: { outboxPollMs: 100, reconcileCron: '0 0 1 1 *' },
  federation: { outboxRetryBaseMs: 200, outboxRetryMaxMs: 1000, unsolicitedRequestsPerOriginPerHour: 1000 },
  log: { level: 'warn' },
};

/**
 * Milliseconds from the accept until every side lists the peer as applied (written and verified in its
 * Asterisk), polled back to back; null when that did not happen within the timeout.
 */
async function trunkReady(
  sides: Sidecar[],
  name: string,
  acceptSentAt: number,
  timeoutMs: number,
): Promise<number | null> {
  const pending = new Set(sides);
  while (pending.size > 0) {
    if (performance.now() - acceptSentAt > timeoutMs) return null;
    for (const s of [...pending]) {
      const view = (await peerByName(s, name)) as { apply_state?: string } | undefined;
      if (view?.apply_state === 'applied') pending.delete(s);
    }
    if (pending.size > 0) await sleep(2);
  }
  return performance.now() - acceptSentAt;
}

export const convergence: Scenario = {
  name: 'convergence',
  title: 'Convergence: from the accept on B to the first answered call from A',
  method:
    `Two complete instances (each a sidecar process on SQLite with its own real Asterisk 22, files backend, default ` +
    `reload debounce) on loopback. ${PEERINGS} times, through the admin API only: A requests, B accepts; the clock ` +
    'starts when the accept is sent to B and stops when a test call placed on A (`POST /federation/peers/{id}/test-call`: ' +
    "an ARI originate to IAX2/<peer>/<B's test extension>) is answered by B; polled back to back from the accept. Then A " +
    'tears the peer down and the next round starts. Trunk ready, in the same rounds: from the same accept until both ' +
    "sides' admin APIs list the peer with apply_state `applied` (written in their Asterisk and verified there by its " +
    'mark), polled on both sides alongside the test calls.',

  async run(log) {
    let a: Instance | null = null;
    let b: Instance | null = null;
    try {
      const started = await Promise.allSettled([
        startInstance('conv_a', { config }),
        startInstance('conv_b', { config }),
      ]);
      const [ra, rb] = started;
      if (ra.status === 'fulfilled') a = ra.value;
      if (rb.status === 'fulfilled') b = rb.value;
      if (ra.status === 'rejected') throw ra.reason;
      if (rb.status === 'rejected') throw rb.reason;
      if (!a || !b) throw new Error('instances did not start');
      const [A, B] = [a.sidecar, b.sidecar];
      const samples: number[] = [];
      const readySamples: number[] = [];
      const attempts: number[] = [];
      const failures: string[] = [];
      for (let i = 0; i < PEERINGS; i++) {
        const name = `conv_${i}`;
        const p = await requestAndAccept(A, B, name, { requester: '71', acceptor: '72' });
        const ready = trunkReady([A, B], name, p.acceptSentAt, PER_PEERING_TIMEOUT_MS);
        let tries = 0;
        let done = false;
        let lastError = '';
        while (!done && performance.now() - p.acceptSentAt < PER_PEERING_TIMEOUT_MS) {
          const peer = await peerByName(A, name);
          if (!peer) {
            await sleep(5);
            continue;
          }
          tries += 1;
          const call = await adminOk<{ answered: boolean; error: string | null }>(
            A,
            'POST',
            `/federation/peers/${peer.id}/test-call`,
            {},
            200,
          );
          if (call.answered) {
            samples.push(performance.now() - p.acceptSentAt);
            attempts.push(tries);
            done = true;
          } else {
            lastError = call.error ?? '';
            await sleep(5);
          }
        }
        if (!done) {
          const view = (await peerByName(A, name)) as Record<string, unknown> | undefined;
          const state = view
            ? `apply_state ${String(view.apply_state)}, apply_error ${String(view.apply_error)}`
            : 'no peer on A';
          failures.push(
            `${name}: no answered call within ${PER_PEERING_TIMEOUT_MS} ms (${lastError}; ${state})`,
          );
        }
        const readyMs = await ready;
        if (readyMs === null)
          failures.push(`${name}: not applied on both sides within ${PER_PEERING_TIMEOUT_MS} ms`);
        else readySamples.push(readyMs);
        log(
          `${name}: ${done ? `${Math.round(samples[samples.length - 1])} ms after ${tries} call(s)` : 'FAILED'}` +
            `, trunk ready after ${readyMs === null ? 'never' : Math.round(readyMs)} ms`,
        );
        await teardown(A, B, name);
      }
      const p50 = percentile(samples, 50);
      const readyP50 = percentile(readySamples, 50);
      const readyP95 = percentile(readySamples, 95);
      return {
        status: 'ok',
        metrics: {
          peerings: PEERINGS,
          answered: samples.length,
          p50_ms: p50,
          p95_ms: percentile(samples, 95),
          min_ms: samples.length ? round2(Math.min(...samples)) : null,
          max_ms: samples.length ? round2(Math.max(...samples)) : null,
          test_calls_until_answered_p50: percentile(attempts, 50),
          samples_ms: samples.map(round2),
          trunk_ready_p50_ms: readyP50,
          trunk_ready_p95_ms: readyP95,
          trunk_ready_samples_ms: readySamples.map(round2),
          failures,
        },
        targets: [
          target('trunk ready p50', readyP50, 'ms', '<=', 30),
          target('trunk ready p95', readyP95, 'ms', '<=', 60),
          target('first answered call p50', p50, 'ms', '<=', 100),
        ],
      };
    } finally {
      await Promise.all([a?.stop(), b?.stop()]);
    }
  },
};
