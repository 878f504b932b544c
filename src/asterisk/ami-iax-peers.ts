import type { AmiMessage } from './ami-protocol';

export type IaxPeerState = 'ok' | 'lagged' | 'unreachable' | 'unknown' | 'unmonitored';

/** One IAX2 peer from `IAXpeerlist`. */
export interface IaxPeerEntry {
  name: string;
  /** Address Asterisk has for the peer; null when it has none yet. */
  host: string | null;
  port: number | null;
  /** Asterisk's status text, e.g. "OK (12 ms)". */
  status: string;
  state: IaxPeerState;
  /** Round trip of the last qualify probe, for ok and lagged peers. */
  latencyMs: number | null;
}

const NO_ADDRESS = new Set(['', '-none-', '(null)', '0.0.0.0', '(Unspecified)']);

/** Parses Asterisk's qualify status text ("OK (12 ms)", "LAGGED (n ms)", "UNREACHABLE", ...). */
export function parseIaxPeerStatus(status: string): { state: IaxPeerState; latencyMs: number | null } {
  const m = /^\s*(OK|LAGGED|UNREACHABLE|UNKNOWN|Unmonitored)\b(?:\s*\((\d+)\s*ms\))?/i.exec(status);
  if (!m) return { state: 'unknown', latencyMs: null };
  const word = m[1].toLowerCase();
  const latencyMs = m[2] !== undefined ? Number(m[2]) : null;
  const state: IaxPeerState =
    word === 'ok'
      ? 'ok'
      : word === 'lagged'
        ? 'lagged'
        : word === 'unreachable'
          ? 'unreachable'
          : word === 'unmonitored'
            ? 'unmonitored'
            : 'unknown';
  return { state, latencyMs: state === 'ok' || state === 'lagged' ? latencyMs : null };
}

export function parseIaxPeerEntry(e: AmiMessage): IaxPeerEntry {
  const status = e.status ?? '';
  const address = (e.ipaddress ?? '').trim();
  const port = Number(e.ipport ?? e.port ?? '');
  return {
    name: e.objectname ?? '',
    host: NO_ADDRESS.has(address) ? null : address,
    port: Number.isInteger(port) && port > 0 ? port : null,
    status,
    ...parseIaxPeerStatus(status),
  };
}
