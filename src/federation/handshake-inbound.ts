import { AppError } from '../core/errors';
import { answerRotation, type AgreedRotation, trunkEpochsOf } from './secret-rotation';
import { DEFAULT_IAX2_PORT, describeHost, parseHostPort } from '../core/network-address';
import { freshIncomingState } from '../core/records';
import type { IncomingRequest, Peer } from './ports/peering-store';
import type { StoreTx } from './ports/transactions';
import { authorityOf, trimBase } from './partner-call';
import { syncInBackground, uuid, type Descriptor, type HandshakeDeps } from './handshake-deps';
import { PeeringRecords, type RequestOwner } from './peering-records';
import { secretsEqual } from './v1-secret';
import { admits, listed } from './policy';
import type {
  V1IncomingRequestBody,
  V1OutgoingStatusBody,
  V2AcceptBody,
  V2PeeringRequestBody,
  V2PeeringState,
  V2TrunkEpochs,
} from './wire-schemas';

/**
 * What an inbound call did, for the route to answer: `created` when it stored
 * a new request, `ok` otherwise (done, or already done: every call is
 * idempotent). The body is the wire answer; the HTTP status is the route's
 * (src/http/federation/answer.ts).
 */
export interface Answer {
  outcome: 'created' | 'ok';
  body: Record<string, unknown>;
}

/** v1 refusals are µURU's: 403 for anything it does not like, 400 for missing accept fields. */
export const v1Forbidden = (detail: string) => new AppError('V1_FORBIDDEN', detail);
const OK_V1: Answer = { outcome: 'ok', body: { status: 'OK' } };
/** The window of the unsolicited-request budget. */
const BUDGET_WINDOW_MS = 60 * 60 * 1000;

/**
 * v1 cannot carry an IAX2 port: stock µURU writes partner_iax_host verbatim
 * into its friend's `host`, chan_iax2 refuses a port there ("Port
 * disallowed") and the default is 4569. So on another port there is no v1
 * peering that could carry a call: refused before anything is sent or stored.
 */
export function assertV1IaxPort(port: number): void {
  if (port === DEFAULT_IAX2_PORT) return;
  throw new AppError(
    'FED_V1_IAX2_PORT',
    `this instance's IAX2 port is ${port}, and the v1 (stock µURU) dialect cannot carry a port: ` +
      `a µURU partner would dial ${DEFAULT_IAX2_PORT}. Peer over uuru-fed/2, or move IAX2 to ${DEFAULT_IAX2_PORT}`,
  );
}

/**
 * The partner-initiated transitions: what we do when a partner's call has
 * passed authentication (v2: signature, with `sender` its verified server
 * name; v1: the shared secret is checked here). Refusals throw AppError and
 * store nothing.
 */
export class InboundHandshake {
  readonly records: PeeringRecords;

  constructor(private readonly deps: HandshakeDeps) {
    this.records = new PeeringRecords(deps);
  }

  // ---------------------------------------------------------------- v2

