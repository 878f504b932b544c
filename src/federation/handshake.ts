import { z } from 'zod';
import { CODECS } from '../config/schema';
import { AppError, errorMessage, isAppError } from '../core/errors';
import { describeHost, isPartnerBaseUrl } from '../core/network-address';
import { freshOutgoingState } from '../core/records';
import { DESCRIPTOR_MAX_AGE_S, descriptorSchema, normalizeBaseUrl, PROTOCOL_V2 } from './descriptor';
import { describeFetchFailure, withoutUrls } from './fetch-failure';
import type { CreateOutgoingInput } from '../core/federation-admin';
import type { OutboxItem } from './ports/outbox-store';
import type { IncomingRequest, Peer } from './ports/peering-store';
import {
  v1AcceptOutgoingRequest,
  v1CreateIncomingRequest,
  v1DeclineOutgoingRequest,
  v1RevokeIncomingRequest,
  v1Teardown,
} from './legacy-calls';
import { authorityOf, trimBase, type PartnerCall } from './partner-call';
import { describeAnswer, partnerRefusal, type PartnerAnswer } from './partner-transport';
import { syncInBackground, uuid, type Descriptor, type HandshakeDeps } from './handshake-deps';
import { type AdmissionRows, PeeringRecords, type OutgoingRequest } from './peering-records';
import { randomV1Secret } from './v1-secret';
import { admits } from './policy';
import { classifyStatus } from './retry-policy';
import { v2Accept, v2Decline, v2PeeringRequest, v2Revoke, v2SecretRotation, v2Teardown } from './v2-calls';
import { proposeRotation, takeAgreedRotation } from './secret-rotation';
import { v2SecretRotationAnswer } from './wire-schemas';
import { forcedRotationFits } from '../core/trunk-secret-epochs';
import { describeIssues, peeringName } from './wire-schemas';
import { assertV1IaxPort } from './handshake-inbound';

const createInput = z.strictObject({
  name: peeringName,
  partner_url: z
    .string()
    .refine(
      isPartnerBaseUrl,
      'must be an http(s) URL with a valid host and no credentials, query or fragment',
    ),
  prefix: z.string().max(16),
  codec: z.enum(CODECS),
  dialect: z.enum(['auto', 'v2', 'v1']).optional(),
});

/**
 * The admin-initiated transitions of the peering state machine (spec "Roles
 * and flow"), both dialects. Every state change and the notification that
 * reports it are written in one transaction; the outbox delivers.
 */
export class Handshake {
  readonly records: PeeringRecords;
  /** Incoming requests with an accept in progress (this process). */
  private readonly accepting = new Set<string>();
  /** v1 incoming requests whose accept got no answer: the partner may hold the peering already. */
  private readonly maybeReached = new Set<string>();

  constructor(private readonly deps: HandshakeDeps) {
    this.records = new PeeringRecords(deps);
  }

  private get own() {
    const i = this.deps.config.instance;
    return {
      url: i.publicUrl,
      iaxHost: i.iax2Host,
      iaxPort: i.iax2Port,
      extensionLength: i.extensionDigits,
    };
  }

