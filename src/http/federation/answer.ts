import type { Response } from 'express';
import type { Answer } from '../../federation/handshake-inbound';

/** The status of each outcome of the protocol core, on both surfaces (v2 and µURU's v1). */
const STATUS: Record<Answer['outcome'], number> = { created: 201, ok: 200 };

/** Sends the core's answer: its body as JSON under the outcome's status. */
export function sendAnswer(res: Response, a: Answer): void {
  res.status(STATUS[a.outcome]).json(a.body);
}
