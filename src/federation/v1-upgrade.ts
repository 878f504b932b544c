import crypto from 'node:crypto';
import { AppError, errorMessage } from '../core/errors';
import { isPeeringName } from '../core/peering-name';
import type { Peer } from '../core/records';
import { MAX_EPOCH_SECONDS, MIN_EPOCH_SECONDS } from '../core/trunk-secret-epochs';
import { PROTOCOL_V2 } from './descriptor';
import { syncInBackground, type Descriptor, type HandshakeDeps } from './handshake-deps';
import { authorityOf, trimBase } from './partner-call';
import type { Answer } from './handshake-inbound';
import { fingerprint } from './key-encoding';
import {
  v2SecretEpochsAnswer,
  type V2SecretEpochsBody,
  v2UpgradeAnswer,
  type V2UpgradeAnswer,
  type V2UpgradeBody,
} from './wire-schemas';

/**
 * v1 → v2 upgrade of a peering (docs/protocol.md, "Upgrading a v1 peering").
 *
 * When the partner of a v1 peering starts publishing a uuru-fed/2 descriptor,
 * the peering's v1 requester proposes an upgrade over a signed v2 call
 * (`POST /federation/v2/peers/{name}/upgrade`); its acceptor is the one that
 * answers, so two sidecars never cross proposals. Both sides prove they hold
 * the v1 peering: the proposal and the answer each carry an HMAC-SHA256 keyed
 * by the v1 secret over the peering's name and request id, both server names,
 * the agreement key each side contributes and the agreed values. The secret
 * itself is never sent. Once both agree, the same peer row becomes v2 (name,
 * prefix, request id and role kept): its secret is the one both derive from
 * their agreement keys (as a v2 handshake does, salt = the v1 request id), on
 * epochs of the proposed length, and the v1 secret stays as `previousSecret`:
 * sent until the agreed `switch_at`, accepted until `switch_at` + the overlap,
 * then forgotten. No teardown, no call dropped.
 */

/** The text a binding MACs: one field a line, so no two proposals share one. */
export function upgradeBindingText(p: {
  step: 'propose' | 'accept';
  name: string;
  requestId: string;
  proposer: string;
  acceptor: string;
  agreementKid: string;
  agreementPublicKey: string;
  secretEpochSeconds: number;
  switchAt: string;
}): string {
  return [
    `uuru-fed/2 v1-upgrade ${p.step}`,
    p.name,
    p.requestId,
    p.proposer,
    p.acceptor,
    p.agreementKid,
    p.agreementPublicKey,
    String(p.secretEpochSeconds),
    p.switchAt,
  ].join('\n');
}

/** HMAC-SHA256 keyed by the v1 secret, base64url. */
export function upgradeBinding(v1Secret: string, text: string): string {
  return crypto.createHmac('sha256', Buffer.from(v1Secret, 'utf8')).update(text, 'utf8').digest('base64url');
}

function bindingMatches(v1Secret: string, text: string, given: string): boolean {
  const want = Buffer.from(upgradeBinding(v1Secret, text), 'utf8');
  const got = Buffer.from(given, 'utf8');
  return want.length === got.length && crypto.timingSafeEqual(want, got);
}

/** How far from now a proposed switch moment may be. */
const SWITCH_PAST_MS = 5 * 60_000;
const SWITCH_AHEAD_MS = 2 * 86_400_000;

/**
 * The proposer's check of an upgrade answer's terms: the ones it proposed,
 * or, when the acceptor answers a repeat (it took an earlier proposal of ours
 * whose answer was lost), terms that could have been agreed for this peering:
 * a switch moment between the peering's creation and as far ahead as an
 * acceptor takes one, an epoch length the protocol allows. Throws otherwise
 * (nothing is stored).
 */
export function checkUpgradeAnswer(
  proposed: { switchAt: string; secretEpochSeconds: number },
  answer: { switch_at: string; secret_epoch_seconds: number },
  bounds: { createdAt: number; now: number },
): void {
  const at = Date.parse(answer.switch_at);
  const length = answer.secret_epoch_seconds;
  if (at === Date.parse(proposed.switchAt) && length === proposed.secretEpochSeconds) return;
  if (!Number.isFinite(at) || at < bounds.createdAt - SWITCH_PAST_MS || at > bounds.now + SWITCH_AHEAD_MS)
    throw new Error(
      `the partner answered the upgrade with switch_at ${answer.switch_at}, neither ours nor an earlier agreement's`,
    );
  if (!Number.isSafeInteger(length) || length < MIN_EPOCH_SECONDS || length > MAX_EPOCH_SECONDS)
    throw new Error(
      `the partner answered the upgrade with an epoch length of ${length} s, outside ${MIN_EPOCH_SECONDS}..${MAX_EPOCH_SECONDS} s`,
    );
}

