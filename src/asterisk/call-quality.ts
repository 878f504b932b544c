import { randomUUID } from 'node:crypto';
import type { Clock } from '../core/clock';
import { errorMessage } from '../core/errors';
import type { Metrics } from '../core/metrics';
import type { AsteriskPeerRows } from '../core/asterisk-peers';
import {
  TRUNK_QUALITY_RETENTION_MS,
  type DirectionFigures,
  type TrunkQualitySample,
  type TrunkQualityStore,
} from '../core/trunk-quality';
import type { Job } from '../jobs/job';
import type { Logger } from '../logging/logger';
import type { AmiLink } from './asterisk-links';
import {
  conciseChannelNames,
  type NetstatsRow,
  type NetstatsSide,
  parseNetstats,
  peerOfChannel,
  peerOfNetstatsRow,
} from './iax-netstats';
import { assertDigits, assertName } from './peer-validation';

export interface QualityProbeSettings {
  enabled: boolean;
  /** Gap between two probe rounds (one probe per idle reachable trunk, one after the other). */
  intervalMs: number;
  /** How long a probe call stays up: longer than iax.conf's pingtime (21 s by default) to get RTT and the far end's report. */
  durationMs: number;
  /** The partner's echo extension. */
  extension: string;
}

/** Prune at most this often. */
const PRUNE_EVERY_MS = 10 * 60 * 1000;

const worst = (values: (number | null)[]): number | null => {
  const known = values.filter((v): v is number => v !== null);
  return known.length === 0 ? null : Math.max(...known);
};

const figures = (sides: NetstatsSide[]): DirectionFigures => ({
  jitterMs: worst(sides.map((s) => s.jitterMs)),
  lossRatio: worst(sides.map((s) => (s.lossPercent === null ? null : s.lossPercent / 100))),
});

/**
 * Call quality per trunk: every poll reads the channels (`core show channels
 * concise`, for active calls per trunk) and `iax2 show netstats` (RTT, and
 * jitter and loss each way) through AMI Command, sets the trunk gauges and
 * stores one sample per trunk with calls up (the worst figures over its
 * channels). Figures exist only while a call is up, so when enabled a probe
 * round now and then places a short call to each reachable trunk that has
 * none: Milliwatt on our side, the partner's echo extension on the other, so
 * media flows both ways.
 */
export class CallQualityMonitor {
  readonly pollJob: Job;
  readonly probeJob: Job | null;
  private lastPrune = 0;
  /** Peers with a probe up now (their samples are marked `probe`). */
  private readonly probing = new Set<string>();
  private stopped = false;
  private readonly wake = new Set<() => void>();

  constructor(
    private readonly deps: {
      rows: AsteriskPeerRows;
      ami: AmiLink;
      store: TrunkQualityStore;
      clock: Clock;
      logger: Logger;
      metrics: Metrics;
      pollMs: number;
      probe: QualityProbeSettings;
    },
  ) {
    this.pollJob = { name: 'trunk-quality', schedule: { gapMs: deps.pollMs }, run: () => this.pollLogged() };
    this.probeJob = deps.probe.enabled
      ? {
          name: 'quality-probe',
          schedule: { gapMs: deps.probe.intervalMs },
          run: () => this.probeRound(),
        }
      : null;
  }

  /** Starts, and sets the gauges from the newest stored sample of each configured peer (a restart keeps them). */
  start(): void {
    this.stopped = false;
    void this.seedGauges().catch((e: unknown) =>
      this.deps.logger.debug('call quality: stored samples not read', {
        component: 'asterisk',
        error: errorMessage(e),
      }),
    );
  }

  private async seedGauges(): Promise<void> {
    const { rows, store, metrics } = this.deps;
    const peers = new Set((await rows.readLinks()).map((p) => p.name));
    for (const s of await store.latest()) if (peers.has(s.peer)) metrics.setTrunkQuality(s);
  }

  /** Ends a probe being held (it is hung up at once). */
  stop(): void {
    this.stopped = true;
    for (const w of this.wake) w();
  }

  private async pollLogged(): Promise<void> {
    try {
      await this.pollOnce();
    } catch (e) {
      this.deps.logger.debug('call quality poll failed', { component: 'asterisk', error: errorMessage(e) });
    }
  }