  /** Step 1 (A): validates locally, picks the dialect, tells the partner, keeps the request if it said yes. */
  async createOutgoing(raw: CreateOutgoingInput): Promise<OutgoingRequest> {
    const parsed = createInput.safeParse(raw);
    if (!parsed.success)
      throw new AppError('FED_MALFORMED', `invalid request: ${describeIssues(parsed.error)}`);
    const input = parsed.data;
    const partnerUrl = trimBase(input.partner_url);
    const serverName = authorityOf(partnerUrl);
    if (serverName === authorityOf(this.own.url)) {
      throw new AppError('FED_MALFORMED', 'an instance cannot peer with itself');
    }
    const policy = await this.deps.policy.get();
    const blocked = admits({ ...policy, mode: 'open', allow_legacy: true }, { serverName, dialect: 'v2' });
    if (!blocked.ok) throw new AppError('FED_POLICY_DENIED', blocked.reason);
    const seen = await this.records.admissionRows();
    await this.records.checkFree({ name: input.name, serverName }, {}, seen);
    await this.records.checkPrefix(input.prefix, null, undefined, seen);

    const asked = input.dialect ?? 'auto';
    const v2Here = this.deps.config.federation.v2Enabled;
    if (asked === 'v2' && !v2Here) {
      throw new AppError(
        'FED_DIALECT_UNAVAILABLE',
        `${PROTOCOL_V2} is switched off here (federation.v2Enabled)`,
      );
    }
    // With uuru-fed/2 switched off here, every new peering is v1.
    const wanted = v2Here ? asked : 'v1';
    let descriptor: Descriptor | null = null;
    if (wanted !== 'v1') {
      const pinned = await this.pinnedDescriptor(partnerUrl, serverName);
      // No round trip since the rows were read: the dial-plan check with the partner's length reuses them.
      if (pinned) return this.createV2(input, pinned, { pinned: true, seen });
      const found = await this.lookupDescriptor(partnerUrl);
      if (found && found.protocol_versions.includes(PROTOCOL_V2)) descriptor = found;
      else if (wanted === 'v2') {
        throw new AppError(
          'FED_DIALECT_UNAVAILABLE',
          `${describeHost(partnerUrl)} does not speak ${PROTOCOL_V2} (no descriptor)`,
        );
      } else if (found) {
        throw new AppError(
          'FED_DIALECT_UNAVAILABLE',
          `${describeHost(partnerUrl)} publishes a descriptor without ${PROTOCOL_V2}`,
        );
      } else if (!policy.allow_legacy) {
        throw new AppError(
          'FED_DIALECT_UNAVAILABLE',
          `${describeHost(partnerUrl)} has no ${PROTOCOL_V2} descriptor and legacy (v1) federation is disabled by policy`,
        );
      }
    } else if (!policy.allow_legacy) {
      throw new AppError('FED_POLICY_DENIED', 'legacy (v1) federation is disabled by policy');
    }
    return descriptor ? this.createV2(input, descriptor) : this.createV1(input, partnerUrl, serverName);
  }

  /**
   * The descriptor of a partner we pinned at this address and fetched less
   * than DESCRIPTOR_MAX_AGE_S ago (how long a descriptor may be cached),
   * when it still offers uuru-fed/2: a request to a partner we know needs no
   * second round trip before it is sent. Its keys are already pinned, so it is
   * not pinned again (which would also make it look freshly fetched).
   */
  private async pinnedDescriptor(partnerUrl: string, serverName: string): Promise<Descriptor | null> {
    const partner = await this.deps.partnerKeys.get(serverName);
    if (!partner || partner.fetchedAt === null) return null;
    const age = this.deps.clock.now() - partner.fetchedAt;
    if (age < 0 || age >= DESCRIPTOR_MAX_AGE_S * 1000) return null;
    if (partner.baseUrl !== normalizeBaseUrl(partnerUrl)) return null;
    const parsed = descriptorSchema.safeParse(partner.descriptor);
    if (!parsed.success || !parsed.data.protocol_versions.includes(PROTOCOL_V2)) return null;
    return parsed.data;
  }

  private async lookupDescriptor(partnerUrl: string): Promise<Descriptor | null> {
    try {
      const r = await this.deps.fetchDescriptor(partnerUrl);
      return r.kind === 'found' ? r.descriptor : null;
    } catch (e) {
      throw new AppError(
        'FED_PARTNER_UNREACHABLE',
        `cannot read the federation descriptor of ${describeHost(partnerUrl)}: ${isAppError(e) ? withoutUrls(e.message) : describeFetchFailure(e)}` +
          ' (if it is a stock µURU that answers this address with a web page, create the request with dialect v1)',
      );
    }
  }

