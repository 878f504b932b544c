import http from 'node:http';

/**
 * A minimal keep-alive HTTP/1.1 client for load on loopback. node:http rather
 * than fetch, so a source address (127.0.0.2 for a flooder) can be bound and
 * the client itself costs little CPU next to the server it measures.
 */
export interface LoopbackRequest {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: Buffer;
}

export interface LoopbackResponse {
  status: number;
  /** Time from sending to the last byte of the response, ms. */
  ms: number;
  body: string;
}

export class LoopbackClient {
  private readonly agent: http.Agent;
  private readonly url: URL;

  constructor(baseUrl: string, opts: { localAddress?: string; maxSockets?: number } = {}) {
    this.url = new URL(baseUrl);
    this.agent = new http.Agent({
      keepAlive: true,
      maxSockets: opts.maxSockets ?? 64,
      localAddress: opts.localAddress,
    });
  }

  request(r: LoopbackRequest, timeoutMs = 30_000): Promise<LoopbackResponse> {
    return new Promise((resolve, reject) => {
      const t0 = performance.now();
      const headers: Record<string, string | number> = { ...(r.headers ?? {}) };
      if (r.body) headers['content-length'] = r.body.length;
      const req = http.request(
        {
          host: this.url.hostname,
          port: this.url.port,
          method: r.method,
          path: r.path,
          headers,
          agent: this.agent,
          timeout: timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              ms: performance.now() - t0,
              body: Buffer.concat(chunks).toString('utf8'),
            }),
          );
          res.on('error', reject);
        },
      );
      req.on('timeout', () =>
        req.destroy(new Error(`${r.method} ${r.path}: no answer within ${timeoutMs} ms`)),
      );
      req.on('error', reject);
      if (r.body) req.write(r.body);
      req.end();
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** Outcome of a load run: latencies of every answered request and counts by status. */
export interface LoadOutcome {
  latencies: number[];
  /** For openLoop: when each latency's request was sent, ms after the start (same order as latencies). */
  sentAtMs: number[];
  statuses: Record<string, number>;
  errors: number;
  firstError: string | null;
  elapsedMs: number;
}

function tally(out: LoadOutcome, res: LoopbackResponse): void {
  out.latencies.push(res.ms);
  out.statuses[String(res.status)] = (out.statuses[String(res.status)] ?? 0) + 1;
}

/** `concurrency` workers send back to back until `count` requests or `maxMs` have passed. */
export async function closedLoop(
  client: LoopbackClient,
  make: (i: number) => LoopbackRequest,
  opts: { concurrency: number; count: number; maxMs: number },
): Promise<LoadOutcome> {
  const out: LoadOutcome = {
    latencies: [],
    sentAtMs: [],
    statuses: {},
    errors: 0,
    firstError: null,
    elapsedMs: 0,
  };
  const t0 = performance.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < opts.count && performance.now() - t0 < opts.maxMs) {
      const i = next++;
      try {
        tally(out, await client.request(make(i)));
      } catch (e) {
        out.errors += 1;
        out.firstError ??= e instanceof Error ? e.message : String(e);
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, worker));
  out.elapsedMs = performance.now() - t0;
  return out;
}

/** Sends at a fixed rate (open loop, so a slow server does not slow the schedule down) for `durationMs`. */
export async function openLoop(
  client: LoopbackClient,
  make: (i: number) => LoopbackRequest,
  opts: { perSecond: number; durationMs: number },
): Promise<LoadOutcome> {
  const out: LoadOutcome = {
    latencies: [],
    sentAtMs: [],
    statuses: {},
    errors: 0,
    firstError: null,
    elapsedMs: 0,
  };
  const total = Math.round((opts.perSecond * opts.durationMs) / 1000);
  const gap = 1000 / opts.perSecond;
  const t0 = performance.now();
  const pending: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = t0 + i * gap;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    pending.push(
      client.request(make(i)).then(
        (res) => {
          tally(out, res);
          out.sentAtMs.push(i * gap);
        },
        (e: unknown) => {
          out.errors += 1;
          out.firstError ??= e instanceof Error ? e.message : String(e);
        },
      ),
    );
  }
  await Promise.all(pending);
  out.elapsedMs = performance.now() - t0;
  return out;
}