  /** Step 2 (B): stores an incoming request. Idempotent on request_id. */
  async v2Request(
    body: V2PeeringRequestBody,
    sender: string,
    descriptor: Descriptor | null,
  ): Promise<Answer> {
    const baseUrl = trimBase(body.base_url);
    if (authorityOf(baseUrl) !== sender) {
      throw new AppError(
        'FED_MALFORMED',
        `base_url (host ${describeHost(body.base_url)}) does not belong to the signer ${sender}`,
      );
    }
    const existing = await this.deps.peerings.findIncoming({ requestId: body.request_id });
    if (existing) return this.repeatedRequest(existing, body, sender);
    const peer = await this.deps.peerings.findPeer({ requestId: body.request_id });
    if (peer) {
      if (peer.partnerServerName !== sender)
        throw new AppError('FED_STATE_CONFLICT', 'request_id is already in use');
      return { outcome: 'ok', body: { request_id: body.request_id, state: 'active' } };
    }
    const budgeted = await this.admitFresh(body, sender);
    const unknownAgreementKid = () =>
      new AppError(
        'FED_MALFORMED',
        `agreement_kid ${body.agreement_kid} is not among the agreement keys you publish`,
      );
    // Without a fresh descriptor the keys are pinned already (an unknown kid may refetch: outside the transaction).
    if (!descriptor && !(await this.deps.partnerKeys.agreementPublicKey(sender, body.agreement_kid))) {
      throw unknownAgreementKid();
    }
    const now = this.deps.clock.now();
    const row: IncomingRequest = {
      id: uuid(),
      requestId: body.request_id,
      name: body.name,
      partnerUrl: baseUrl,
      partnerServerName: sender,
      partnerIaxHost: body.iax2.host,
      partnerIaxPort: body.iax2.port,
      partnerExtensionLength: body.extension_length,
      codec: body.codec,
      dialect: 'v2',
      secret: null,
      partnerAgreementKid: body.agreement_kid,
      secretEpochSeconds: body.secret_epoch_seconds ?? null,
      ...freshIncomingState(now),
    };
    await this.deps.tx.run(async (tx) => {
      await this.admitInTransaction(tx, body.name, sender, 'v2', budgeted);
      if (descriptor) {
        // Pinned in the request's own transaction, so a refusal from here on leaves no Partner row behind.
        await this.deps.partnerKeys.pin(descriptor, tx);
        if (!(await this.deps.partnerKeys.pinnedAgreementKey(sender, body.agreement_kid, tx))) {
          throw unknownAgreementKid();
        }
      }
      await this.deps.peerings.insertIncoming(row, tx);
    });
    this.logEvent('peering request received', { name: row.name, partner: sender, dialect: 'v2' });
    return { outcome: 'created', body: { request_id: body.request_id, state: 'pending' } };
  }

  /**
   * Admission of a new request, its first part: the policy. Returns whether
   * the request is unsolicited (open mode, origin not invited), i.e. spends the
   * origin's budget. The rest (a free name and partner, the budget) is read in
   * the transaction that stores the request (admitInTransaction). Refusals
   * are logged at info with the origin.
   */
  private async admitFresh(
    body: { name: string },
    sender: string,
    dialect: 'v1' | 'v2' = 'v2',
  ): Promise<boolean> {
    try {
      const policy = await this.deps.policy.get();
      const verdict = admits(policy, { serverName: sender, dialect });
      if (!verdict.ok) throw new AppError('FED_POLICY_DENIED', verdict.reason);
      const invited = listed(policy.allowed_peers, sender);
      return policy.mode === 'open' && !invited;
    } catch (e) {
      if (e instanceof AppError) this.logRefusal(e, sender, dialect, body.name);
      throw e;
    }
  }

  /**
   * Admission of a new request, in the transaction that stores it: the
   * origin's hold as its first statement (PeeringStore.holdOrigin), then,
   * when unsolicited, the budget (spendBudget) and the free name and partner
   * (PeeringRecords.checkFree), both read after the hold. Checked before the
   * transaction, two requests of one partner under two names at once would
   * both find the partner free and both be stored; here the second reads
   * what the first stored (one process: its transactions run one at a time;
   * replicas: the hold orders them) and is refused.
   */
  private async admitInTransaction(
    tx: StoreTx,
    name: string,
    sender: string,
    dialect: 'v1' | 'v2',
    budgeted: boolean,
  ): Promise<void> {
    await this.deps.peerings.holdOrigin(sender, this.deps.clock.now(), tx);
    // The budget before the free check: a spent budget answers 429 with its Retry-After, whichever request
    // of the origin is still pending.
    if (budgeted) await this.spendBudget(tx, sender, dialect);
    try {
      await this.records.checkFree({ name, serverName: sender }, {}, undefined, tx);
    } catch (e) {
      if (e instanceof AppError) this.logRefusal(e, sender, dialect, name);
      throw e;
    }
  }