  private async createV2(
    input: z.infer<typeof createInput>,
    d: Descriptor,
    opts: { pinned?: boolean; seen?: AdmissionRows } = {},
  ): Promise<OutgoingRequest> {
    const partnerUrl = trimBase(d.base_url);
    const serverName = d.server_name.toLowerCase();
    if (authorityOf(partnerUrl) !== serverName || serverName !== authorityOf(input.partner_url)) {
      throw new AppError(
        'FED_MALFORMED',
        `the descriptor at ${describeHost(input.partner_url)} names ${d.server_name} (${d.base_url}); use that address`,
      );
    }
    // The partner's extension length is known now, so the full dial-plan check applies.
    await this.records.checkPrefix(input.prefix, d.extension_length, undefined, opts.seen);
    const agreement = await this.deps.ownKeys.agreementKey();
    const req = this.newOutgoing(input, partnerUrl, serverName, {
      dialect: 'v2',
      secret: null,
      agreementKid: agreement.kid,
    });
    const call = v2PeeringRequest(partnerUrl, {
      request_id: req.id,
      name: req.name,
      codec: req.codec,
      extension_length: this.own.extensionLength,
      base_url: this.own.url,
      iax2: { host: this.own.iaxHost, port: this.own.iaxPort },
      agreement_kid: agreement.kid,
      // Epochs only with a partner that offers them: an older sidecar refuses a field it does not know.
      ...(d.secret_epoch_seconds !== undefined
        ? { secret_epoch_seconds: this.deps.config.federation.secretEpochSeconds }
        : {}),
    });
    return this.storeThenSend(req, call, opts.pinned ? undefined : d);
  }

  private async createV1(
    input: z.infer<typeof createInput>,
    partnerUrl: string,
    serverName: string,
  ): Promise<OutgoingRequest> {
    const req = this.newOutgoing(input, partnerUrl, serverName, {
      dialect: 'v1',
      secret: randomV1Secret(),
      agreementKid: null,
    });
    const call = v1CreateIncomingRequest(partnerUrl, {
      id: req.id,
      name: req.name,
      ownUrl: this.own.url,
      ownIaxHost: v1OwnIaxHost(this.deps.config.instance),
      ownExtensionLength: this.own.extensionLength,
      secret: req.secret ?? '',
      codec: req.codec,
    });
    return this.storeThenSend(req, call);
  }

  private newOutgoing(
    input: z.infer<typeof createInput>,
    partnerUrl: string,
    serverName: string,
    dialectPart: Pick<OutgoingRequest, 'dialect' | 'secret' | 'agreementKid'>,
  ): OutgoingRequest {
    const now = this.deps.clock.now();
    return {
      id: uuid(),
      name: input.name,
      partnerUrl,
      partnerServerName: serverName,
      prefix: input.prefix,
      codec: input.codec,
      ...dialectPart,
      ...freshOutgoingState(now),
    };
  }

  /**
   * The request (and, for v2, the partner's pinned keys) is stored before it
   * is sent, so an accept that races back finds both; if the partner refuses
   * or cannot be reached both are removed again and the admin sees why.
   */
  private async storeThenSend(
    req: OutgoingRequest,
    call: PartnerCall,
    descriptor?: Descriptor,
  ): Promise<OutgoingRequest> {
    let pinnedNewPartner = false;
    await this.deps.tx.run(async (tx) => {
      if (descriptor) pinnedNewPartner = await this.deps.partnerKeys.pin(descriptor, tx);
      await this.deps.peerings.insertOutgoing(req, tx);
    });
    let failure: AppError | null = null;
    // Whether the partner may have stored the request even though we count it as failed.
    let mayHaveArrived = true;
    try {
      const answer = await this.deps.transport.send(call);
      mayHaveArrived = classifyStatus(answer.status) !== 'final';
      if (answer.status < 200 || answer.status >= 300) failure = partnerRefusal(answer);
    } catch (e) {
      failure = isAppError(e)
        ? e
        : new AppError('FED_PARTNER_UNREACHABLE', `cannot reach the partner: ${describeFetchFailure(e)}`);
    }
    if (failure) {
      const serverName = req.partnerServerName;
      let revokeQueued = false;
      await this.deps.tx.run(async (tx) => {
        const gone = await this.deps.peerings.deleteOutgoing(req.id, { onlyIfPending: true }, tx);
        // A lost answer, a timeout or a 5xx leaves open whether the partner stored the request:
        // tell it to drop it, or it keeps a request we no longer know (and refuses our next one).
        if (mayHaveArrived && gone) {
          const revoke =
            req.dialect === 'v2'
              ? v2Revoke(req.partnerUrl, req.id)
              : v1RevokeIncomingRequest(req.partnerUrl, req.id, req.secret ?? '');
          await this.deps.outbox.enqueue(tx, {
            kind: 'revoke',
            call: revoke,
            peerName: null,
            requestId: req.id,
          });
          revokeQueued = true;
        }
        // A partner met only through this request is forgotten with it; one known otherwise keeps its keys.
        if (pinnedNewPartner && serverName && !(await this.records.refersToPartner(serverName, tx)))
          await this.deps.partnerKeys.forget(serverName, tx);
      });
      if (revokeQueued) this.deps.outbox.kick();
      throw failure;
    }
    this.deps.logger.info('peering requested', {
      component: 'federation',
      name: req.name,
      partner: req.partnerServerName,
      dialect: req.dialect,
    });
    return (await this.deps.peerings.findOutgoing(req.id)) ?? req;
  }

