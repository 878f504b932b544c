import dgram from 'node:dgram';
import net from 'node:net';

/**
 * A TCP port that was free on 127.0.0.1 a moment ago. The kernel picks it, so
 * concurrent test runs do not collide; the short window between close and
 * reuse is accepted.
 */
export function freePort(): Promise<number> {
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

/** Same as freePort, for UDP (IAX2 binds UDP). */
export function freeUdpPort(): Promise<number> {
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