  private logRefusal(e: AppError, sender: string, dialect: 'v1' | 'v2', name: string): void {
    this.logEvent('peering request refused', {
      partner: sender,
      dialect,
      name,
      code: e.code,
      reason: e.message,
    });
  }

  /**
   * The unsolicited-request budget of an origin: its requests still pending
   * that arrived within the last hour. A declined or revoked request (or one
   * accepted) no longer counts, so a partner whose request an admin turned
   * down may ask again at once; what is bounded is what waits in the admin's
   * inbox. Counted in the transaction that stores the request, after the
   * origin's hold (admitInTransaction), so two requests at once cannot both
   * take the last place: in one process its transactions run one at a time;
   * across replicas the hold makes a second one wait for (or, on Galera, lose
   * to and rerun after) the first, and its snapshot, taken at its first read
   * after the hold, holds what the first stored.
   */
  private async spendBudget(tx: StoreTx, sender: string, dialect: 'v1' | 'v2'): Promise<void> {
    const limit = this.deps.config.federation.unsolicitedRequestsPerOriginPerHour;
    const now = this.deps.clock.now();
    const pending = await this.deps.peerings.listIncoming(
      { partnerServerName: sender, state: 'pending', createdAfter: now - BUDGET_WINDOW_MS, limit },
      tx,
    );
    if (pending.length < limit) return;
    const retryAt = pending[0].createdAt + BUDGET_WINDOW_MS;
    const retryAfterS = Math.max(1, Math.ceil((retryAt - now) / 1000));
    const e = new AppError(
      'FED_RATE_LIMITED',
      `too many pending peering requests from ${sender} (at most ${limit} an hour wait for an answer); ` +
        `retry after ${new Date(retryAt).toISOString()} (in ${retryAfterS} s), or once this instance's admin has answered one`,
      { headers: { 'Retry-After': String(retryAfterS) } },
    );
    this.logRefusal(e, sender, dialect, '');
    throw e;
  }

  private repeatedRequest(existing: IncomingRequest, body: V2PeeringRequestBody, sender: string): Answer {
    const same =
      existing.partnerServerName === sender &&
      existing.dialect === 'v2' &&
      existing.name === body.name &&
      existing.codec === body.codec &&
      existing.partnerExtensionLength === body.extension_length &&
      existing.partnerIaxHost === body.iax2.host &&
      existing.partnerIaxPort === body.iax2.port &&
      existing.partnerAgreementKid === body.agreement_kid &&
      existing.secretEpochSeconds === (body.secret_epoch_seconds ?? null);
    if (!same)
      throw new AppError('FED_STATE_CONFLICT', `request ${body.request_id} exists with different content`);
    return { outcome: 'ok', body: { request_id: body.request_id, state: existing.state } };
  }

  /** A revokes its request (B side). */
  async v2Revoke(requestId: string, sender: string): Promise<Answer> {
    const req = await this.deps.peerings.findIncoming({ requestId });
    if (!req || req.partnerServerName !== sender || req.dialect !== 'v2') {
      const peer = await this.deps.peerings.findPeer({ requestId });
      if (peer && peer.partnerServerName === sender) {
        throw new AppError(
          'FED_STATE_CONFLICT',
          `request ${requestId} was already accepted; tear the peer down instead`,
        );
      }
      throw new AppError('FED_UNKNOWN_REQUEST', `no request ${requestId} from ${sender}`);
    }
    await this.deps.tx.run((tx) => this.deps.peerings.deleteIncoming(req.id, {}, tx));
    this.logEvent('peering request revoked by partner', { name: req.name, partner: sender });
    return { outcome: 'ok', body: { request_id: requestId, state: 'unknown' } };
  }