  /** A revokes its pending request (or forgets a declined/failed one). */
  async revokeOutgoing(id: string, opts: { localOnly: boolean }): Promise<void> {
    const req = await this.deps.peerings.findOutgoing(id);
    if (!req) throw new AppError('FED_UNKNOWN_REQUEST', `no outgoing request ${id}`);
    const notify = req.state === 'pending' && !opts.localOnly;
    await this.deps.tx.run(async (tx) => {
      await this.deps.peerings.deleteOutgoing(id, {}, tx);
      if (notify) {
        const call =
          req.dialect === 'v2'
            ? v2Revoke(req.partnerUrl, req.id)
            : v1RevokeIncomingRequest(req.partnerUrl, req.id, req.secret ?? '');
        await this.deps.outbox.enqueue(tx, { kind: 'revoke', call, peerName: null, requestId: req.id });
      }
    });
    if (notify) this.deps.outbox.kick();
    this.deps.logger.info('peering request revoked', {
      component: 'federation',
      name: req.name,
      localOnly: opts.localOnly,
    });
  }

  /**
   * Step 4 (B). v2: creates the peer, forgets the request and queues the
   * accept, in one transaction (the outbox delivers; a permanent refusal tears
   * the peer down again, see acceptRefusedByPartner). v1: tells the partner
   * first and stores only on its 2xx, as stock µURU does as acceptor: a v1
   * partner has no anti-entropy, so a refused accept must leave no trunk.
   * localOnly creates the peer without telling the partner (it is gone).
   */
  async acceptIncoming(id: string, input: { prefix: string; localOnly?: boolean }): Promise<Peer> {
    // One accept per request at a time: a second click must not tell a v1 partner twice.
    if (this.accepting.has(id))
      throw new AppError('FED_STATE_CONFLICT', `incoming request ${id} is being accepted already`);
    this.accepting.add(id);
    try {
      return await this.acceptOnce(id, input);
    } finally {
      this.accepting.delete(id);
    }
  }