export interface V1UpgradeReport {
  checked: number;
  proposed: number;
  upgraded: number;
  refused: number;
  /** Upgraded peers whose switch is over: the v1 secret forgotten. */
  finished: number;
  /** v2 peerings made before epochs that agreed a switch onto them now. */
  onEpochs: number;
}

export class V1Upgrade {
  readonly name = 'v1-upgrade';

  constructor(private readonly deps: HandshakeDeps) {}

  private get ourServerName(): string {
    return authorityOf(this.deps.config.instance.publicUrl);
  }

  private get overlapMs(): number {
    return this.deps.config.federation.secretOverlapSeconds * 1000;
  }

  /** The partner's answer to a proposal for this peering, checked against the terms proposed. */
  private agreedTerms<
    T extends { name: string; request_id: string; switch_at: string; secret_epoch_seconds: number },
  >(
    schema: { safeParse(v: unknown): { success: true; data: T } | { success: false } },
    json: unknown,
    peer: Peer,
    proposed: { switchAt: string; secretEpochSeconds: number },
  ): T {
    const parsed = schema.safeParse(json);
    if (!parsed.success || parsed.data.name !== peer.name || parsed.data.request_id !== peer.requestId)
      throw new Error('the partner answered the proposal with an unexpected body');
    checkUpgradeAnswer(proposed, parsed.data, { createdAt: peer.createdAt, now: this.deps.clock.now() });
    return parsed.data;
  }

  /** One peering's upgrade step failed: logged, and the job goes on with the next peering. */
  private warnFailed(what: string, peer: Peer, e: unknown): void {
    this.deps.logger.warn(what, {
      component: 'federation',
      name: peer.name,
      partner: authorityOf(peer.partnerUrl),
      error: errorMessage(e),
    });
  }

  /**
   * One pass (the `v1-upgrade` job): forgets v1 secrets whose switch is over,
   * then, for each v1 peering this side requested whose partner now publishes
   * a uuru-fed/2 descriptor, proposes the upgrade. Never throws for one peer.
   */
  async run(): Promise<V1UpgradeReport> {
    const report: V1UpgradeReport = {
      checked: 0,
      proposed: 0,
      upgraded: 0,
      refused: 0,
      finished: 0,
      onEpochs: 0,
    };
    report.finished = await this.forgetFinishedSwitches();
    if (!this.deps.config.federation.v2Enabled) return report;
    // v2 peerings made before epochs (a fixed secret): their requester proposes a switch onto epochs.
    for (const peer of await this.deps.peerings.listPeers({ dialect: 'v2' })) {
      if (peer.role !== 'requester' || peer.secretEpochSeconds !== null) continue;
      try {
        if (await this.proposeEpochs(peer)) report.onEpochs++;
      } catch (e) {
        this.warnFailed('moving a peering onto trunk secret epochs failed', peer, e);
      }
    }
    for (const peer of await this.deps.peerings.listPeers({ dialect: 'v1' })) {
      // The acceptor answers; a name v2 cannot carry stays v1.
      if (peer.role !== 'requester' || !isPeeringName(peer.name)) continue;
      report.checked++;
      try {
        const outcome = await this.propose(peer);
        if (outcome === 'upgraded') {
          report.proposed++;
          report.upgraded++;
        } else if (outcome === 'refused') {
          report.proposed++;
          report.refused++;
        }
      } catch (e) {
        this.warnFailed('v1 → v2 upgrade failed', peer, e);
      }
    }
    return report;
  }

