/**
 * A round-robin TCP balancer on a loopback port, in front of several
 * replicas' listeners (what a community puts in front of its replicas: one
 * public address). Each new connection goes to the next backend; a backend
 * that refuses the connection (a killed replica) is skipped for that
 * connection. Bytes are piped unchanged, so a request signed for the
 * balancer's address reaches whichever replica as it was signed.
 */
import net from 'node:net';

export interface TcpBalancer {
  /** http://127.0.0.1:<port> */
  url: string;
  port: number;
  /** Adds a backend port (a replica's listener). */
  add(port: number): void;
  /** Connections handed to each backend port so far. */
  connections(): Map<number, number>;
  close(): Promise<void>;
}

export async function startTcpBalancer(): Promise<TcpBalancer> {
  const backends: number[] = [];
  const counts = new Map<number, number>();
  const open = new Set<net.Socket>();
  let next = 0;

  const connect = (client: net.Socket, tried: number): void => {
    if (backends.length === 0 || tried >= backends.length) {
      client.destroy();
      return;
    }
    const port = backends[next++ % backends.length];
    const upstream = net.connect({ host: '127.0.0.1', port });
    open.add(upstream);
    upstream.once('close', () => open.delete(upstream));
    const refused = () => {
      upstream.destroy();
      connect(client, tried + 1);
    };
    upstream.once('error', refused);
    upstream.once('connect', () => {
      upstream.off('error', refused);
      counts.set(port, (counts.get(port) ?? 0) + 1);
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    });
  };

  const server = net.createServer({ pauseOnConnect: true }, (client) => {
    open.add(client);
    client.once('close', () => open.delete(client));
    connect(client, 0);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('balancer has no port');
  return {
    url: `http://127.0.0.1:${address.port}`,
    port: address.port,
    add: (port) => void backends.push(port),
    connections: () => new Map(counts),
    close: async () => {
      for (const s of open) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
