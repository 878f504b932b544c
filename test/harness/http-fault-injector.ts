/**
 * A FAULT-INJECTION HTTP proxy for tests: forwards every request to a real
 * server (method, path, headers and body unchanged, so signed uuru-fed/2
 * calls still verify when the server's public address is this proxy), except
 * those matching an armed fault, which it answers itself with a given status.
 * It stands in for what a real partner cannot be made to do on demand: answer
 * 503 to one call for a while (an overloaded partner behind a load balancer),
 * or drop it unanswered, while everything else keeps working.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HttpFault {
  method: string;
  path: RegExp;
  /** Status of the injected answer; 0 drops the connection instead (the client sees no answer). */
  status: number;
  /** JSON body of the injected answer. */
  body?: unknown;
}

export interface HttpFaultInjector {
  readonly url: string;
  setTarget(url: string): void;
  /** Answers matching requests with the fault from now on; null forwards everything again. */
  setFault(fault: HttpFault | null): void;
  /** Requests answered by the fault so far. */
  injected(): number;
  close(): Promise<void>;
}

export async function startHttpFaultInjector(): Promise<HttpFaultInjector> {
  let target = '';
  let fault: HttpFault | null = null;
  let injected = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      const f = fault;
      if (f && req.method === f.method && f.path.test(req.url ?? '')) {
        injected++;
        if (f.status === 0) {
          req.socket.destroy();
          return;
        }
        res.writeHead(f.status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(f.body));
        return;
      }
      const up = http.request(
        `${target}${req.url ?? '/'}`,
        { method: req.method, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      up.on('error', () => {
        if (!res.headersSent) res.writeHead(502);
        res.end();
      });
      up.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    setTarget(u) {
      target = u;
    },
    setFault(f) {
      fault = f;
    },
    injected: () => injected,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}
