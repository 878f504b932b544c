import { errorMessage } from '../core/errors';
import type { Logger } from '../logging/logger';
import type { Clock } from '../core/clock';
import type { Metrics } from '../core/metrics';
import type { Outbox } from './outbox';
import type { PartnerTransport } from './partner-transport';
import type { PeeringStore } from './ports/peering-store';
import type { Transactions } from './ports/transactions';
import type { Peer } from './ports/peering-store';
import { compareTrunkEpochs, trunkEpochsOf } from './secret-rotation';
import { v2PeeringState as stateCall } from './v2-calls';
import { v2PeeringStateAnswer, type V2PeeringState, type V2TrunkEpochs } from './wire-schemas';

/** How a peer's `partner_error` about differing trunk secret epochs starts (anti-entropy clears only its own). */
export const EPOCHS_DIFFER = 'the trunk secret epochs differ from the partner’s';

/** Outgoing requests younger than this are left alone (unless they predate this process). */
const FRESH_REQUEST_MS = 5 * 60 * 1000;

export interface AntiEntropyReport {
  checked: number;
  resentAccepts: number;
  markedMissing: number;
  recovered: number;
  requestsClosed: number;
  errors: number;
  /** Peerings whose trunk secret epochs differ from the partner's (reported on the peer), and those caught up. */
  epochMismatches: number;
  epochsCaughtUp: number;
}

/**
 * Repairs half-peerings after outages by asking each v2 partner how it sees
 * each shared peering (GET /peerings/{id}): a lost accept is sent again, a
 * peer the partner forgot is marked partner_missing (the admin decides), a
 * pending request the partner declined or forgot is closed. v1 partners
 * (stock µURU) have no such endpoint and are skipped. For an active peering
 * on trunk secret epochs the partner also answers its epochs (length, forced
 * rotations agreed, the last one's moment): when it agreed one forced
 * rotation more (the answer to our proposal was lost) we propose it again and
 * take the moment it answers; any other difference is reported on the peer
 * (`partner_error`) until the two agree again.
 */
export class AntiEntropy {
  readonly name = 'anti-entropy';
  private running: Promise<AntiEntropyReport> | null = null;
  /** Requests stored before this moment were sent by an earlier process, so none of them is still in flight. */
  private readonly startedAt: number;

  constructor(
    private readonly deps: {
      peerings: PeeringStore;
      transport: PartnerTransport;
      outbox: Outbox;
      tx: Transactions;
      clock: Clock;
      logger: Logger;
      metrics: Metrics;
      /** Proposes a forced rotation again (Handshake.forceSecretRotation): how a side behind catches up. */
      catchUpRotation?: (peerId: string) => Promise<unknown>;
    },
  ) {
    this.startedAt = deps.clock.now();
  }