  /** One reading of Asterisk's channels and IAX2 netstats; returns the samples stored. */
  async pollOnce(): Promise<TrunkQualitySample[]> {
    const { ami, rows, store, clock, metrics } = this.deps;
    if (ami.state !== 'connected') return [];
    // IAX2 channels are named after the friend, which is the peering name (as the test caller dials it).
    const peers = new Set((await rows.readLinks()).map((p) => p.name));
    const peerOf = (name: string | null): string | undefined =>
      name !== null && peers.has(name) ? name : undefined;
    const channels = conciseChannelNames(await ami.command('core show channels concise'));
    const netstats = parseNetstats(await ami.command('iax2 show netstats'));
    const now = clock.now();
    const calls = new Map<string, number>();
    for (const c of channels) {
      const peer = peerOf(peerOfChannel(c));
      if (peer !== undefined) calls.set(peer, (calls.get(peer) ?? 0) + 1);
    }
    const byPeer = new Map<string, NetstatsRow[]>();
    for (const row of netstats) {
      const peer = peerOf(peerOfNetstatsRow(row, channels));
      if (peer === undefined) continue;
      byPeer.set(peer, [...(byPeer.get(peer) ?? []), row]);
    }
    for (const peer of peers) metrics.setTrunkActiveCalls(peer, calls.get(peer) ?? 0);
    const samples: TrunkQualitySample[] = [];
    for (const [peer, list] of byPeer) {
      const sample: TrunkQualitySample = {
        peer,
        at: now,
        source: this.probing.has(peer) ? 'probe' : 'call',
        calls: calls.get(peer) ?? list.length,
        rttMs: worst(list.map((r) => r.rttMs)),
        inbound: figures(list.map((r) => r.local)),
        outbound: figures(list.map((r) => r.remote)),
      };
      metrics.setTrunkQuality(sample);
      samples.push(sample);
    }
    await store.add(samples);
    if (now - this.lastPrune >= PRUNE_EVERY_MS) {
      this.lastPrune = now;
      await store.prune(now - TRUNK_QUALITY_RETENTION_MS);
    }
    return samples;
  }

  /** One probe to each reachable trunk without a call up, one after the other. */
  async probeRound(): Promise<void> {
    const { ami, rows } = this.deps;
    if (ami.state !== 'connected') return;
    const links = await rows.readLinks();
    const busy = new Set(
      conciseChannelNames(await ami.command('core show channels concise')).map(peerOfChannel),
    );
    for (const p of links) {
      if (this.stopped) return;
      if (busy.has(p.name) || (p.reachability !== 'reachable' && p.reachability !== 'lagged')) continue;
      await this.probe(p.name).catch((e: unknown) =>
        this.deps.logger.info('quality probe failed', {
          component: 'asterisk',
          peer: p.name,
          error: errorMessage(e),
        }),
      );
    }
  }

  /**
   * A probe call to one peer: up for durationMs (Asterisk hangs it up by
   * itself a little later should we not), sampled by the polls meanwhile and
   * once more right before the hang-up.
   */
  async probe(peerName: string): Promise<void> {
    const { ami, probe } = this.deps;
    const peer = assertName('peer', peerName);
    const exten = assertDigits('extension', probe.extension);
    const id = `uuru-probe-${randomUUID()}`;
    this.probing.add(peer);
    try {
      await ami.action(
        {
          Action: 'Originate',
          Channel: `IAX2/${peer}/${exten}`,
          Application: 'Milliwatt',
          ChannelId: id,
          Timeout: '10000',
          Async: 'true',
          // A safety net: Asterisk ends the call itself if the sidecar never hangs up.
          Variable: `TIMEOUT(absolute)=${Math.ceil(probe.durationMs / 1000) + 5}`,
        },
        { timeoutMs: 15000 },
      );
      await this.hold(probe.durationMs);
      await this.pollLogged();
    } finally {
      await this.hangup(id).catch(() => undefined);
      this.probing.delete(peer);
    }
  }

  private hold(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.wake.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.wake.add(done);
    });
  }

  /** Hangs up the channel whose unique id is `id` (the probe's), found in the concise channel list. */
  private async hangup(id: string): Promise<void> {
    const { ami } = this.deps;
    const text = await ami.command('core show channels concise');
    for (const line of text.split(/\r?\n/)) {
      const fields = line.split('!');
      if (fields.length > 1 && fields[fields.length - 1].trim() === id) {
        await ami.action({ Action: 'Hangup', Channel: fields[0].trim() });
      }
    }
  }
}