  private async acceptOnce(id: string, input: { prefix: string; localOnly?: boolean }): Promise<Peer> {
    const localOnly = input.localOnly === true;
    const req = await this.deps.peerings.findIncoming({ id });
    if (!req) throw new AppError('FED_UNKNOWN_REQUEST', `no incoming request ${id}`);
    if (req.state !== 'pending')
      throw new AppError('FED_STATE_CONFLICT', `incoming request ${id} was declined`);
    if (typeof input.prefix !== 'string') throw new AppError('FED_PREFIX_INVALID', 'prefix is required');
    const serverName = req.partnerServerName ?? authorityOf(req.partnerUrl);
    await this.records.checkFree({ name: req.name, serverName }, { incomingId: req.id });
    await this.records.checkPrefix(input.prefix, req.partnerExtensionLength);

    let secret: string;
    let call: PartnerCall;
    if (req.dialect === 'v2') {
      const partnerKid = req.partnerAgreementKid ?? '';
      const partnerPublic = await this.deps.partnerKeys.agreementPublicKey(serverName, partnerKid);
      if (!partnerPublic) {
        throw new AppError(
          'FED_AGREEMENT_KEY_UNKNOWN',
          `the partner's agreement key ${partnerKid} is no longer known; refresh the partner's keys or ask it to request again`,
        );
      }
      const own = await this.deps.ownKeys.agreementKey();
      secret = this.deps.deriveSecret({
        ownPrivateKey: own.privateKey,
        partnerPublicKey: partnerPublic,
        requestId: req.requestId,
        name: req.name,
      });
      call = v2Accept(req.partnerUrl, req.requestId, {
        extension_length: this.own.extensionLength,
        iax2: { host: this.own.iaxHost, port: this.own.iaxPort },
        agreement_kid: own.kid,
        ...(req.secretEpochSeconds !== null ? { secret_epoch_seconds: req.secretEpochSeconds } : {}),
      });
    } else {
      secret = req.secret ?? '';
      call = v1AcceptOutgoingRequest(req.partnerUrl, req.requestId, {
        secret,
        ownExtensionLength: this.own.extensionLength,
        ownIaxHost: v1OwnIaxHost(this.deps.config.instance),
        ownUrl: this.own.url,
      });
    }
    const fingerprint =
      req.dialect === 'v2' ? ((await this.deps.partnerKeys.fingerprints(serverName))[0] ?? null) : null;
    const peer = this.records.newPeer({
      name: req.name,
      prefix: input.prefix,
      partnerUrl: req.partnerUrl,
      partnerServerName: serverName,
      partnerIaxHost: req.partnerIaxHost,
      partnerIaxPort: req.partnerIaxPort,
      partnerExtensionLength: req.partnerExtensionLength,
      codec: req.codec,
      secret,
      secretEpochSeconds: req.dialect === 'v2' ? req.secretEpochSeconds : null,
      dialect: req.dialect,
      requestId: req.requestId,
      role: 'acceptor',
      partnerKeyFingerprint: fingerprint,
    });
    const toldFirst = req.dialect === 'v1' && !localOnly;
    if (toldFirst) await this.tellV1PartnerFirst(req, call);
    let acceptItem: OutboxItem | null;
    try {
      acceptItem = await this.deps.tx.run(async (tx) => {
        const gone = await this.deps.peerings.deleteIncoming(req.id, { onlyIfPending: true }, tx);
        if (!gone)
          throw new AppError('FED_STATE_CONFLICT', `incoming request ${id} changed meanwhile; reload`);
        await this.deps.peerings.insertPeer(peer, tx);
        if (req.dialect !== 'v2' || localOnly) return null;
        return this.deps.outbox.enqueue(tx, {
          kind: 'accept',
          call,
          peerName: peer.name,
          requestId: req.requestId,
        });
      });
    } catch (e) {
      if (!toldFirst) throw e;
      // The partner holds the peering now; the admin must know that only our side is missing.
      const why = isAppError(e) ? e.message : errorMessage(e);
      throw new AppError(
        isAppError(e) ? e.code : 'FED_UNAVAILABLE',
        `the partner took the accept but storing the peer here failed: ${why}; accept again with local_only to finish this side`,
      );
    }
    // Told right after the commit, outside a delivery pass: the partner applies the trunk as soon as it hears.
    if (acceptItem) this.deps.outbox.sendNow(acceptItem);
    syncInBackground(this.deps, `peer ${peer.name} accepted`);
    this.deps.logger.info('peering accepted', {
      component: 'federation',
      name: peer.name,
      partner: serverName,
      dialect: peer.dialect,
      localOnly,
    });
    return peer;
  }