  /** The v1 secret of a finished switch is dropped from the row (Asterisk stopped accepting it at the same moment). */
  private async forgetFinishedSwitches(): Promise<number> {
    const now = this.deps.clock.now();
    let n = 0;
    for (const peer of await this.deps.peerings.listPeers({ dialect: 'v2' })) {
      if (peer.secretSwitchAt === null || now < peer.secretSwitchAt + this.overlapMs) continue;
      await this.deps.peerings.updatePeer(peer.id, {
        previousSecret: null,
        secretSwitchAt: null,
        updatedAt: now,
      });
      n++;
    }
    if (n > 0) syncInBackground(this.deps, 'v1 secrets of upgraded peerings forgotten');
    return n;
  }

  /** The requester's side: proposes, checks the answer, and turns its peer into v2. */
  private async propose(peer: Peer): Promise<'not-offered' | 'upgraded' | 'refused'> {
    let lookup: Awaited<ReturnType<HandshakeDeps['fetchDescriptor']>>;
    try {
      lookup = await this.deps.fetchDescriptor(peer.partnerUrl);
    } catch (e) {
      // A stock µURU may answer the address with a web page, or be down: nothing to upgrade to now.
      this.deps.logger.debug('no descriptor from a v1 partner', {
        component: 'federation',
        name: peer.name,
        error: errorMessage(e),
      });
      return 'not-offered';
    }
    if (lookup.kind !== 'found' || !lookup.descriptor.protocol_versions.includes(PROTOCOL_V2))
      return 'not-offered';
    const d = lookup.descriptor;
    const partner = d.server_name;
    if (partner !== authorityOf(peer.partnerUrl)) return 'not-offered';
    const { config, clock } = this.deps;
    const own = await this.deps.ownKeys.agreementKey();
    const secretEpochSeconds = d.secret_epoch_seconds ?? config.federation.secretEpochSeconds;
    const switchAt = new Date(clock.now() + config.federation.upgradeSwitchDelaySeconds * 1000).toISOString();
    const base = {
      name: peer.name,
      requestId: peer.requestId,
      proposer: this.ourServerName,
      acceptor: partner,
      secretEpochSeconds,
    };
    const body: V2UpgradeBody = {
      request_id: peer.requestId,
      base_url: trimBase(config.instance.publicUrl),
      iax2: { host: config.instance.iax2Host, port: config.instance.iax2Port },
      extension_length: config.instance.extensionDigits,
      agreement_kid: own.kid,
      secret_epoch_seconds: secretEpochSeconds,
      switch_at: switchAt,
      binding: upgradeBinding(
        peer.secret,
        upgradeBindingText({
          ...base,
          step: 'propose',
          agreementKid: own.kid,
          agreementPublicKey: own.publicKey,
          switchAt,
        }),
      ),
    };
    const answer = await this.deps.transport.send({
      dialect: 'v2',
      method: 'POST',
      url: `${trimBase(d.base_url)}/federation/v2/peers/${encodeURIComponent(peer.name)}/upgrade`,
      body: { ...body, iax2: { ...body.iax2 } },
    });
    if (answer.status !== 200) {
      this.deps.logger.warn('v1 → v2 upgrade refused by the partner', {
        component: 'federation',
        name: peer.name,
        partner,
        status: answer.status,
        answer: (answer.json as { error?: unknown } | null)?.error ?? null,
      });
      return 'refused';
    }
    const agreed = this.agreedTerms(v2UpgradeAnswer, answer.json, peer, { switchAt, secretEpochSeconds });
    await this.completeProposal(peer, d, agreed, own);
    return 'upgraded';
  }

