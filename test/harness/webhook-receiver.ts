/**
 * A real HTTP receiver for the sidecar's notifications (docs/operations.md,
 * Notifications): a node http server that checks every POST's signature as a
 * receiver following the docs does (over the raw body bytes, against its own
 * clock) and keeps the notifications whose signature holds. Posts with a bad
 * signature are answered 401 and counted apart. It can be created on a port
 * before it listens, so a test can show a receiver that is down at first.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { NotificationPayload } from '../../src/notify/notifier';
import { SIGNATURE_HEADER, verifyWebhookSignature } from '../../src/notify/webhook-signature';
import { freePort } from './ports';

export interface WebhookReceiver {
  url: string;
  port: number;
  /** Notifications whose signature held, in arrival order (repeats of an id kept: tests count them). */
  received: NotificationPayload[];
  /** Posts refused for their signature. */
  refused: { reason: string; headers: http.IncomingHttpHeaders }[];
  /** Answer this status instead of 204 to the next posts (a receiver that fails). */
  failWith: number | null;
  listen(): Promise<void>;
  close(): Promise<void>;
}

export async function createWebhookReceiver(opts: {
  secret: string;
  /** The receiver's clock in seconds (the sidecar's injected clock when a test moves it). */
  nowSeconds?: () => number;
  /** Listen at once (default true). */
  listen?: boolean;
}): Promise<WebhookReceiver> {
  const port = await freePort();
  const nowSeconds = opts.nowSeconds ?? (() => Math.floor(Date.now() / 1000));
  let server: http.Server | null = null;
  const r: WebhookReceiver = {
    url: `http://127.0.0.1:${port}/hooks/uuru?token=in-the-url`,
    port,
    received: [],
    refused: [],
    failWith: null,
    async listen() {
      const s = http.createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const raw = Buffer.concat(chunks).toString('utf8');
          const header = req.headers[SIGNATURE_HEADER.toLowerCase()];
          const check = verifyWebhookSignature(
            opts.secret,
            Array.isArray(header) ? header[0] : header,
            raw,
            nowSeconds(),
          );
          if (req.method !== 'POST' || check !== 'ok') {
            r.refused.push({
              reason: req.method !== 'POST' ? `method ${req.method}` : check,
              headers: req.headers,
            });
            res.writeHead(401).end();
            return;
          }
          if (r.failWith !== null) {
            res.writeHead(r.failWith).end();
            return;
          }
          r.received.push(JSON.parse(raw) as NotificationPayload);
          res.writeHead(204).end();
        });
      });
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(port, '127.0.0.1', () => resolve());
      });
      server = s;
      expectPort(s, port);
    },
    async close() {
      const s = server;
      server = null;
      if (!s) return;
      await new Promise<void>((resolve) => {
        s.close(() => resolve());
        s.closeAllConnections();
      });
    },
  };
  if (opts.listen !== false) await r.listen();
  return r;
}

function expectPort(s: http.Server, port: number): void {
  const addr = s.address() as AddressInfo;
  if (addr.port !== port) throw new Error(`receiver listens on ${addr.port}, not ${port}`);
}