  /**
   * v1 accept, step one: PUT the accept to the partner and return only on a
   * 2xx. A refusal (4xx other than 408/429) is FED_PARTNER_REFUSED; on 403/404
   * (µURU's "Unknown request!" / "Invalid secret!": the partner withdrew the
   * request) the incoming request is dropped, since nobody can complete it.
   * No answer, a timeout, 5xx, 408 or 429 is FED_PARTNER_UNREACHABLE and keeps
   * the request for another try (or an explicit local_only accept).
   */
  private async tellV1PartnerFirst(req: IncomingRequest, call: PartnerCall): Promise<void> {
    const host = describeHost(req.partnerUrl);
    const unreachable = (why: string) => {
      // Without an answer the partner may have taken it: a later "Unknown request!" then proves nothing.
      this.maybeReached.add(req.id);
      return new AppError(
        'FED_PARTNER_UNREACHABLE',
        `the partner ${host} was not told of the accept (${why}); nothing was stored and the request stays pending: ` +
          'accept again later, or accept with local_only if the partner is gone for good',
      );
    };
    let answer: PartnerAnswer;
    try {
      answer = await this.deps.transport.send(call);
    } catch (e) {
      throw unreachable(isAppError(e) ? withoutUrls(e.message) : describeFetchFailure(e));
    }
    const outcome = classifyStatus(answer.status);
    const d = describeAnswer(answer);
    if (outcome === 'delivered') {
      this.maybeReached.delete(req.id);
      return;
    }
    if (outcome === 'retry') throw unreachable(`it answered HTTP ${answer.status}: ${d.message}`);
    const said = `HTTP ${answer.status}${d.code ? ` ${d.code}` : ''}: ${d.message}`;
    const forgotten = answer.status === 403 || answer.status === 404;
    if (forgotten && this.maybeReached.has(req.id)) {
      throw new AppError(
        'FED_PARTNER_REFUSED',
        `the partner ${host} refused the accept (${said}); nothing was stored. An earlier attempt got no answer and may ` +
          'have reached it: if the partner lists the peering, accept with local_only; otherwise decline with local_only',
      );
    }
    if (forgotten) {
      await this.deps.tx.run((tx) => this.deps.peerings.deleteIncoming(req.id, { onlyIfPending: true }, tx));
      this.deps.logger.info('incoming request dropped: the partner no longer knows it', {
        component: 'federation',
        name: req.name,
        partner: req.partnerServerName,
        dialect: 'v1',
        answer: said,
      });
    }
    throw new AppError(
      'FED_PARTNER_REFUSED',
      `the partner ${host} refused the accept (${said}); nothing was stored` +
        (forgotten
          ? ' and the request was removed: the partner no longer knows it (withdrawn); ask it to request again'
          : '; the request stays pending'),
    );
  }

  /**
   * A queued accept was refused for good (4xx other than 408/429, e.g. the
   * requester revoked meanwhile): the partner will never hold this peering,
   * so ours would be a trunk to nowhere. The peer is removed, later
   * notifications for it are dropped, Asterisk is synced, and the reason is
   * written on the failed accept, which admins list with the given-up
   * deliveries (API, panel, CLI).
   */
  async acceptRefusedByPartner(item: OutboxItem, answer: string): Promise<void> {
    const requestId = item.requestId;
    if (!requestId) return;
    const reason = `peering torn down: the partner refused the accept: ${answer}`;
    const peer = await this.deps.tx.run(async (tx) => {
      const found = await this.deps.peerings.findPeer({ requestId, role: 'acceptor' }, tx);
      if (found) await this.deps.peerings.deletePeer(found.id, tx);
      await this.deps.outbox.cancelPending(tx, requestId, 'the partner refused the accept');
      await this.deps.outbox.setLastError(tx, item.id, reason);
      return found;
    });
    if (!peer) return;
    syncInBackground(this.deps, `peer ${peer.name} torn down: the partner refused the accept`);
    this.deps.logger.warn('peer torn down: the partner refused the accept', {
      component: 'federation',
      name: peer.name,
      partner: peer.partnerServerName,
      dialect: peer.dialect,
      error: answer,
    });
  }

  /** B declines: the request stays visible as declined; localOnly forgets it without telling A. */
  async declineIncoming(id: string, opts: { localOnly: boolean; reason?: string }): Promise<void> {
    const req = await this.deps.peerings.findIncoming({ id });
    if (!req) throw new AppError('FED_UNKNOWN_REQUEST', `no incoming request ${id}`);
    if (opts.localOnly || req.state === 'declined') {
      await this.deps.tx.run((tx) => this.deps.peerings.deleteIncoming(id, {}, tx));
      return;
    }
    const call =
      req.dialect === 'v2'
        ? v2Decline(req.partnerUrl, req.requestId, opts.reason)
        : v1DeclineOutgoingRequest(req.partnerUrl, req.requestId, req.secret ?? '');
    await this.deps.tx.run(async (tx) => {
      await this.deps.peerings.updateIncoming(
        id,
        { state: 'declined', updatedAt: this.deps.clock.now() },
        tx,
      );
      await this.deps.outbox.enqueue(tx, { kind: 'decline', call, peerName: null, requestId: req.requestId });
    });
    this.deps.outbox.kick();
    this.deps.logger.info('peering declined', { component: 'federation', name: req.name });
  }

