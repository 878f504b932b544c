import { exponentialBackoff } from '../jobs/backoff';

/** At most one descriptor fetch per origin in this window, however many requests ask. */
export const REFETCH_MIN_INTERVAL_MS = 30 * 1000;
/** Failed fetches back off exponentially from REFETCH_MIN_INTERVAL_MS up to this. */
export const REFETCH_MAX_BACKOFF_MS = 60 * 60 * 1000;

/** The wait after the n-th failed fetch in a row. No jitter: it paces fetches from one origin, it does not spread clients apart. */
export function refetchBackoffMs(failures: number): number {
  return exponentialBackoff(failures - 1, {
    initialMs: REFETCH_MIN_INTERVAL_MS,
    maxMs: REFETCH_MAX_BACKOFF_MS,
  });
}
