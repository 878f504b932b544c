/**
 * Parsing of `iax2 show netstats` (chan_iax2's CLI, read through AMI
 * `Command`; the `IAXnetstats` action answers without an ActionID, so on a
 * shared session it cannot be told from other answers). One row per IAX2
 * channel:
 *
 *   Channel  RTT | LOCAL Jit Del Lost % Drop OOO Kpkts | REMOTE Jit Del Lost % Drop OOO Kpkts | FirstMsg LastMsg
 *
 * Checked on Asterisk 22 (docs/asterisk.md, "Call quality"): the channel name
 * is cut to 25 characters; RTT reads 1000 until the call's first PONG; the
 * LOCAL jitter and loss read -1 unless that side runs a jitter buffer
 * (`jitterbuffer=yes`); the REMOTE columns are the far end's last report,
 * carried by its PONG, and read 0 until the first one.
 */

/** RTT chan_iax2 shows before the call's first PONG. */
export const IAX_RTT_UNMEASURED = 1000;
/** Width chan_iax2 cuts channel names to in this table. */
export const NETSTATS_NAME_WIDTH = 25;

export interface NetstatsSide {
  jitterMs: number | null;
  delayMs: number | null;
  lost: number | null;
  /** Lost frames, percent (a moving average of chan_iax2's jitter buffer). */
  lossPercent: number | null;
  dropped: number | null;
  outOfOrder: number | null;
  kpackets: number | null;
}

export interface NetstatsRow {
  /** As printed: possibly cut to NETSTATS_NAME_WIDTH characters. */
  channel: string;
  /** null while it reads its initial 1000 (no PONG yet). */
  rttMs: number | null;
  local: NetstatsSide;
  /** The far end's report; null throughout until its first report arrived (with the first PONG). */
  remote: NetstatsSide;
}

const ROW = new RegExp(`^(\\S+)\\s+(-?\\d+)${'\\s+(-?\\d+)'.repeat(14)}(?:\\s|$)`);

const value = (n: number): number | null => (n < 0 ? null : n);

function side(nums: number[], known: boolean): NetstatsSide {
  const [jitter, delay, lost, pct, drop, ooo, kpkts] = nums;
  if (!known) {
    return {
      jitterMs: null,
      delayMs: null,
      lost: null,
      lossPercent: null,
      dropped: null,
      outOfOrder: null,
      kpackets: null,
    };
  }
  return {
    jitterMs: value(jitter),
    delayMs: value(delay),
    lost: value(lost),
    lossPercent: value(pct),
    dropped: value(drop),
    outOfOrder: value(ooo),
    kpackets: value(kpkts),
  };
}

export function parseNetstats(text: string): NetstatsRow[] {
  const rows: NetstatsRow[] = [];
  for (const line of text.split(/\r?\n/)) {
    const m = ROW.exec(line.trim());
    if (!m || !m[1].includes('/')) continue;
    const nums = m.slice(2, 17).map(Number);
    const rtt = nums[0];
    const measured = rtt !== IAX_RTT_UNMEASURED && rtt >= 0;
    rows.push({
      channel: m[1],
      rttMs: measured ? rtt : null,
      local: side(nums.slice(1, 8), true),
      remote: side(nums.slice(8, 15), measured),
    });
  }
  return rows;
}

/**
 * The peer of an IAX2 channel name (`IAX2/<peer>-<call number>`), or null for
 * another technology or a name without a call number.
 */
export function peerOfChannel(channel: string): string | null {
  const m = /^IAX2\/(.+)-\d+$/.exec(channel);
  return m ? m[1] : null;
}

/**
 * The peer of a netstats row: its (possibly cut) name is matched against the
 * full channel names (`core show channels concise`). Null when no channel
 * matches or the candidates belong to more than one peer.
 */
export function peerOfNetstatsRow(row: NetstatsRow, channels: readonly string[]): string | null {
  const exact = peerOfChannel(row.channel);
  if (row.channel.length < NETSTATS_NAME_WIDTH && exact !== null) return exact;
  const peers = new Set<string>();
  for (const c of channels) {
    if (!c.startsWith(row.channel)) continue;
    const p = peerOfChannel(c);
    if (p !== null) peers.add(p);
  }
  return peers.size === 1 ? [...peers][0] : null;
}

/** Full channel names of `core show channels concise` (one `!`-separated line per channel). */
export function conciseChannelNames(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.split('!')[0].trim())
    .filter((c) => c.includes('/'));
}