  /** Step 5 (A): the partner accepted; create our peer with the derived secret. Idempotent. */
  async v2Accept(requestId: string, body: V2AcceptBody, sender: string): Promise<Answer> {
    const req = await this.deps.peerings.findOutgoing(requestId);
    if (!req || req.partnerServerName !== sender || req.dialect !== 'v2') {
      if (await this.acceptedAlready(requestId, sender))
        return { outcome: 'ok', body: { request_id: requestId, state: 'active' } };
      throw new AppError('FED_UNKNOWN_REQUEST', `no pending request ${requestId} to ${sender}`);
    }
    if (req.state !== 'pending') {
      throw new AppError('FED_STATE_CONFLICT', `request ${requestId} is ${req.state}, it cannot be accepted`);
    }
    const partnerPublic = await this.deps.partnerKeys.agreementPublicKey(sender, body.agreement_kid);
    if (!partnerPublic) {
      throw new AppError(
        'FED_MALFORMED',
        `agreement_kid ${body.agreement_kid} is not among the agreement keys you publish`,
      );
    }
    const own = await this.deps.ownKeys.agreementKey(req.agreementKid ?? undefined);
    const secret = this.deps.deriveSecret({
      ownPrivateKey: own.privateKey,
      partnerPublicKey: partnerPublic,
      requestId,
      name: req.name,
    });
    const fingerprint = (await this.deps.partnerKeys.fingerprints(sender))[0] ?? null;
    const peer = this.records.newPeer({
      name: req.name,
      prefix: req.prefix,
      partnerUrl: req.partnerUrl,
      partnerServerName: sender,
      partnerIaxHost: body.iax2.host,
      partnerIaxPort: body.iax2.port,
      partnerExtensionLength: body.extension_length,
      codec: req.codec,
      secret,
      secretEpochSeconds: body.secret_epoch_seconds ?? null,
      dialect: 'v2',
      requestId,
      role: 'requester',
      partnerKeyFingerprint: fingerprint,
    });
    await this.completeOutgoing(req.id, peer);
    return { outcome: 'ok', body: { request_id: requestId, state: 'active' } };
  }

  /** Whether the partner's accept of this request was stored already (a repeat, or a copy that raced it). */
  private async acceptedAlready(requestId: string, sender: string | null, tx?: StoreTx): Promise<boolean> {
    const peer = await this.deps.peerings.findPeer({ requestId }, tx);
    return peer !== null && peer.partnerServerName === sender;
  }

  private async completeOutgoing(
    outgoingId: string,
    peer: ReturnType<PeeringRecords['newPeer']>,
  ): Promise<void> {
    const stored = await this.deps.tx.run(async (tx) => {
      const gone = await this.deps.peerings.deleteOutgoing(outgoingId, { onlyIfPending: true }, tx);
      if (!gone) {
        // A copy of the same accept that came at the same moment (the partner's resend racing its first send)
        // stored the peer meanwhile: this copy gets the same answer, and nothing is written twice.
        if (await this.acceptedAlready(peer.requestId, peer.partnerServerName, tx)) return false;
        throw new AppError('FED_STATE_CONFLICT', `request ${outgoingId} changed meanwhile`);
      }
      const clash = await this.deps.peerings.findPeerHolding(peer, tx);
      if (clash) {
        throw new AppError(
          'FED_NAME_CONFLICT',
          `a peer named '${clash.name}' or with prefix ${peer.prefix} exists already`,
        );
      }
      await this.deps.peerings.insertPeer(peer, tx);
      return true;
    });
    if (!stored) return;
    syncInBackground(this.deps, `peer ${peer.name} accepted by partner`);
    this.logEvent('peering completed', {
      name: peer.name,
      partner: peer.partnerServerName,
      dialect: peer.dialect,
    });
  }

