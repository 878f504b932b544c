/**
 * A FAULT-INJECTION HTTP proxy for tests: forwards every request to a real
 * server (method, path, headers and body unchanged, so signed uuru-fed/2
 * calls still verify when the server's public address is this proxy), except
 * those matching an armed fault, which it answers itself with a given status.
 * It stands in for what a real partner cannot be made to do on demand: answer
 * 503 to one call for a while (an overloaded partner behind a load balancer),
 * or drop it unanswered, while everything else keeps working.
 *
 * It is also an INSPECTION proxy: every exchange that passes (or is answered
 * by a fault) is recorded with both bodies, so a test can check what crossed
 * the wire (for example that no secret did).
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
  /**
   * Forward the request to the server first and replace its answer with the
   * fault's (a lost answer: the server did the work, the client never hears
   * of it). Default: the server never sees the request.
   */
  forward?: boolean;
}

/** One exchange as the proxy saw it. */
export interface RecordedExchange {
  at: number;
  method: string;
  url: string;
  status: number;
  requestBody: string;
  answerBody: string;
}

export interface HttpFaultInjector {
  readonly url: string;
  /** Every exchange so far, oldest first (an answer still streaming is recorded once it ended). */
  exchanges(): RecordedExchange[];
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
  const recorded: RecordedExchange[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      const f = fault;
      const at = Date.now();
      const requestBody = Buffer.concat(chunks).toString('utf8');
      const record = (status: number, answerBody: string) =>
        recorded.push({ at, method: req.method ?? '', url: req.url ?? '', status, requestBody, answerBody });
      const matches = f !== null && req.method === f.method && f.path.test(req.url ?? '');
      if (f && matches && f.forward === true) {
        injected++;
        const up = http.request(
          `${target}${req.url ?? '/'}`,
          { method: req.method, headers: req.headers },
          (answer) => {
            const parts: Buffer[] = [];
            answer.on('data', (d: Buffer) => parts.push(d));
            answer.on('end', () => {
              // The server's answer is recorded; the client gets the fault's.
              record(answer.statusCode ?? 502, Buffer.concat(parts).toString('utf8'));
              if (f.status === 0) {
                req.socket.destroy();
                return;
              }
              res.writeHead(f.status, { 'content-type': 'application/json' });
              res.end(JSON.stringify(f.body));
            });
          },
        );
        up.on('error', () => req.socket.destroy());
        up.end(Buffer.concat(chunks));
        return;
      }
      if (f && matches) {
        injected++;
        if (f.status === 0) {
          record(0, '');
          req.socket.destroy();
          return;
        }
        const text = JSON.stringify(f.body);
        record(f.status, text);
        res.writeHead(f.status, { 'content-type': 'application/json' });
        res.end(text);
        return;
      }
      const up = http.request(
        `${target}${req.url ?? '/'}`,
        { method: req.method, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          const parts: Buffer[] = [];
          answer.on('data', (d: Buffer) => parts.push(d));
          answer.on('end', () => record(answer.statusCode ?? 502, Buffer.concat(parts).toString('utf8')));
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
    exchanges: () => [...recorded],
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}