  /**
   * An admin forces a trunk secret rotation: proposed to the partner over a
   * signed v2 call and stored only once it agreed; both sides then turn one
   * more epoch at the agreed moment, with the usual overlap.
   */
  async forceSecretRotation(id: string): Promise<{ at: number; epochOffset: number }> {
    const peer = await this.deps.peerings.findPeer({ id });
    if (!peer) throw new AppError('FED_UNKNOWN_PEER', `no peer ${id}`);
    const overlapMs = this.deps.config.federation.secretOverlapSeconds * 1000;
    const proposal = proposeRotation(peer, this.deps.clock.now(), overlapMs);
    const call = v2SecretRotation(peer.partnerUrl, peer.name, {
      request_id: peer.requestId,
      epoch_offset: proposal.epochOffset,
      at: new Date(proposal.at).toISOString(),
    });
    const answer = await this.deps.transport.send(call);
    if (answer.status < 200 || answer.status >= 300) throw partnerRefusal(answer);
    const agreed = v2SecretRotationAnswer.safeParse(answer.json);
    // The partner may answer a moment it agreed before (a retry after a lost answer): that one holds.
    let at = agreed.success ? Date.parse(agreed.data.at) : NaN;
    if (
      !agreed.success ||
      agreed.data.epoch_offset !== proposal.epochOffset ||
      peer.secretEpochSeconds === null ||
      !forcedRotationFits(peer.secretEpochSeconds, at, overlapMs)
    ) {
      throw new AppError(
        'FED_ROTATION_PENDING',
        `the partner answered a forced rotation this side cannot take (${describeAnswer(answer).message})`,
      );
    }
    // Compare-and-set on the rotation read: our side may have answered the partner's own proposal meanwhile.
    const stored = await this.deps.tx.run(async (tx) => {
      const current = await this.deps.peerings.findPeer({ id: peer.id }, tx);
      const write = takeAgreedRotation(peer, current, proposal, at);
      if (!write || !current) return current?.secretShiftAt ?? at;
      const done = await this.deps.peerings.updatePeerIfShiftAt(
        peer.id,
        current.secretShiftAt,
        { ...write, updatedAt: this.deps.clock.now() },
        tx,
      );
      if (!done)
        throw new AppError(
          'FED_ROTATION_PENDING',
          `peer ${peer.name} changed during its forced rotation; nothing was stored, retry the rotation`,
        );
      return write.secretShiftAt;
    });
    at = stored;
    syncInBackground(this.deps, `forced secret rotation of peer ${peer.name}`);
    this.deps.logger.info('forced trunk secret rotation agreed', {
      component: 'federation',
      name: peer.name,
      at: new Date(at).toISOString(),
    });
    return { at, epochOffset: proposal.epochOffset };
  }

  /** Either side ends a peering; localOnly does not tell the partner (it is gone). */
  async teardownPeer(id: string, opts: { localOnly: boolean }): Promise<void> {
    const peer = await this.deps.peerings.findPeer({ id });
    if (!peer) throw new AppError('FED_UNKNOWN_PEER', `no peer ${id}`);
    await this.deps.tx.run(async (tx) => {
      await this.deps.peerings.deletePeer(id, tx);
      if (!opts.localOnly) {
        const call =
          peer.dialect === 'v2'
            ? v2Teardown(peer.partnerUrl, peer.name, peer.requestId)
            : v1Teardown(peer.partnerUrl, peer.name, peer.secret);
        await this.deps.outbox.enqueue(tx, {
          kind: 'teardown',
          call,
          peerName: peer.name,
          requestId: peer.requestId,
        });
      }
    });
    if (!opts.localOnly) this.deps.outbox.kick();
    syncInBackground(this.deps, `peer ${peer.name} torn down`);
    this.deps.logger.info('peer torn down', {
      component: 'federation',
      name: peer.name,
      localOnly: opts.localOnly,
    });
  }
}

/**
 * v1 has no port field: stock µURU writes partner_iax_host verbatim into its
 * friend's host and chan_iax2 refuses "host:port" there, so we send the bare
 * host, and refuse v1 (FED_V1_IAX2_PORT) when our IAX2 port is not 4569.
 */
function v1OwnIaxHost(i: { iax2Host: string; iax2Port: number }): string {
  assertV1IaxPort(i.iax2Port);
  return i.iax2Host;
}