  /** B declined our request (A side). Idempotent. */
  async v2Decline(requestId: string, reason: string | undefined, sender: string): Promise<Answer> {
    const req = await this.deps.peerings.findOutgoing(requestId);
    if (!req || req.partnerServerName !== sender || req.dialect !== 'v2') {
      throw new AppError('FED_UNKNOWN_REQUEST', `no request ${requestId} to ${sender}`);
    }
    if (req.state === 'pending') {
      await this.deps.tx.run((tx) =>
        this.deps.peerings.updateOutgoing(
          req.id,
          { state: 'declined', declineReason: reason ?? null, updatedAt: this.deps.clock.now() },
          {},
          tx,
        ),
      );
      this.logEvent('peering request declined by partner', { name: req.name, partner: sender });
    }
    return { outcome: 'ok', body: { request_id: requestId, state: 'declined' } };
  }

  /** The partner tore the peering down. Idempotent in effect: an unknown peer answers FED_UNKNOWN_PEER. */
  async v2Teardown(name: string, requestId: string, sender: string): Promise<Answer> {
    const peer = await this.deps.peerings.findPeer({ name });
    if (!peer || peer.partnerServerName !== sender || peer.requestId !== requestId || peer.dialect !== 'v2') {
      throw new AppError('FED_UNKNOWN_PEER', `no peer '${name}' with ${sender} for request ${requestId}`);
    }
    await this.deps.tx.run(async (tx) => {
      await this.deps.peerings.deletePeer(peer.id, tx);
      await this.deps.outbox.cancelPending(tx, requestId, 'the partner tore the peering down');
    });
    syncInBackground(this.deps, `peer ${peer.name} torn down by partner`);
    this.logEvent('peer torn down by partner', { name: peer.name, partner: sender });
    return { outcome: 'ok', body: { name, state: 'torn_down' } };
  }

  /** The partner asks for a forced trunk secret rotation (src/federation/secret-rotation.ts). */
  async v2SecretRotation(
    name: string,
    body: { request_id: string; epoch_offset: number; at: string },
    sender: string,
  ): Promise<Answer> {
    const peer = await this.deps.peerings.findPeer({ name });
    if (
      !peer ||
      peer.partnerServerName !== sender ||
      peer.requestId !== body.request_id ||
      peer.dialect !== 'v2'
    ) {
      throw new AppError(
        'FED_UNKNOWN_PEER',
        `no peer '${name}' with ${sender} for request ${body.request_id}`,
      );
    }
    const now = this.deps.clock.now();
    const overlapMs = this.deps.config.federation.secretOverlapSeconds * 1000;
    const proposal = { epochOffset: body.epoch_offset, at: Date.parse(body.at) };
    // Compare-and-set on the rotation read: our own admin may force one at the same moment (read again then).
    let read: Peer = peer;
    let agreed: AgreedRotation | null = null;
    for (let attempt = 0; attempt < 3 && agreed === null; attempt++) {
      const answer = answerRotation(read, proposal, now, overlapMs);
      const store = answer.store;
      if (!store) {
        agreed = answer.agreed;
        break;
      }
      const expected = read.secretShiftAt;
      const fresh = await this.deps.tx.run(async (tx) => {
        const done = await this.deps.peerings.updatePeerIfShiftAt(
          peer.id,
          expected,
          { ...store, updatedAt: now },
          tx,
        );
        return done ? 'stored' : await this.deps.peerings.findPeer({ id: peer.id }, tx);
      });
      if (fresh === null) throw new AppError('FED_UNKNOWN_PEER', `peer '${name}' was removed meanwhile`);
      if (fresh === 'stored') {
        agreed = store;
        syncInBackground(this.deps, `forced secret rotation of peer ${peer.name} agreed`);
        this.logEvent('forced trunk secret rotation agreed with partner', {
          name: peer.name,
          partner: sender,
          at: new Date(store.secretShiftAt).toISOString(),
        });
      } else read = fresh;
    }
    if (agreed === null)
      throw new AppError('FED_ROTATION_PENDING', `peer ${name} changed during the rotation; retry it`);
    return {
      outcome: 'ok',
      body: {
        name,
        epoch_offset: agreed.secretEpochOffset + 1,
        at: new Date(agreed.secretShiftAt).toISOString(),
      },
    };
  }

