/**
 * Call quality per trunk (issue 14): what the Asterisk layer measures from
 * `iax2 show netstats` during calls and quality probes, and the port through
 * which it keeps the last 24 h of samples. The composition hands the Asterisk
 * layer a TrunkQualityStore (src/store/trunk-quality-samples.ts); the admin API
 * and the panel read the same store.
 */

/** How long samples are kept. */
export const TRUNK_QUALITY_RETENTION_MS = 24 * 60 * 60 * 1000;

/** Which way the media went: `inbound` partner → us (our own jitter buffer), `outbound` us → partner (its reports). */
export const QUALITY_DIRECTIONS = ['inbound', 'outbound'] as const;
export type QualityDirection = (typeof QUALITY_DIRECTIONS)[number];

/** What a sample was taken during: a real call, or a quality probe the sidecar placed. */
export type QualitySource = 'call' | 'probe';

/** One direction's figures; null where Asterisk reports nothing real (no jitter buffer, no report yet). */
export interface DirectionFigures {
  /** Jitter, ms. */
  jitterMs: number | null;
  /** Fraction of the media frames lost, 0..1. */
  lossRatio: number | null;
}

/** One trunk's figures at one moment (the worst over its IAX2 channels then). */
export interface TrunkQualitySample {
  peer: string;
  at: number;
  source: QualitySource;
  /** IAX2 channels up to the peer at that moment. */
  calls: number;
  /** Round trip of IAX2 PING/PONG, ms; null until the first answer of the call. */
  rttMs: number | null;
  inbound: DirectionFigures;
  outbound: DirectionFigures;
}

/** The samples' store (owned by the Asterisk layer, see docs/architecture.md). */
export interface TrunkQualityStore {
  add(samples: readonly TrunkQualitySample[]): Promise<void>;
  /** Samples of one peer (or all) taken at or after `since`, oldest first. */
  since(since: number, peer?: string): Promise<TrunkQualitySample[]>;
  /** Deletes samples older than `before`; returns how many. */
  prune(before: number): Promise<number>;
  /** The newest sample of each peer that has one. */
  latest(): Promise<TrunkQualitySample[]>;
}