  private async completeProposal(
    peer: Peer,
    d: Descriptor,
    a: V2UpgradeAnswer,
    own: { kid: string; privateKey: crypto.KeyObject; publicKey: string },
  ): Promise<void> {
    const partnerKey = d.agreement_keys.find((k) => k.kid === a.agreement_kid)?.public_key;
    if (!partnerKey)
      throw new Error(`the partner's agreement key ${a.agreement_kid} is not in its descriptor`);
    const text = upgradeBindingText({
      step: 'accept',
      name: peer.name,
      requestId: peer.requestId,
      proposer: this.ourServerName,
      acceptor: d.server_name,
      agreementKid: a.agreement_kid,
      agreementPublicKey: partnerKey,
      secretEpochSeconds: a.secret_epoch_seconds,
      switchAt: a.switch_at,
    });
    // An answer that does not prove the v1 secret changes nothing (someone between us and the partner).
    if (!bindingMatches(peer.secret, text, a.binding))
      throw new AppError('FED_UPGRADE_BINDING_INVALID', "the partner's answer does not match our v1 peering");
    const secret = this.deps.deriveSecret({
      ownPrivateKey: own.privateKey,
      partnerPublicKey: partnerKey,
      requestId: peer.requestId,
      name: peer.name,
    });
    const now = this.deps.clock.now();
    await this.deps.tx.run(async (tx) => {
      const current = await this.deps.peerings.findPeer({ id: peer.id }, tx);
      if (!current || current.dialect !== 'v1' || current.secret !== peer.secret)
        throw new AppError('FED_STATE_CONFLICT', `peer ${peer.name} changed during its upgrade`);
      await this.deps.partnerKeys.pin(d, tx);
      await this.deps.peerings.updatePeer(
        peer.id,
        {
          dialect: 'v2',
          partnerServerName: d.server_name,
          secret,
          secretEpochSeconds: a.secret_epoch_seconds,
          previousSecret: peer.secret,
          secretSwitchAt: Date.parse(a.switch_at),
          partnerKeyFingerprint: d.signing_keys[0] ? fingerprint(d.signing_keys[0].public_key) : null,
          updatedAt: now,
        },
        tx,
      );
    });
    syncInBackground(this.deps, `peer ${peer.name} upgraded to ${PROTOCOL_V2}`);
    this.deps.logger.info('peering upgraded from v1', {
      component: 'federation',
      name: peer.name,
      partner: d.server_name,
      switch_at: a.switch_at,
    });
  }

  /**
   * The requester of a v2 peering on a fixed secret, whose partner now offers
   * epochs: proposes our epoch length and a switch moment; the fixed secret
   * becomes the root the epoch secrets derive from, and is kept as the
   * previous secret for the switch (sent until `switch_at`, accepted for the
   * overlap after it), as in a v1 upgrade. False: not offered.
   */
  private async proposeEpochs(peer: Peer): Promise<boolean> {
    const lookup = await this.deps.fetchDescriptor(peer.partnerUrl);
    if (lookup.kind !== 'found' || lookup.descriptor.secret_epoch_seconds === undefined) return false;
    const d = lookup.descriptor;
    if (d.server_name !== peer.partnerServerName) return false;
    const { config, clock } = this.deps;
    const secretEpochSeconds = config.federation.secretEpochSeconds;
    const switchAt = new Date(clock.now() + config.federation.upgradeSwitchDelaySeconds * 1000).toISOString();
    const body: V2SecretEpochsBody = {
      request_id: peer.requestId,
      secret_epoch_seconds: secretEpochSeconds,
      switch_at: switchAt,
    };
    const answer = await this.deps.transport.send({
      dialect: 'v2',
      method: 'POST',
      url: `${trimBase(d.base_url)}/federation/v2/peers/${encodeURIComponent(peer.name)}/secret-epochs`,
      body: { ...body },
    });
    if (answer.status !== 200)
      throw new Error(
        `the partner refused (${answer.status} ${String((answer.json as { error?: unknown } | null)?.error ?? '')})`,
      );
    const agreed = this.agreedTerms(v2SecretEpochsAnswer, answer.json, peer, {
      switchAt,
      secretEpochSeconds,
    });
    const now = clock.now();
    await this.deps.tx.run(async (tx) => {
      const current = await this.deps.peerings.findPeer({ id: peer.id }, tx);
      if (!current || current.secretEpochSeconds !== null || current.secret !== peer.secret)
        throw new AppError('FED_STATE_CONFLICT', `peer ${peer.name} changed meanwhile`);
      await this.deps.peerings.updatePeer(
        peer.id,
        {
          secretEpochSeconds: agreed.secret_epoch_seconds,
          previousSecret: peer.secret,
          secretSwitchAt: Date.parse(agreed.switch_at),
          updatedAt: now,
        },
        tx,
      );
    });
    syncInBackground(this.deps, `peer ${peer.name} moved onto trunk secret epochs`);
    this.deps.logger.info('peering moved onto trunk secret epochs', {
      component: 'federation',
      name: peer.name,
      switch_at: agreed.switch_at,
    });
    return true;
  }