  run(): Promise<AntiEntropyReport> {
    this.running ??= this.pass().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async ask(
    partnerUrl: string,
    requestId: string,
  ): Promise<{ state: V2PeeringState; epochs: V2TrunkEpochs | null }> {
    const answer = await this.deps.transport.send(stateCall(partnerUrl, requestId));
    if (answer.status !== 200) throw new Error(`partner answered ${answer.status}`);
    const parsed = v2PeeringStateAnswer.safeParse(answer.json);
    if (!parsed.success) throw new Error('partner answered with an unexpected body');
    return { state: parsed.data.state, epochs: parsed.data.trunk_epochs ?? null };
  }

  /** Compares an active peering's trunk secret epochs with the partner's: catches up, reports, or clears a report. */
  private async compareEpochs(peer: Peer, theirs: V2TrunkEpochs, report: AntiEntropyReport): Promise<void> {
    const { peerings, clock, logger } = this.deps;
    const ours = trunkEpochsOf(peer);
    const verdict = compareTrunkEpochs(ours, theirs);
    let failure: string | null = null;
    if (verdict === 'behind' && this.deps.catchUpRotation) {
      try {
        await this.deps.catchUpRotation(peer.id);
        report.epochsCaughtUp++;
        logger.info('anti-entropy: caught up with a forced rotation the partner agreed', {
          component: 'anti-entropy',
          peer: peer.name,
        });
      } catch (e) {
        failure = errorMessage(e);
      }
    }
    const reported = peer.partnerError?.startsWith(EPOCHS_DIFFER) ?? false;
    if (verdict === 'same' || (verdict === 'behind' && failure === null)) {
      if (reported)
        await peerings.updatePeer(peer.id, {
          partnerError: null,
          partnerErrorAt: null,
          updatedAt: clock.now(),
        });
      return;
    }
    report.epochMismatches++;
    const show = (e: V2TrunkEpochs | null) =>
      e === null
        ? 'a fixed secret'
        : `${e.length_seconds} s epochs, ${e.forced_rotations} forced rotation(s)${e.forced_rotation_at ? ` (last at ${e.forced_rotation_at})` : ''}`;
    const now = clock.now();
    const partnerError = `${EPOCHS_DIFFER}: here ${show(ours)}, the partner ${show(theirs)} (checked ${new Date(now).toISOString()})${failure ? `; catching up failed: ${failure}` : ''}`;
    logger.warn('anti-entropy: trunk secret epochs differ from the partner', {
      component: 'anti-entropy',
      peer: peer.name,
      verdict,
    });
    // Another finding on the peer (a lost accept, the partner missing) stands.
    if (peer.partnerError === null || reported)
      await peerings.updatePeer(peer.id, { partnerError, partnerErrorAt: now, updatedAt: now });
  }

  private async pass(): Promise<AntiEntropyReport> {
    const report: AntiEntropyReport = {
      checked: 0,
      resentAccepts: 0,
      markedMissing: 0,
      recovered: 0,
      requestsClosed: 0,
      errors: 0,
      epochMismatches: 0,
      epochsCaughtUp: 0,
    };
    const { peerings, clock } = this.deps;
    const pendingDeliveries = await this.deps.outbox.pendingByRequest(
      (await peerings.listPeers({ dialect: 'v2' })).map((p) => p.requestId),
    );
    for (const peer of await peerings.listPeers({ dialect: 'v2' })) {
      // While our own notification is still on its way the partner's view is expected to lag.
      if (pendingDeliveries.has(peer.requestId)) continue;
      report.checked++;
      let state: V2PeeringState;
      let epochs: V2TrunkEpochs | null;
      try {
        ({ state, epochs } = await this.ask(peer.partnerUrl, peer.requestId));
      } catch (e) {
        report.errors++;
        this.deps.metrics.partnerChecks.inc({ peer: peer.name, result: 'error' });
        this.deps.logger.info('anti-entropy: partner not answering', {
          component: 'anti-entropy',
          peer: peer.name,
          error: errorMessage(e),
        });
        continue;
      }
      this.deps.metrics.partnerChecks.inc({ peer: peer.name, result: 'ok' });
      const now = clock.now();
      if (state === 'active') {
        if (peer.state === 'partner_missing') {
          await peerings.updatePeer(peer.id, {
            state: 'active',
            partnerError: null,
            partnerErrorAt: null,
            updatedAt: now,
          });
          report.recovered++;
        } else if (epochs !== null) {
          await this.compareEpochs(peer, epochs, report);
        }
      } else if (state === 'pending' && peer.role === 'acceptor') {
        const last = await this.deps.outbox.latest(peer.requestId, 'accept');
        if (last) {
          await this.deps.tx.run((tx) =>
            this.deps.outbox.enqueue(tx, {
              kind: 'accept',
              call: { dialect: 'v2', method: 'POST', url: last.url, body: last.body },
              peerName: peer.name,
              requestId: peer.requestId,
            }),
          );
          this.deps.outbox.kick();
          report.resentAccepts++;
          this.deps.logger.info('anti-entropy: resending a lost accept', {
            component: 'anti-entropy',
            peer: peer.name,
          });
        }
      } else if (peer.state !== 'partner_missing') {
        await peerings.updatePeer(peer.id, {
          state: 'partner_missing',
          partnerError: `the partner reports this peering as ${state} (checked ${new Date(now).toISOString()}); tear it down or ask the partner`,
          partnerErrorAt: now,
          updatedAt: now,
        });
        report.markedMissing++;
        this.deps.logger.warn('anti-entropy: partner does not know a peering', {
          component: 'anti-entropy',
          peer: peer.name,
          state,
        });
      }
    }
    for (const req of await peerings.listOutgoing({ dialect: 'v2', state: 'pending' })) {
      // A request being created right now may not have reached the partner yet. One stored
      // before a crash may never have been sent: the partner's "unknown" is final for it.
      if (req.createdAt >= this.startedAt && clock.now() - req.createdAt < FRESH_REQUEST_MS) continue;
      report.checked++;
      let state: V2PeeringState;
      try {
        ({ state } = await this.ask(req.partnerUrl, req.id));
      } catch {
        report.errors++;
        continue;
      }
      const now = clock.now();
      if (state === 'declined') {
        await peerings.updateOutgoing(req.id, { state: 'declined', updatedAt: now }, { onlyIfPending: true });
        report.requestsClosed++;
      } else if (state === 'unknown') {
        await peerings.updateOutgoing(
          req.id,
          { state: 'failed', lastError: 'the partner no longer knows this request', updatedAt: now },
          { onlyIfPending: true },
        );
        report.requestsClosed++;
      }
    }
    return report;
  }
}
