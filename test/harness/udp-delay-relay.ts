/**
 * A FAULT-INJECTION UDP relay for tests: it stands in for a slow or lossy
 * network path, which loopback cannot produce on demand. Datagrams sent to
 * the relay go on to the target after `delayMs`, and the target's answers
 * come back the same way, each delayed again. With `drop` set, a fraction of
 * the datagrams is dropped, chosen by a seeded PRNG so that a run can be
 * repeated exactly. Everything on both ends is the real thing (two Asterisk
 * instances speaking IAX2).
 */
import dgram from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { seededRandom, type SeededRandom } from './seeded-random';

/** Which way a datagram goes: towards the target, or back from it. */
export type RelayDirection = 'toTarget' | 'fromTarget';

export interface DropRule {
  /** Fraction of the matching datagrams to drop, 0..1. */
  ratio: number;
  /** Seed of the PRNG that picks them (print it; the same seed drops the same datagrams). */
  seed: number;
  /** Only datagrams going this way (default: both). */
  direction?: RelayDirection;
  /**
   * Only IAX2 media: mini frames (the F bit of the first byte clear, not a meta frame), which are
   * never retransmitted, so the far end's loss figure is exactly what was dropped. Full frames
   * (signalling, pings) are retransmitted by IAX2 and dropping them skews nothing but timing.
   * Default: every datagram.
   */
  onlyIaxMedia?: boolean;
}

export interface UdpDelayRelay {
  /** The port to point a peer at. */
  port: number;
  /** One-way delay in ms; may be changed while running. */
  delayMs: number;
  /**
   * Drops datagrams from now on: a rule with a direction replaces that direction's rule only, one
   * without replaces both; null drops nothing any more. Resets that direction's counts.
   */
  setDrop(rule: DropRule | null): void;
  /** Datagrams seen and dropped per direction since its rule was set (the matching ones only). */
  readonly counts: Record<RelayDirection, { matched: number; dropped: number }>;
  close(): Promise<void>;
}

/** An IAX2 mini frame: F bit clear and not a meta frame (whose first 16 bits are zero). */
export function isIaxMiniFrame(msg: Buffer): boolean {
  if (msg.length < 4) return false;
  if ((msg[0] & 0x80) !== 0) return false;
  return !(msg[0] === 0 && msg[1] === 0);
}

export async function startUdpDelayRelay(
  target: { host: string; port: number },
  delayMs: number,
): Promise<UdpDelayRelay> {
  const front = dgram.createSocket('udp4');
  const back = dgram.createSocket('udp4');
  let client: { address: string; port: number } | null = null;
  const timers = new Set<NodeJS.Timeout>();
  const drops: Partial<Record<RelayDirection, { rule: DropRule; random: SeededRandom }>> = {};
  const counts: Record<RelayDirection, { matched: number; dropped: number }> = {
    toTarget: { matched: 0, dropped: 0 },
    fromTarget: { matched: 0, dropped: 0 },
  };
  const dropped = (msg: Buffer, direction: RelayDirection): boolean => {
    const drop = drops[direction];
    if (!drop) return false;
    const { rule, random } = drop;
    if (rule.onlyIaxMedia && !isIaxMiniFrame(msg)) return false;
    counts[direction].matched++;
    if (!random.chance(rule.ratio)) return false;
    counts[direction].dropped++;
    return true;
  };
  const later = (fn: () => void) => {
    if (relay.delayMs <= 0) {
      fn();
      return;
    }
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, relay.delayMs);
    timers.add(t);
  };
  front.on('message', (msg, from) => {
    client = { address: from.address, port: from.port };
    if (dropped(msg, 'toTarget')) return;
    later(() => back.send(msg, target.port, target.host));
  });
  back.on('message', (msg) => {
    const to = client;
    if (!to || dropped(msg, 'fromTarget')) return;
    later(() => front.send(msg, to.port, to.address));
  });
  await Promise.all([
    new Promise<void>((r) => front.bind(0, '127.0.0.1', r)),
    new Promise<void>((r) => back.bind(0, '127.0.0.1', r)),
  ]);
  const relay: UdpDelayRelay = {
    port: (front.address() as AddressInfo).port,
    delayMs,
    counts,
    setDrop(rule) {
      if (rule && !(rule.ratio >= 0 && rule.ratio <= 1))
        throw new Error(`drop ratio ${rule.ratio} not in 0..1`);
      const directions: RelayDirection[] = rule?.direction ? [rule.direction] : ['toTarget', 'fromTarget'];
      for (const d of directions) {
        // Each direction draws from its own sequence, so one direction's traffic never shifts the other's.
        if (rule) drops[d] = { rule, random: seededRandom(rule.seed + (d === 'toTarget' ? 0 : 1)) };
        else delete drops[d];
        counts[d] = { matched: 0, dropped: 0 };
      }
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      await Promise.all([
        new Promise<void>((r) => front.close(() => r())),
        new Promise<void>((r) => back.close(() => r())),
      ]);
    },
  };
  return relay;
}