  /**
   * The acceptor's side of a move onto epochs (the route verified the
   * signature of the peer's partner): stores the terms and answers them; a
   * repeat while the fixed secret is still kept is answered with the stored
   * terms.
   */
  async inboundEpochs(name: string, body: V2SecretEpochsBody, sender: string): Promise<Answer> {
    const peer = await this.deps.peerings.findPeer({ name });
    if (
      !peer ||
      peer.dialect !== 'v2' ||
      peer.partnerServerName !== sender ||
      peer.requestId !== body.request_id
    )
      throw new AppError(
        'FED_UNKNOWN_PEER',
        `no peer '${name}' with ${sender} for request ${body.request_id}`,
      );
    if (peer.role !== 'acceptor')
      throw new AppError(
        'FED_STATE_CONFLICT',
        `peer '${name}': its requester proposes epochs, not its acceptor`,
      );
    const answer = (length: number, at: number): Answer => ({
      outcome: 'ok',
      body: {
        name,
        request_id: peer.requestId,
        secret_epoch_seconds: length,
        switch_at: new Date(at).toISOString(),
      },
    });
    if (peer.secretEpochSeconds !== null) {
      // A repeat (the requester missed our answer) while the switch is kept; otherwise it is on epochs already.
      if (peer.previousSecret === peer.secret && peer.secretSwitchAt !== null)
        return answer(peer.secretEpochSeconds, peer.secretSwitchAt);
      throw new AppError('FED_STATE_CONFLICT', `peer '${name}' is on trunk secret epochs already`);
    }
    const now = this.deps.clock.now();
    const switchAt = Date.parse(body.switch_at);
    if (switchAt < now - SWITCH_PAST_MS || switchAt > now + SWITCH_AHEAD_MS)
      throw new AppError('FED_MALFORMED', 'switch_at must lie between 5 minutes ago and 2 days ahead');
    await this.deps.tx.run(async (tx) => {
      const current = await this.deps.peerings.findPeer({ id: peer.id }, tx);
      if (!current || current.secretEpochSeconds !== null || current.secret !== peer.secret)
        throw new AppError('FED_STATE_CONFLICT', `peer '${name}' changed meanwhile`);
      await this.deps.peerings.updatePeer(
        peer.id,
        {
          secretEpochSeconds: body.secret_epoch_seconds,
          previousSecret: peer.secret,
          secretSwitchAt: switchAt,
          updatedAt: now,
        },
        tx,
      );
    });
    syncInBackground(this.deps, `peer ${name} moved onto trunk secret epochs`);
    this.deps.logger.info('peering moved onto trunk secret epochs', {
      component: 'federation',
      name,
      partner: sender,
    });
    return answer(body.secret_epoch_seconds, switchAt);
  }

  /**
   * Whom an upgrade proposal for the peer `name` must be signed by, and the
   * address its descriptor is fetched from: the v1 peer's own partner address
   * (never anything the proposal says). null: no v1 peer of that name (the
   * route then verifies against the claimed signer and answers unknown).
   */
  async expectedSigner(name: string): Promise<{ serverName: string; baseUrl: string } | null> {
    const peer = await this.deps.peerings.findPeer({ name });
    if (!peer) return null;
    return { serverName: authorityOf(peer.partnerUrl), baseUrl: trimBase(peer.partnerUrl) };
  }

