/**
 * A FAULT-INJECTION TCP proxy for tests: a loopback listener that forwards
 * every connection to a target port until told to misbehave. It stands in for
 * faults the real parts cannot produce on demand (a partner unreachable for
 * minutes, a database or AMI connection cut in the middle); everything behind
 * it is the real thing.
 *
 * Modes:
 *   forward    pass bytes both ways (the default)
 *   reset      accept, then reset at once: the client sees ECONNRESET, as when
 *              the server behind is gone
 *   blackhole  accept and never answer: the client runs into its own timeout
 * cutAll() resets every open connection, whatever the mode;
 * cutWhenSent(side, pattern) does so at the moment one side sends matching
 * bytes, for a cut at a precise point of a conversation; holdWhenSent
 * swallows such bytes and keeps the connection open.
 *
 * Each accepted connection is recorded with its time and what happened to it,
 * so a test can show when and how often a client retried.
 */
import net from 'node:net';

export type FaultMode = 'forward' | 'reset' | 'blackhole';

export interface ProxyConnection {
  /** Date.now() when the proxy accepted it. */
  at: number;
  /** What the proxy did with it (the mode at accept time). */
  mode: FaultMode;
}

export interface FaultProxy {
  readonly name: string;
  readonly port: number;
  /** http://127.0.0.1:<port>, for HTTP targets. */
  readonly url: string;
  readonly mode: FaultMode;
  /** Where forwarded connections go; may be set after start (e.g. once the server behind knows its port). */
  setTarget(port: number): void;
  setMode(mode: FaultMode): void;
  /** Resets every open connection (forwarded or held). */
  cutAll(): number;
  /**
   * Arms a cut: the first chunk that `from` (the client, or the server behind
   * the proxy) sends and that matches `match` is not passed on; instead every
   * connection is reset and the mode becomes 'reset'. For a cut at a precise
   * point of a conversation: a database lost in the middle of a transaction
   * (matched on the SQL text), an answer lost after the server acted on the
   * request (matched on its status line). Resolves with the number of
   * connections cut.
   */
  cutWhenSent(from: 'client' | 'server', match: RegExp): Promise<number>;
  /**
   * Arms a hold: the first matching chunk and everything after it on that
   * connection are swallowed while the connection stays open, so the sender
   * waits for an answer that never comes (a request lost in flight).
   * Resolves once it happened.
   */
  holdWhenSent(from: 'client' | 'server', match: RegExp): Promise<void>;
  /** Connections open right now. */
  openConnections(): number;
  /** Every connection accepted so far, oldest first. */
  connections(): ProxyConnection[];
  close(): Promise<void>;
}

export async function startFaultProxy(opts: { name: string; targetPort?: number }): Promise<FaultProxy> {
  let target = opts.targetPort ?? 0;
  let mode: FaultMode = 'forward';
  const open = new Set<net.Socket>();
  let trigger: {
    from: 'client' | 'server';
    match: RegExp;
    action: 'cut' | 'hold';
    resolve: (n: number) => void;
  } | null = null;
  const log: ProxyConnection[] = [];

  const track = (s: net.Socket): void => {
    open.add(s);
    s.once('close', () => open.delete(s));
    // Errors on either leg end both legs; nothing to report beyond that.
    s.on('error', () => undefined);
  };

  const server = net.createServer((client) => {
    log.push({ at: Date.now(), mode });
    track(client);
    if (mode === 'reset' || target === 0) {
      client.resetAndDestroy();
      return;
    }
    if (mode === 'blackhole') return;
    const upstream = net.connect({ host: '127.0.0.1', port: target });
    track(upstream);
    // Bytes are relayed by hand (not piped) so an armed cut can stop a chunk before it passes.
    let held = false;
    const relay = (from: 'client' | 'server', src: net.Socket, dst: net.Socket): void => {
      src.on('data', (chunk: Buffer) => {
        if (held) return;
        if (trigger && trigger.from === from && trigger.match.test(chunk.toString('latin1'))) {
          const fired = trigger;
          trigger = null;
          if (fired.action === 'hold') {
            held = true;
            fired.resolve(1);
          } else {
            mode = 'reset';
            fired.resolve(cutAll());
          }
          return;
        }
        dst.write(chunk);
      });
      src.once('end', () => dst.end());
    };
    relay('client', client, upstream);
    relay('server', upstream, client);
    // A reset on one leg is passed on as a reset; an orderly close as an orderly close.
    client.once('error', () => upstream.resetAndDestroy());
    upstream.once('error', () => client.resetAndDestroy());
    client.once('close', () => upstream.end());
    upstream.once('close', () => client.end());
  });

  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      resolve(typeof a === 'object' && a ? a.port : 0);
    });
  });

  const cutAll = (): number => {
    const n = open.size;
    for (const s of [...open]) s.resetAndDestroy();
    return n;
  };

  return {
    name: opts.name,
    port,
    url: `http://127.0.0.1:${port}`,
    get mode() {
      return mode;
    },
    setTarget(p) {
      target = p;
    },
    setMode(m) {
      mode = m;
    },
    cutAll,
    cutWhenSent(from, match) {
      return new Promise((resolve) => {
        trigger = { from, match, action: 'cut', resolve };
      });
    },
    holdWhenSent(from, match) {
      return new Promise((resolve) => {
        trigger = { from, match, action: 'hold', resolve: () => resolve() };
      });
    },
    openConnections: () => open.size,
    connections: () => [...log],
    close() {
      cutAll();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
