import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { isAppError } from '../../core/errors';
import type { Metrics } from '../../core/metrics';
import { isWarmUpCall } from './warm-up';

/**
 * Wraps a federation route: counts the request by endpoint and result code
 * (OK or the error code) and hands errors to the error middleware. The
 * process's own warm-up calls at start (warm-up.ts) are not counted.
 */
export function counted(
  metrics: Metrics,
  endpoint: string,
  fn: (req: Request, res: Response) => Promise<void>,
): RequestHandler {
  // The success counter is bound once: a label lookup per answer otherwise.
  const ok = metrics.federationRequests.labels({ endpoint, code: 'OK' });
  return (req: Request, res: Response, next: NextFunction) => {
    const count = !isWarmUpCall(req);
    fn(req, res).then(
      () => {
        if (count) ok.inc();
      },
      (e: unknown) => {
        if (count) metrics.federationRequests.inc({ endpoint, code: isAppError(e) ? e.code : 'INTERNAL' });
        next(e);
      },
    );
  };
}
