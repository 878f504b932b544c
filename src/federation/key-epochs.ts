import type { KeyObject } from 'node:crypto';
import { type DatedKey, keyReferenceMoment, planRoot, targetPeriod } from '../core/agreement-key-epochs';
import type { AsteriskPort } from '../core/asterisk-port';
import type { Clock } from '../core/clock';
import { errorMessage } from '../core/errors';
import type { LocalKey, Partner, Peer } from '../core/records';
import type { Logger } from '../logging/logger';
import { syncInBackground, type HandshakeDeps } from './handshake-deps';
import type { PeeringStore } from './ports/peering-store';
import type { Transactions } from './ports/transactions';

/**
 * Agreement key rotation flowing into trunk secret epochs (issue 15; the rule
 * is src/core/agreement-key-epochs.ts, docs/protocol.md "Agreement key
 * rotation"). The job `key-epochs`, on each side, for each v2 peer on epochs:
 * - learns which pair of agreement keys its root derives from when the row
 *   does not say (peerings made before the pair was kept: the pair whose
 *   derivation gives the stored root);
 * - from the middle of a period on, refetches the partner's descriptor once
 *   (so a key the partner rotated is known), and writes the root of the next
 *   period derived from the pair of keys in force at that middle, when it is
 *   not the current pair;
 * - once that boundary's overlap is over, makes it the root.
 * The Asterisk layer derives each period's epoch secrets from the right root.
 * Nothing is sent to the partner: it reads the same keys and applies the same
 * rule.
 */

export interface KeyEpochsDeps {
  peerings: PeeringStore;
  tx: Transactions;
  clock: Clock;
  logger: Logger;
  asterisk: AsteriskPort;
  ownKeys: {
    /** Every key we hold (public halves). */
    list(): Promise<LocalKey[]>;
    agreementKey(kid: string): Promise<{ kid: string; privateKey: KeyObject; publicKey: string }>;
  };
  partnerKeys: {
    get(serverName: string): Promise<Partner | null>;
    refreshDescriptor(serverName: string): Promise<unknown>;
  };
  deriveSecret: HandshakeDeps['deriveSecret'];
  overlapMs: number;
}

export interface KeyEpochsReport {
  recognised: number;
  scheduled: number;
  folded: number;
}

const dated = (notBefore: number | string | undefined | null): number | null => {
  if (notBefore === undefined || notBefore === null) return null;
  const t = typeof notBefore === 'number' ? notBefore : Date.parse(notBefore);
  return Number.isFinite(t) ? t : null;
};

export class KeyEpochs {
  readonly name = 'key-epochs';
  /** Peers whose root no pair of known keys gives (by id and root), not tried again each run. */
  private readonly unrecognised = new Map<string, string>();
  /** The reference moment each partner's descriptor was last refetched for. */
  private readonly refetchedFor = new Map<string, number>();

  constructor(private readonly deps: KeyEpochsDeps) {}

  async run(): Promise<KeyEpochsReport> {
    const report: KeyEpochsReport = { recognised: 0, scheduled: 0, folded: 0 };
    const peers = (await this.deps.peerings.listPeers({ dialect: 'v2' })).filter(
      (p) => p.secretEpochSeconds !== null && p.partnerServerName !== null,
    );
    if (peers.length === 0) return report;
    const ownAgreement = (await this.deps.ownKeys.list()).filter((k) => k.alg === 'x25519');
    const own: DatedKey[] = ownAgreement.map((k) => ({ kid: k.kid, notBefore: k.notBefore }));
    let changed = false;
    for (const peer of peers) {
      try {
        const outcome = await this.settle(peer, ownAgreement, own);
        if (outcome !== 'none') {
          report[outcome]++;
          changed = changed || outcome !== 'recognised';
        }
      } catch (e) {
        this.deps.logger.warn('agreement key epoch step failed', {
          component: 'federation',
          name: peer.name,
          error: errorMessage(e),
        });
      }
    }
    if (changed) syncInBackground(this.deps, 'trunk secret roots from rotated agreement keys');
    return report;
  }

