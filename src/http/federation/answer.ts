import type { Request, RequestHandler, Response } from 'express';
import type { Metrics } from '../../core/metrics';
import type { Answer } from '../../federation/handshake-inbound';
import { counted } from './request-metrics';

/** The status of each outcome of the protocol core, on both surfaces (v2 and µURU's v1). */
const STATUS: Record<Answer['outcome'], number> = { created: 201, ok: 200 };

/** Sends the core's answer: its body as JSON under the outcome's status. */
export function sendAnswer(res: Response, a: Answer): void {
  res.status(STATUS[a.outcome]).json(a.body);
}

/** A counted federation route whose reply is the protocol core's answer to the request. */
export function answered(
  metrics: Metrics,
  endpoint: string,
  fn: (req: Request) => Promise<Answer>,
): RequestHandler {
  return counted(metrics, endpoint, async (req, res) => sendAnswer(res, await fn(req)));
}
