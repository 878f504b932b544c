import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { isAppError } from '../../core/errors';
import type { Metrics } from '../../core/metrics';

/**
 * Wraps a federation route: counts the request by endpoint and result code
 * (OK or the error code) and hands errors to the error middleware.
 */
export function counted(
  metrics: Metrics,
  endpoint: string,
  fn: (req: Request, res: Response) => Promise<void>,
): RequestHandler {
  // The success counter is bound once: a label lookup per answer otherwise.
  const ok = metrics.federationRequests.labels({ endpoint, code: 'OK' });
  return (req: Request, res: Response, next: NextFunction) => {
    fn(req, res).then(
      () => ok.inc(),
      (e: unknown) => {
        metrics.federationRequests.inc({ endpoint, code: isAppError(e) ? e.code : 'INTERNAL' });
        next(e);
      },
    );
  };
}
