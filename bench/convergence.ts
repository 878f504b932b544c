import { adminOk, peerByName, type Sidecar } from '../test/harness/sidecar';
import { sleep } from '../test/harness/processes';
import { type Instance, startInstance } from './asterisk-sidecar';
import { buildProduct } from './product-build';
import { percentile, round2 } from './percentiles';
import { type Scenario, target } from './scenario';
import { requestAndAccept, teardown } from './sidecar-peering';
import { waitUntil } from '../test/harness/wait';

const PEERINGS = 20;
const PER_PEERING_TIMEOUT_MS = 30_000;

const config = {
  jobs: { outboxPollMs: 100, reconcileCron: '0 0 1 1 *' },
  federation: { outboxRetryBaseMs: 200, outboxRetryMaxMs: 1000, unsolicitedRequestsPerOriginPerHour: 1000 },
  log: { level: 'warn' },
};

/**
 * Milliseconds from the accept until `side`'s admin API lists the peer as applied (written and verified in
 * its Asterisk), with the peer's id there, polled back to back; null when that did not happen within the
 * timeout. Both sides are polled at once, each by a loop of its own.
 */
async function appliedOn(
  side: Sidecar,
  name: string,
  acceptSentAt: number,
  timeoutMs: number,
): Promise<{ at: number; id: string } | null> {
  for (;;) {
    if (performance.now() - acceptSentAt > timeoutMs) return null;
    const view = (await peerByName(side, name)) as { id: string; apply_state?: string } | undefined;
    if (view?.apply_state === 'applied') return { at: performance.now() - acceptSentAt, id: view.id };
    await sleep(2);
  }
}

export const convergence: Scenario = {
  name: 'convergence',
  title: 'Convergence: from the accept on B to the first answered call from A',
  method:
    `Two complete instances (each a sidecar process on SQLite with its own real Asterisk 22, files backend, default ` +
    `reload debounce) on loopback. ${PEERINGS} times, through the admin API only: A requests, B accepts; the clock ` +
    'starts when the accept is sent to B and stops when a test call placed on A (`POST /federation/peers/{id}/test-call`: ' +
    "an ARI originate to IAX2/<peer>/<B's test extension>) is answered by B (the POST's answer). Then A tears the peer " +
    'down; the next round starts once neither Asterisk lists the peer any more (the teardown live on both sides, ' +
    "so that no round starts inside the previous one's reconcile). Trunk ready, in the same rounds: from the same " +
    "accept until both sides' admin " +
    'APIs list the peer with apply_state `applied` (written in their Asterisk and verified there by its mark), each ' +
    'side polled back to back by a loop of its own. The test calls start once A lists the peer as applied (before ' +
    'that A places none: its Asterisk does not hold the peer) and follow each other 5 ms apart until one is answered.',

  async run(log) {
    let a: Instance | null = null;
    let b: Instance | null = null;
    try {
      const build = buildProduct();
      if (build.typeErrors)
        log(`npm run build reported type errors (dist/ emitted anyway): ${build.typeErrors}`);
      // dist/main.js, as `npm start` runs it (the sources under ts-node transpile each module when first used).
      const started = await Promise.allSettled([
        startInstance('conv_a', { config, entry: 'build' }),
        startInstance('conv_b', { config, entry: 'build' }),
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
      const readyA: number[] = [];
      const readyB: number[] = [];
      const attempts: number[] = [];
      /** The answered call: sent how long after the bench saw A applied, its setup (as A reports it), its POST. */
      const sentAfterReadyA: number[] = [];
      const setupMs: number[] = [];
      const answeredPostMs: number[] = [];
      const failures: string[] = [];
      for (let i = 0; i < PEERINGS; i++) {
        const name = `conv_${i}`;
        const p = await requestAndAccept(A, B, name, { requester: '71', acceptor: '72' });
        const onA = appliedOn(A, name, p.acceptSentAt, PER_PEERING_TIMEOUT_MS);
        const onB = appliedOn(B, name, p.acceptSentAt, PER_PEERING_TIMEOUT_MS);
        // A test call is placed only through a peer A lists as applied (before that A answers "not placed":
        // the peer is not loaded in its Asterisk), so the calls start once A's own poll sees it applied.
        const onAView = await onA;
        const aAt = onAView?.at ?? null;
        let tries = 0;
        let done = false;
        let answeredCall: { sentAfterA: number; setup: number | null; post: number } | null = null;
        let lastError = aAt === null ? 'A never listed the peer as applied' : '';
        // The peer's id as A's own poll listed it: no further round trip before the first call.
        const peer = onAView ?? undefined;
        while (peer && !done && performance.now() - p.acceptSentAt < PER_PEERING_TIMEOUT_MS) {
          tries += 1;
          const sentAt = performance.now();
          const call = await adminOk<{ answered: boolean; setup_ms: number | null; error: string | null }>(
            A,
            'POST',
            `/federation/peers/${peer.id}/test-call`,
            {},
            200,
          );
          if (call.answered) {
            const now = performance.now();
            samples.push(now - p.acceptSentAt);
            attempts.push(tries);
            answeredCall = {
              sentAfterA: sentAt - p.acceptSentAt - (aAt ?? 0),
              setup: call.setup_ms,
              post: now - sentAt,
            };
            sentAfterReadyA.push(answeredCall.sentAfterA);
            if (call.setup_ms !== null) setupMs.push(call.setup_ms);
            answeredPostMs.push(answeredCall.post);
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
        const bAt = (await onB)?.at ?? null;
        const readyMs = aAt === null || bAt === null ? null : Math.max(aAt, bAt);
        if (readyMs === null)
          failures.push(`${name}: not applied on both sides within ${PER_PEERING_TIMEOUT_MS} ms`);
        else {
          readySamples.push(readyMs);
          readyA.push(aAt ?? 0);
          readyB.push(bAt ?? 0);
        }
        log(
          `${name}: ${done ? `${Math.round(samples[samples.length - 1])} ms after ${tries} call(s)` : 'FAILED'}` +
            `, trunk ready after ${readyMs === null ? 'never' : Math.round(readyMs)} ms` +
            ` (A ${aAt === null ? '-' : Math.round(aAt)}, B ${bAt === null ? '-' : Math.round(bAt)})` +
            (answeredCall
              ? `; the answered call sent ${Math.round(answeredCall.sentAfterA)} ms after A applied, setup ` +
                `${answeredCall.setup ?? '-'} ms, POST ${Math.round(answeredCall.post)} ms`
              : ''),
        );
        await teardown(A, B, name);
        // The next round starts from a settled pair: the trunk gone from both Asterisks, not only from both
        // databases. Otherwise B's next accept could come within BURST_GAP_MS (25 ms) of its teardown's request,
        // and a change that close to the previous one is held 50 ms by design, as a possible burst's second
        // request (src/asterisk/reconciler.ts): the round would measure the coalescing, not a lone accept.
        for (const inst of [a, b])
          await waitUntil(async () => !(await inst.asterisk.cli('iax2 show peers')).includes(name), {
            what: `${name} gone from ${inst.sidecar.name}'s Asterisk`,
            timeoutMs: PER_PEERING_TIMEOUT_MS,
            intervalMs: 20,
          });
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
          // Where the time goes (not targets): each side's own readiness, and the answered call.
          a_applied_p50_ms: percentile(readyA, 50),
          b_applied_p50_ms: percentile(readyB, 50),
          answered_call_sent_after_a_applied_p50_ms: percentile(sentAfterReadyA, 50),
          answered_call_setup_p50_ms: percentile(setupMs, 50),
          answered_call_post_p50_ms: percentile(answeredPostMs, 50),
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
