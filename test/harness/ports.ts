import crypto from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';

/** The kernel's pick of a free TCP port on 127.0.0.1. */
function kernelTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no TCP port assigned'))));
    });
  });
}

/** The kernel's pick of a free UDP port on 127.0.0.1. */
function kernelUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket('udp4');
    socket.unref();
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      const port = socket.address().port;
      socket.close(() => (port > 0 ? resolve(port) : reject(new Error('no UDP port assigned'))));
    });
  });
}

/**
 * Ports handed out by this process. The kernel may give a port that was just
 * closed to the very next bind to port 0, so two picks in a row (a test that
 * starts several sidecars at once) could get the same port and one of them
 * would fail with EADDRINUSE; a port is never handed out twice per process.
 */
const handedOut = { tcp: new Set<number>(), udp: new Set<number>() };

async function unique(kind: 'tcp' | 'udp', pick: () => Promise<number>): Promise<number> {
  for (let tries = 0; tries < 50; tries++) {
    const port = await pick();
    if (!handedOut[kind].has(port)) {
      handedOut[kind].add(port);
      return port;
    }
  }
  throw new Error(`no ${kind} port that this process has not handed out already after 50 tries`);
}

/**
 * A TCP port that was free on 127.0.0.1 a moment ago and that this process has
 * not handed out before. The kernel picks it, so concurrent test runs do not
 * collide; the short window between close and reuse is accepted.
 */
export function freePort(): Promise<number> {
  return unique('tcp', kernelTcpPort);
}

/** Same as freePort, for UDP (IAX2 binds UDP). */
export function freeUdpPort(): Promise<number> {
  return unique('udp', kernelUdpPort);
}

/** IAX2's standard port: the only one a v1 (stock µURU) partner can reach, since v1 carries no port. */
export const STANDARD_IAX2_PORT = 4569;

let loopbackSeq = 0;

/** A UDP bind on (address, port) succeeds: nothing holds it, neither there nor on the wildcard address. */
function udpFree(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    // No reuseAddr: the bind then also fails against an Asterisk that bound the same pair with SO_REUSEADDR.
    const socket = dgram.createSocket({ type: 'udp4', reuseAddr: false });
    socket.unref();
    socket.once('error', () => {
      socket.close();
      resolve(false);
    });
    socket.bind(port, address, () => socket.close(() => resolve(true)));
  });
}

/**
 * A loopback address of its own (127.x.y.z: all of 127/8 is loopback on
 * Linux) on which `port` is free, so that a test Asterisk can bind IAX2 on the
 * standard port, as a stock µURU partner needs. The addresses start from a
 * digest of the run id and pid, so concurrent test runs on one machine walk
 * different parts of the 16M addresses, and never repeat within a process;
 * each candidate is checked with a UDP bind before it is handed out (the short
 * window between check and Asterisk's bind is accepted, as for freePort).
 * 127.0.x.x is skipped: 127.0.0.1 is everyone's, 127.0.1.1 is Debian's host name.
 */
export async function freeLoopbackAddress(port: number, runKey: string): Promise<string> {
  const base = crypto.createHash('sha256').update(`${runKey}:${process.pid}`).digest().readUIntBE(0, 3);
  for (let tries = 0; tries < 64; tries++) {
    // Claimed before the await, so parallel starts in one process never get the same candidate.
    const n = (base + loopbackSeq++ * 257) % 0x1000000;
    const [x, y, z] = [n >> 16, (n >> 8) & 0xff, n & 0xff];
    if (x === 0 || z === 0 || z === 255) continue;
    const address = `127.${x}.${y}.${z}`;
    if (await udpFree(address, port)) return address;
  }
  throw new Error(`no free loopback address for UDP port ${port} after 64 tries`);
}