  /**
   * The acceptor's side (the route has verified the signature against the v1
   * peer's partner, whose descriptor it fetched from the peer's address):
   * checks the proposal against the v1 peering, turns the peer into v2 and
   * answers with its own binding. A repeat of a proposal already taken is
   * answered again (the proposer may have missed the answer).
   */
  async inbound(
    name: string,
    body: V2UpgradeBody,
    sender: string,
    descriptor: Descriptor | null,
  ): Promise<Answer> {
    const peer = await this.deps.peerings.findPeer({ name });
    const unknown = () => new AppError('FED_UNKNOWN_PEER', `no v1 peer '${name}' with ${sender} to upgrade`);
    if (!peer || authorityOf(peer.partnerUrl) !== sender || peer.requestId !== body.request_id)
      throw unknown();
    if (authorityOf(body.base_url) !== sender)
      throw new AppError('FED_MALFORMED', `base_url does not belong to the signer ${sender}`);
    const repeat = peer.dialect === 'v2' && peer.previousSecret !== null && peer.partnerServerName === sender;
    if (peer.dialect !== 'v1' && !repeat) {
      throw new AppError('FED_STATE_CONFLICT', `peer '${name}' is already ${PROTOCOL_V2}`);
    }
    if (peer.role !== 'acceptor') {
      throw new AppError(
        'FED_STATE_CONFLICT',
        `peer '${name}': the v1 requester proposes the upgrade, not its acceptor`,
      );
    }
    const v1Secret = repeat ? (peer.previousSecret ?? '') : peer.secret;
    const d = descriptor;
    const partnerKey =
      d?.agreement_keys.find((k) => k.kid === body.agreement_kid)?.public_key ??
      (await this.deps.partnerKeys.agreementPublicKey(sender, body.agreement_kid));
    if (!partnerKey) {
      throw new AppError(
        'FED_MALFORMED',
        `agreement_kid ${body.agreement_kid} is not among the agreement keys you publish`,
      );
    }
    const proposal = upgradeBindingText({
      step: 'propose',
      name,
      requestId: body.request_id,
      proposer: sender,
      acceptor: this.ourServerName,
      agreementKid: body.agreement_kid,
      agreementPublicKey: partnerKey,
      secretEpochSeconds: body.secret_epoch_seconds,
      switchAt: body.switch_at,
    });
    if (!bindingMatches(v1Secret, proposal, body.binding)) {
      this.deps.logger.info('v1 → v2 upgrade refused: binding does not match', {
        component: 'federation',
        name,
        partner: sender,
      });
      throw new AppError(
        'FED_UPGRADE_BINDING_INVALID',
        `the upgrade proposal for '${name}' does not match the v1 peering's secret`,
      );
    }
    const now = this.deps.clock.now();
    const own = await this.deps.ownKeys.agreementKey();
    const secret = this.deps.deriveSecret({
      ownPrivateKey: own.privateKey,
      partnerPublicKey: partnerKey,
      requestId: peer.requestId,
      name,
    });
    let switchAt: number;
    let secretEpochSeconds: number;
    if (repeat) {
      // Answered before: the same agreement, unless our agreement key rotated since (then a new proposal cannot help).
      if (peer.secret !== secret || peer.secretSwitchAt === null || peer.secretEpochSeconds === null)
        throw new AppError('FED_STATE_CONFLICT', `peer '${name}' was upgraded with other keys`);
      switchAt = peer.secretSwitchAt;
      secretEpochSeconds = peer.secretEpochSeconds;
    } else {
      switchAt = Date.parse(body.switch_at);
      if (switchAt < now - SWITCH_PAST_MS || switchAt > now + SWITCH_AHEAD_MS) {
        throw new AppError('FED_MALFORMED', 'switch_at must lie between 5 minutes ago and 2 days ahead');
      }
      secretEpochSeconds = body.secret_epoch_seconds;
      await this.deps.tx.run(async (tx) => {
        const current = await this.deps.peerings.findPeer({ id: peer.id }, tx);
        if (!current || current.dialect !== 'v1' || current.secret !== peer.secret)
          throw new AppError('FED_STATE_CONFLICT', `peer '${name}' changed meanwhile`);
        if (d) await this.deps.partnerKeys.pin(d, tx);
        await this.deps.peerings.updatePeer(
          peer.id,
          {
            dialect: 'v2',
            partnerServerName: sender,
            secret,
            secretEpochSeconds,
            previousSecret: peer.secret,
            secretSwitchAt: switchAt,
            partnerKeyFingerprint: d?.signing_keys[0] ? fingerprint(d.signing_keys[0].public_key) : null,
            updatedAt: now,
          },
          tx,
        );
      });
      syncInBackground(this.deps, `peer ${name} upgraded to ${PROTOCOL_V2}`);
      this.deps.logger.info('peering upgraded from v1', { component: 'federation', name, partner: sender });
    }
    const switchIso = new Date(switchAt).toISOString();
    return {
      outcome: 'ok',
      body: {
        name,
        request_id: peer.requestId,
        state: 'upgraded',
        agreement_kid: own.kid,
        secret_epoch_seconds: secretEpochSeconds,
        switch_at: switchIso,
        binding: upgradeBinding(
          v1Secret,
          upgradeBindingText({
            step: 'accept',
            name,
            requestId: peer.requestId,
            proposer: sender,
            acceptor: this.ourServerName,
            agreementKid: own.kid,
            agreementPublicKey: own.publicKey,
            secretEpochSeconds,
            switchAt: switchIso,
          }),
        ),
      },
    };
  }
}
