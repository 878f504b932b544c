/**
 * A FAULT-INJECTION UDP relay for tests: it stands in for a slow network
 * path, which loopback cannot produce on demand. Datagrams sent to the relay
 * go on to the target after `delayMs`, and the target's answers come back the
 * same way, each delayed again. Everything on both ends is the real thing
 * (two Asterisk instances speaking IAX2).
 */
import dgram from 'node:dgram';
import type { AddressInfo } from 'node:net';

export interface UdpDelayRelay {
  /** The port to point a peer at. */
  port: number;
  /** One-way delay in ms; may be changed while running. */
  delayMs: number;
  close(): Promise<void>;
}

export async function startUdpDelayRelay(
  target: { host: string; port: number },
  delayMs: number,
): Promise<UdpDelayRelay> {
  const front = dgram.createSocket('udp4');
  const back = dgram.createSocket('udp4');
  let client: { address: string; port: number } | null = null;
  const timers = new Set<NodeJS.Timeout>();
  const later = (fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, relay.delayMs);
    timers.add(t);
  };
  front.on('message', (msg, from) => {
    client = { address: from.address, port: from.port };
    later(() => back.send(msg, target.port, target.host));
  });
  back.on('message', (msg) => {
    const to = client;
    if (to) later(() => front.send(msg, to.port, to.address));
  });
  await Promise.all([
    new Promise<void>((r) => front.bind(0, '127.0.0.1', r)),
    new Promise<void>((r) => back.bind(0, '127.0.0.1', r)),
  ]);
  const relay: UdpDelayRelay = {
    port: (front.address() as AddressInfo).port,
    delayMs,
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