  /**
   * State of a peering as this side sees it, only for the partner it belongs
   * to. `owner`: what records.ownerOfRequest found for the id while
   * authenticating the call, so the peer is not looked up twice.
   */
  async v2PeeringState(requestId: string, sender: string, owner?: RequestOwner): Promise<V2PeeringState> {
    const peerPartner = owner
      ? owner.heldByPeer
        ? owner.partner
        : undefined
      : await this.deps.peerings.peerPartnerOfRequest(requestId);
    if (peerPartner !== undefined) return peerPartner === sender ? 'active' : 'unknown';
    const inc = await this.deps.peerings.findIncoming({ requestId });
    if (inc) return inc.partnerServerName === sender ? inc.state : 'unknown';
    const out = await this.deps.peerings.findOutgoing(requestId);
    if (out && out.partnerServerName === sender) return out.state === 'failed' ? 'unknown' : out.state;
    return 'unknown';
  }

  /**
   * The trunk secret epochs of an active peering on epochs, for the partner it
   * belongs to (anti-entropy compares them with its own), else null.
   */
  async v2PeeringEpochs(requestId: string, sender: string): Promise<V2TrunkEpochs | null> {
    const peer = await this.deps.peerings.peerEpochsOfRequest(requestId);
    if (!peer || peer.partnerServerName !== sender || peer.dialect !== 'v2') return null;
    return trunkEpochsOf(peer);
  }

  // ---------------------------------------------------------------- v1

  /** µURU A asks us (B) to peer. 200 only once stored. */
  async v1Request(body: V1IncomingRequestBody): Promise<Answer> {
    const partnerUrl = trimBase(body.partner_uuru_host);
    const serverName = authorityOf(partnerUrl);
    const existing = await this.deps.peerings.findIncoming({ requestId: body.id });
    if (existing) {
      const same =
        existing.dialect === 'v1' &&
        existing.partnerServerName === serverName &&
        existing.name === body.name &&
        secretsEqual(existing.secret ?? '', body.secret);
      if (same && existing.state === 'pending') return OK_V1;
      throw v1Forbidden('Unknown request!');
    }
    // µURU shows its admin only "Failed to request peering with ..." for any non-2xx: every
    // refusal is a 403 whose detail says why (and, for the budget, when to retry).
    const asV1 = (e: unknown): unknown =>
      e instanceof AppError && e.status < 500 ? v1Forbidden(e.message) : e;
    let budgeted: boolean;
    try {
      try {
        assertV1IaxPort(this.deps.config.instance.iax2Port);
      } catch (e) {
        if (e instanceof AppError) this.logRefusal(e, serverName, 'v1', body.name);
        throw e;
      }
      budgeted = await this.admitFresh(body, serverName, 'v1');
    } catch (e) {
      throw asV1(e);
    }
    const now = this.deps.clock.now();
    const { host, port } = v1IaxAddress(body.partner_iax_host);
    const row: IncomingRequest = {
      id: uuid(),
      requestId: body.id,
      name: body.name,
      partnerUrl,
      partnerServerName: serverName,
      partnerIaxHost: host,
      partnerIaxPort: port,
      partnerExtensionLength: body.partner_extension_length,
      codec: body.codec,
      dialect: 'v1',
      secret: body.secret,
      partnerAgreementKid: null,
      secretEpochSeconds: null,
      ...freshIncomingState(now),
    };
    try {
      await this.deps.tx.run(async (tx) => {
        await this.admitInTransaction(tx, body.name, serverName, 'v1', budgeted);
        await this.deps.peerings.insertIncoming(row, tx);
      });
    } catch (e) {
      throw asV1(e);
    }
    this.logEvent('peering request received', { name: row.name, partner: serverName, dialect: 'v1' });
    return OK_V1;
  }

