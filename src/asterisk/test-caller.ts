import { randomUUID } from 'node:crypto';
import type { Clock } from '../core/clock';
import type { Metrics } from '../core/metrics';
import type { TestCallResult } from '../core/asterisk-port';
import { AppError, errorMessage } from '../core/errors';
import type { Logger } from '../logging/logger';
import type { AsteriskPeerRows } from '../core/asterisk-peers';
import type { AriLink } from './asterisk-links';
import { assertDigits, assertName } from './peer-validation';

/** Channel id of an ARI event, whichever way the client hands it over (event object or (event, channel)). */
export function channelIdOf(args: unknown[]): string | null {
  for (const a of args) {
    if (a && typeof a === 'object') {
      const o = a as { id?: unknown; channel?: { id?: unknown } };
      if (o.channel && typeof o.channel.id === 'string') return o.channel.id;
      if (typeof o.id === 'string') return o.id;
    }
  }
  return null;
}

/**
 * A test call: ARI originates `IAX2/<peer>/<test extension>` into our Stasis
 * app. Answered when the channel enters Stasis (the partner's Echo answered);
 * the setup time runs from the originate to that moment. The channel is hung
 * up at once and the result is stored with the peer.
 */
export class TestCaller {
  constructor(
    private readonly deps: {
      /** The peers, from the composition (src/store/peer-rows.ts). */
      rows: AsteriskPeerRows;
      ari: AriLink;
      clock: Clock;
      logger: Logger;
      metrics: Metrics;
      app: string;
      testExtension: string;
      timeoutSec: number;
    },
  ) {}

  async call(peerName: string): Promise<TestCallResult> {
    const { rows, clock } = this.deps;
    const name = assertName('peer', peerName);
    const exten = assertDigits('testExtension', this.deps.testExtension);
    const peer = await rows.findForTestCall(name);
    if (!peer) throw new AppError('FED_UNKNOWN_PEER', `no peer named ${name}`);
    // chan_iax2 takes an IAX2/<name> it has no peer for as a host name: the call would go to DNS
    // (leaking the peer's name, and waiting out the resolver, 5 s when a query is lost) instead of
    // failing. Until the reconciler has seen the peer loaded, there is nothing to call.
    const { result, placed } =
      peer.applyState === 'applied'
        ? await this.originate(name, exten)
        : {
            placed: false,
            result: {
              answered: false,
              setupMs: null,
              error: `not placed: the peer is not loaded in Asterisk yet (apply_state ${peer.applyState}${
                peer.applyError ? `: ${peer.applyError}` : ''
              })`,
            },
          };
    // The one writer of lastTestCall (docs/architecture.md, who writes which column).
    await rows.recordTestCall(peer.id, { ...result, at: clock.now() });
    this.deps.metrics.countTestCall(name, result, placed);
    return result;
  }

  /**
   * The call's outcome, and whether it was handed to Asterisk (placed). An
   * originate Asterisk refuses (chan_iax2 allocates no channel to a peer its
   * qualify marks unreachable) was placed and failed: the trunk is the cause.
   */
  private async originate(peer: string, exten: string): Promise<{ result: TestCallResult; placed: boolean }> {
    const { ari, logger, timeoutSec } = this.deps;
    if (ari.state !== 'connected') {
      return {
        placed: false,
        result: { answered: false, setupMs: null, error: 'Asterisk ARI is not connected' },
      };
    }
    const channelId = `uuru-test-${randomUUID()}`;
    const t0 = performance.now();
    let settle: (r: TestCallResult) => void = () => undefined;
    const outcome = new Promise<TestCallResult>((resolve) => (settle = resolve));
    const onStart = (...args: unknown[]) => {
      if (channelIdOf(args) === channelId)
        settle({ answered: true, setupMs: Math.round(performance.now() - t0), error: null });
    };
    const onGone = (...args: unknown[]) => {
      if (channelIdOf(args) !== channelId) return;
      const ev = args[0] as { cause_txt?: string; cause?: number } | undefined;
      const why = ev?.cause_txt ?? (ev?.cause !== undefined ? `cause ${ev.cause}` : 'channel ended');
      settle({ answered: false, setupMs: null, error: `not answered: ${why}` });
    };
    const timer = setTimeout(
      () => settle({ answered: false, setupMs: null, error: `not answered within ${timeoutSec} s` }),
      (timeoutSec + 2) * 1000,
    );
    ari.on('StasisStart', onStart);
    ari.on('ChannelDestroyed', onGone);
    try {
      try {
        await ari.originate({
          endpoint: `IAX2/${peer}/${exten}`,
          app: this.deps.app,
          appArgs: 'testcall',
          timeoutSec,
          channelId,
        });
      } catch (e) {
        settle({ answered: false, setupMs: null, error: `originate failed: ${errorMessage(e)}` });
      }
      const result = await outcome;
      logger.info('test call', {
        component: 'asterisk',
        peer,
        answered: result.answered,
        setupMs: result.setupMs,
      });
      return { result, placed: true };
    } finally {
      clearTimeout(timer);
      ari.off('StasisStart', onStart);
      ari.off('ChannelDestroyed', onGone);
      // The outcome is known: the hangup goes out, and the answer does not wait for Asterisk to confirm it
      // (an ARI round trip, a few ms to tens on a loaded host, that only added to the caller's wait).
      hangUpInBackground(ari, channelId, logger);
    }
  }
}

/** Sends a hangup without waiting for its answer; a failure (the channel already gone, ARI down) is logged. */
function hangUpInBackground(ari: AriLink, channelId: string, logger: Logger): void {
  Promise.resolve()
    .then(() => ari.hangup(channelId))
    .catch((e: unknown) =>
      logger.debug('test call hangup failed', { component: 'asterisk', error: errorMessage(e) }),
    );
}