  private async settle(
    read: Peer,
    ownAgreement: LocalKey[],
    own: DatedKey[],
  ): Promise<'recognised' | 'scheduled' | 'folded' | 'none'> {
    const serverName = read.partnerServerName ?? '';
    let peer = read;
    if (peer.agreementKid === null || peer.partnerAgreementKid === null) {
      const pair = await this.recognise(peer, ownAgreement);
      if (!pair) return 'none';
      const ok = await this.write(peer, { agreementKid: pair.own, partnerAgreementKid: pair.partner });
      if (!ok) return 'none';
      return 'recognised';
    }
    const length = (peer.secretEpochSeconds ?? 0) * 1000;
    const now = this.deps.clock.now();
    const reference = keyReferenceMoment(targetPeriod(length, now), length);
    // Only between the middle of a period and its end (the boundary whose root is being settled).
    const beforeBoundary = now >= reference && now < reference + Math.ceil(length / 2);
    if (beforeBoundary && this.refetchedFor.get(serverName) !== reference) {
      // A key the partner rotated before the reference moment must be known before the boundary.
      this.refetchedFor.set(serverName, reference);
      await this.deps.partnerKeys.refreshDescriptor(serverName);
    }
    const partner = await this.deps.partnerKeys.get(serverName);
    const theirs: DatedKey[] = (partner?.agreementKeys ?? []).map((k) => ({
      kid: k.kid,
      notBefore: dated(k.notBefore),
    }));
    const plan = planRoot(
      {
        secretEpochSeconds: peer.secretEpochSeconds ?? 0,
        agreementKid: peer.agreementKid,
        partnerAgreementKid: peer.partnerAgreementKid,
        nextSecretFrom: peer.nextSecretFrom,
        nextAgreementKid: peer.nextAgreementKid,
        nextPartnerAgreementKid: peer.nextPartnerAgreementKid,
      },
      own,
      theirs,
      now,
      this.deps.overlapMs,
    );
    switch (plan.kind) {
      case 'keep':
        return 'none';
      case 'fold':
        if (peer.nextSecret === null) return 'none';
        return (await this.write(peer, {
          secret: peer.nextSecret,
          agreementKid: peer.nextAgreementKid,
          partnerAgreementKid: peer.nextPartnerAgreementKid,
          ...NO_NEXT,
        }))
          ? 'folded'
          : 'none';
      case 'drop':
        return (await this.write(peer, NO_NEXT)) ? 'scheduled' : 'none';
      case 'next': {
        const ownKey = await this.deps.ownKeys.agreementKey(plan.agreementKid);
        const partnerKey = partner?.agreementKeys.find((k) => k.kid === plan.partnerAgreementKid);
        if (!partnerKey) return 'none';
        peer = { ...peer };
        const nextSecret = this.deps.deriveSecret({
          ownPrivateKey: ownKey.privateKey,
          partnerPublicKey: partnerKey.publicKey,
          requestId: peer.requestId,
          name: peer.name,
        });
        const ok = await this.write(peer, {
          nextSecret,
          nextSecretFrom: plan.from,
          nextAgreementKid: plan.agreementKid,
          nextPartnerAgreementKid: plan.partnerAgreementKid,
        });
        if (ok)
          this.deps.logger.info('trunk secret follows rotated agreement keys from a boundary', {
            component: 'federation',
            name: peer.name,
            partner: serverName,
            from: new Date(plan.from).toISOString(),
            agreementKid: plan.agreementKid,
            partnerAgreementKid: plan.partnerAgreementKid,
          });
        return ok ? 'scheduled' : 'none';
      }
    }
  }

  /** The pair of agreement keys (ours, the partner's) whose derivation gives the peer's root, if any. */
  private async recognise(
    peer: Peer,
    ownAgreement: LocalKey[],
  ): Promise<{ own: string; partner: string } | null> {
    if (this.unrecognised.get(peer.id) === peer.secret) return null;
    const partner = await this.deps.partnerKeys.get(peer.partnerServerName ?? '');
    for (const o of ownAgreement) {
      let ownKey: { privateKey: KeyObject };
      try {
        ownKey = await this.deps.ownKeys.agreementKey(o.kid);
      } catch {
        continue;
      }
      for (const k of partner?.agreementKeys ?? []) {
        let secret: string;
        try {
          secret = this.deps.deriveSecret({
            ownPrivateKey: ownKey.privateKey,
            partnerPublicKey: k.publicKey,
            requestId: peer.requestId,
            name: peer.name,
          });
        } catch {
          continue;
        }
        if (secret === peer.secret) return { own: o.kid, partner: k.kid };
      }
    }
    this.unrecognised.set(peer.id, peer.secret);
    return null;
  }

  /** Writes over the row as read: nothing when its root or next root changed meanwhile (the next run looks again). */
  private async write(read: Peer, patch: Parameters<PeeringStore['updatePeer']>[1]): Promise<boolean> {
    return this.deps.tx.run(async (tx) => {
      const current = await this.deps.peerings.findPeer({ id: read.id }, tx);
      if (
        !current ||
        current.dialect !== 'v2' ||
        current.secret !== read.secret ||
        current.nextSecretFrom !== read.nextSecretFrom ||
        current.agreementKid !== read.agreementKid
      )
        return false;
      return this.deps.peerings.updatePeer(read.id, { ...patch, updatedAt: this.deps.clock.now() }, tx);
    });
  }
}

const NO_NEXT = {
  nextSecret: null,
  nextSecretFrom: null,
  nextAgreementKid: null,
  nextPartnerAgreementKid: null,
} as const;
