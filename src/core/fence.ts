import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * The fencing token of a leased job run (replicas, issue 16). The job runner
 * (src/jobs) runs a cluster job's period inside the fence of the lease it won;
 * every store transaction that run opens first checks, in that transaction,
 * that the lease row still holds the token (src/store/typeorm/transactions.ts),
 * and is refused with FencedOut when another replica took the lease over
 * meanwhile (this replica was paused past its lease: a long GC, SIGSTOP, a
 * stalled network). The check writes the lease row, so on a Galera cluster it
 * also conflicts at certification with a takeover made through another node.
 */
export interface Fence {
  /** The lease row's name (`job_leases.name`: the job's name). */
  readonly lease: string;
  /** The token the lease had when this replica won it. */
  readonly token: number;
}

const current = new AsyncLocalStorage<{ fence: Fence; live: boolean }>();

/**
 * Runs `fn` inside `fence`. Work `fn` starts lives on in its async context
 * (a worker kicked after a commit, a timer armed during the run), so the
 * fence counts only until `fn` settled: later writes of that work are not
 * the run's and are not checked.
 */
export async function runFenced<T>(fence: Fence, fn: () => Promise<T>): Promise<T> {
  const scope = { fence, live: true };
  try {
    return await current.run(scope, fn);
  } finally {
    scope.live = false;
  }
}

/** The fence of the leased run the caller is part of while that run is under way, if any. */
export function currentFence(): Fence | undefined {
  const scope = current.getStore();
  return scope?.live ? scope.fence : undefined;
}

/** A write refused because the lease it was made under has passed to another replica (a higher token). */
export class FencedOut extends Error {
  constructor(readonly fence: Fence) {
    super(`lease ${fence.lease} moved past token ${fence.token}: a stale holder's write is refused`);
    this.name = 'FencedOut';
  }
}