  /** µURU A revokes its request. */
  async v1Revoke(id: string, secret: string): Promise<Answer> {
    const req = await this.deps.peerings.findIncoming({ requestId: id });
    if (!req || req.dialect !== 'v1') throw v1Forbidden('Unknown request!');
    if (!secretsEqual(req.secret ?? '', secret)) throw v1Forbidden('Invalid secret!');
    await this.deps.tx.run((tx) => this.deps.peerings.deleteIncoming(req.id, {}, tx));
    this.logEvent('peering request revoked by partner', { name: req.name, dialect: 'v1' });
    return OK_V1;
  }

  /** µURU B accepted or declined our request (we are A). */
  async v1Status(id: string, body: V1OutgoingStatusBody): Promise<Answer> {
    const req = await this.deps.peerings.findOutgoing(id);
    if (!req || req.dialect !== 'v1' || req.state !== 'pending') throw v1Forbidden('Unknown request!');
    if (!secretsEqual(req.secret ?? '', body.secret)) throw v1Forbidden('Invalid secret!');
    if (!body.accept) {
      await this.deps.tx.run((tx) =>
        this.deps.peerings.updateOutgoing(
          id,
          { state: 'declined', updatedAt: this.deps.clock.now() },
          {},
          tx,
        ),
      );
      this.logEvent('peering request declined by partner', { name: req.name, dialect: 'v1' });
      return OK_V1;
    }
    if (body.extension_length === undefined || !body.partner_iax_host || !body.partner_uuru_host) {
      throw new AppError(
        'V1_BAD_REQUEST',
        'extension_length, partner_iax_host and partner_uuru_host are required to accept',
      );
    }
    const { host, port } = v1IaxAddress(body.partner_iax_host);
    const partnerUrl = trimBase(body.partner_uuru_host);
    const peer = this.records.newPeer({
      name: req.name,
      prefix: req.prefix,
      partnerUrl,
      partnerServerName: authorityOf(partnerUrl),
      partnerIaxHost: host,
      partnerIaxPort: port,
      partnerExtensionLength: body.extension_length,
      codec: req.codec,
      secret: req.secret ?? '',
      secretEpochSeconds: null,
      dialect: 'v1',
      requestId: req.id,
      role: 'requester',
      partnerKeyFingerprint: null,
    });
    try {
      await this.completeOutgoing(req.id, peer);
    } catch (e) {
      if (e instanceof AppError) throw v1Forbidden(e.message);
      throw e;
    }
    return OK_V1;
  }

  /** µURU partner tears down: the peer is found by name and secret. */
  async v1Teardown(name: string, secret: string): Promise<Answer> {
    const peer = await this.deps.peerings.findPeer({ name });
    if (!peer || peer.dialect !== 'v1' || !secretsEqual(peer.secret, secret))
      throw v1Forbidden('Unknown peer!');
    await this.deps.tx.run(async (tx) => {
      await this.deps.peerings.deletePeer(peer.id, tx);
      await this.deps.outbox.cancelPending(tx, peer.requestId, 'the partner tore the peering down');
    });
    syncInBackground(this.deps, `peer ${peer.name} torn down by partner`);
    this.logEvent('peer torn down by partner', { name: peer.name, dialect: 'v1' });
    return OK_V1;
  }

  /** A handshake event in the log, marked as the protocol core's. */
  private logEvent(message: string, fields: Record<string, unknown>): void {
    this.deps.logger.info(message, { component: 'federation', ...fields });
  }
}

/** µURU sends a bare IAX2 host; "host:port" and "[v6]:port" are accepted too. The wire schema checked it already. */
function v1IaxAddress(raw: string): { host: string; port: number } {
  const parsed = parseHostPort(raw);
  if (!parsed) {
    throw new AppError('V1_UNPROCESSABLE', 'partner_iax_host: must be a hostname or an IP address');
  }
  return parsed;
}
