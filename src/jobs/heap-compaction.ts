import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Changes in one reconcile run from which its garbage is worth a full collection right after it. */
export const COMPACT_AFTER_CHANGES = 200;
/** How long after such a run, ms: out of the run's way, while the process is otherwise idle. */
export const COMPACT_DELAY_MS = 500;

/**
 * V8's full collection with compaction, or null where it cannot be had. The
 * `gc` function exists only with --expose-gc, which `npm start`, the image
 * and the test harnesses do not pass; set at run time, the flag gives it to a
 * context made after it (a vm context here), not to the main one, so nothing
 * else in the process sees a `gc` global.
 */
function fullCollection(): (() => void) | null {
  try {
    setFlagsFromString('--expose-gc');
    const gc: unknown = runInNewContext('typeof gc === "function" ? gc : null');
    return typeof gc === 'function' ? (gc as () => void) : null;
  } catch {
    return null;
  }
}

/**
 * Gives a large burst's garbage back at once. A reconcile over 1,000 peers
 * (start-up, a full run) allocates some tens of MB that are garbage as soon
 * as it ends; V8 keeps the pages they took until its memory reducer runs
 * (about 8 s later, and only while the process allocates little; the peer
 * monitor's polls keep it allocating) and RSS stays up meanwhile. One full
 * collection half a second after such a run frees them (docs/performance.md,
 * Decisions: RSS with 1,000 peers). Only after a run that changed many
 * peers, or the first large run of the process: a lone accept never pays a
 * collection. Debounced: a run that follows within the delay moves it.
 */
export class HeapCompaction {
  private timer: NodeJS.Timeout | null = null;
  private readonly collect: (() => void) | null;
  private firstRunSeen = false;
  /** Collections done (tests). */
  done = 0;

  constructor(collect: (() => void) | null = fullCollection()) {
    this.collect = collect;
  }

  /** After a run: `changes` it wrote, `peers` it covered. */
  afterRun(changes: number, peers: number): void {
    const first = !this.firstRunSeen;
    this.firstRunSeen = true;
    if (!this.collect) return;
    if (changes < COMPACT_AFTER_CHANGES && !(first && peers >= COMPACT_AFTER_CHANGES)) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.collect?.();
      this.done += 1;
    }, COMPACT_DELAY_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
