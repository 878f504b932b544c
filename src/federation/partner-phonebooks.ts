import type { PartnerPhonebookView } from '../core/federation-admin';
import type { Clock } from '../core/clock';
import { AppError, errorMessage } from '../core/errors';
import type { Logger } from '../logging/logger';
import type { Peer } from './ports/peering-store';
import { MAX_PARTNER_ANSWER_BYTES, readLimited } from './bounded-body';
import { describeFetchFailure } from './fetch-failure';
import {
  type PartnerEntry,
  PartnerPhonebookRefused,
  parsePartnerPhonebook,
} from './partner-phonebook-entries';
import { describeAnswer, type PartnerAnswer, type PartnerTransport } from './partner-transport';
import type { PeeringStore } from './ports/peering-store';
import { v1Phonebook } from './legacy-calls';
import { v2Phonebook } from './v2-calls';

/** After a failed fetch, ask again no sooner than this, however often the panel asks. */
const RETRY_AFTER_FAILURE_MS = 30 * 1000;
/** Fetches running at once when every partner's phonebook is asked for. */
const PARALLEL_FETCHES = 4;

interface Cached {
  /** what the entries depend on: a changed partner address or extension length invalidates them */
  basis: string;
  entries: PartnerEntry[];
  skipped: number;
  fetchedAt: number | null;
  attemptedAt: number;
  error: string | null;
}

/**
 * Our partners' phonebooks, fetched on demand (v2 signed GET /phonebook, v1
 * µURU's GET /api/v1/extension/phonebook), validated strictly, cached in
 * memory for the configured time and shown with our dial prefix in front.
 * A partner that is down or sends garbage only yields an error on its own
 * view: the last good entries stay, nothing else is touched.
 */
export class PartnerPhonebooks {
  private readonly cache = new Map<string, Cached>();
  private readonly inflight = new Map<string, Promise<Cached>>();

  constructor(
    private readonly deps: {
      peerings: PeeringStore;
      transport: PartnerTransport;
      fetch: typeof fetch;
      clock: Clock;
      logger: Logger;
      ttlMs: number;
      timeoutMs: number;
    },
  ) {}

  async forPeer(peerId: string, opts: { refresh?: boolean } = {}): Promise<PartnerPhonebookView> {
    const peer = await this.deps.peerings.findPeer({ id: peerId });
    if (!peer) throw new AppError('FED_UNKNOWN_PEER', `no peer ${peerId}`);
    return this.view(peer, await this.current(peer, opts.refresh === true));
  }

  async all(opts: { refresh?: boolean } = {}): Promise<PartnerPhonebookView[]> {
    const peers = await this.deps.peerings.listPeers();
    const live = new Set(peers.map((p) => p.id));
    for (const id of this.cache.keys()) if (!live.has(id)) this.cache.delete(id);
    const out: PartnerPhonebookView[] = new Array<PartnerPhonebookView>(peers.length);
    let next = 0;
    const worker = async () => {
      while (next < peers.length) {
        const i = next++;
        out[i] = this.view(peers[i], await this.current(peers[i], opts.refresh === true));
      }
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL_FETCHES, peers.length) }, worker));
    return out;
  }

  private async current(peer: Peer, refresh: boolean): Promise<Cached> {
    const basis = `${peer.dialect} ${peer.partnerUrl} ${peer.partnerExtensionLength}`;
    let cached = this.cache.get(peer.id);
    if (cached && cached.basis !== basis) {
      this.cache.delete(peer.id);
      cached = undefined;
    }
    if (peer.state !== 'active') {
      return {
        ...(cached ?? { basis, entries: [], skipped: 0, fetchedAt: null, attemptedAt: 0 }),
        error: 'the partner no longer knows this peering; its phonebook is not fetched',
      };
    }
    const now = this.deps.clock.now();
    const fresh =
      cached &&
      !refresh &&
      now - cached.attemptedAt < (cached.error === null ? this.deps.ttlMs : RETRY_AFTER_FAILURE_MS);
    if (fresh && cached) return cached;
    let running = this.inflight.get(peer.id);
    if (!running) {
      running = this.fetchInto(peer, basis, cached).finally(() => this.inflight.delete(peer.id));
      this.inflight.set(peer.id, running);
    }
    return running;
  }

  private async fetchInto(peer: Peer, basis: string, previous: Cached | undefined): Promise<Cached> {
    const attemptedAt = this.deps.clock.now();
    let next: Cached;
    try {
      const answer = await this.request(peer);
      if (answer.status !== 200) {
        const d = describeAnswer(answer);
        throw new PartnerPhonebookRefused(
          `the partner answered HTTP ${answer.status}${d.code ? ` ${d.code}` : ''}: ${d.message}`.slice(
            0,
            300,
          ),
        );
      }
      const parsed = parsePartnerPhonebook(answer.json, peer.partnerExtensionLength);
      next = { basis, ...parsed, fetchedAt: attemptedAt, attemptedAt, error: null };
      if (parsed.skipped > 0) {
        this.deps.logger.info('partner phonebook entries skipped', {
          component: 'partner-phonebook',
          peer: peer.name,
          skipped: parsed.skipped,
        });
      }
    } catch (e) {
      const error = errorMessage(e).slice(0, 300);
      next = {
        basis,
        entries: previous?.entries ?? [],
        skipped: previous?.skipped ?? 0,
        fetchedAt: previous?.fetchedAt ?? null,
        attemptedAt,
        error,
      };
      this.deps.logger.warn('partner phonebook not fetched', {
        component: 'partner-phonebook',
        peer: peer.name,
        error,
      });
    }
    this.cache.set(peer.id, next);
    return next;
  }

  private async request(peer: Peer): Promise<PartnerAnswer> {
    if (peer.dialect === 'v2') return this.deps.transport.send(v2Phonebook(peer.partnerUrl));
    // v1 by hand rather than through the transport: the body is read with a size bound.
    const call = v1Phonebook(peer.partnerUrl);
    let res: Response;
    let text: string;
    try {
      res = await this.deps.fetch(call.url, {
        headers: { accept: 'application/json' },
        redirect: 'error',
        signal: AbortSignal.timeout(this.deps.timeoutMs),
      });
      text = await readLimited(res, MAX_PARTNER_ANSWER_BYTES);
    } catch (e) {
      throw new PartnerPhonebookRefused(`the partner could not be read: ${describeFetchFailure(e)}`);
    }
    let json: unknown = null;
    try {
      json = text ? (JSON.parse(text) as unknown) : null;
    } catch {
      if (res.status === 200) throw new PartnerPhonebookRefused('the phonebook is not valid JSON');
    }
    return { status: res.status, json };
  }

  private view(peer: Peer, c: Cached): PartnerPhonebookView {
    return {
      peer: { id: peer.id, name: peer.name, prefix: peer.prefix, dialect: peer.dialect },
      entries: c.entries.map((e) => ({
        dial: `${peer.prefix}${e.extension}`,
        extension: e.extension,
        name: e.name,
      })),
      fetched_at: c.fetchedAt === null ? null : new Date(c.fetchedAt).toISOString(),
      error: c.error,
      skipped: c.skipped,
    };
  }
}
