import { COMPACT_AFTER_CHANGES, COMPACT_DELAY_MS, HeapCompaction } from '../../src/jobs/heap-compaction';

describe('heap compaction after a large reconcile run', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('collects once, the delay after a run that changed many peers, and a run within the delay moves it', () => {
    let collections = 0;
    const c = new HeapCompaction(() => (collections += 1));
    c.afterRun(0, 0); // the first run, a small one
    c.afterRun(COMPACT_AFTER_CHANGES, COMPACT_AFTER_CHANGES);
    jest.advanceTimersByTime(COMPACT_DELAY_MS - 1);
    c.afterRun(COMPACT_AFTER_CHANGES + 1, COMPACT_AFTER_CHANGES + 1);
    jest.advanceTimersByTime(COMPACT_DELAY_MS - 1);
    expect(collections).toBe(0);
    jest.advanceTimersByTime(1);
    expect(collections).toBe(1);
    expect(c.done).toBe(1);
  });

  it('a lone accept (a small run) never pays a collection; the first large run of the process does, even unchanged', () => {
    let collections = 0;
    const c = new HeapCompaction(() => (collections += 1));
    c.afterRun(0, 1000); // start-up: the files already matched, 1,000 peers built and verified
    jest.advanceTimersByTime(COMPACT_DELAY_MS);
    expect(collections).toBe(1);
    c.afterRun(1, 1001);
    c.afterRun(0, 1001);
    jest.advanceTimersByTime(10 * COMPACT_DELAY_MS);
    expect(collections).toBe(1);
  });

  it('stop drops a pending collection', () => {
    let collections = 0;
    const c = new HeapCompaction(() => (collections += 1));
    c.afterRun(5000, 5000);
    c.stop();
    jest.advanceTimersByTime(10 * COMPACT_DELAY_MS);
    expect(collections).toBe(0);
  });

  it("gets V8's full collection without --expose-gc on the command line, and no gc global appears", () => {
    jest.useRealTimers();
    const c = new HeapCompaction();
    // In one in-band run an earlier file may already have set V8's flag, and a context made after that (each
    // test file's) then has gc of its own; what this class must not do is add one where there was none.
    const before = typeof (globalThis as { gc?: unknown }).gc;
    c.afterRun(COMPACT_AFTER_CHANGES, COMPACT_AFTER_CHANGES);
    return new Promise<void>((resolve) =>
      setTimeout(() => {
        expect(c.done).toBe(1);
        expect(typeof (globalThis as { gc?: unknown }).gc).toBe(before);
        resolve();
      }, COMPACT_DELAY_MS + 200),
    );
  });
});
