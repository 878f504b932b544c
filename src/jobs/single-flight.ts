/**
 * "Run now, or right after the current run": at most one run in flight and at
 * most one queued behind it. Every request that arrives while a run is in
 * flight joins the one queued run, which starts when the current one ends, so
 * a burst of requests costs two runs at most and no request is answered by a
 * run that began before it was made.
 */
export class SingleFlight<T> {
  private inFlight: Promise<T> | null = null;
  private queued: Promise<T> | null = null;

  constructor(
    private readonly run: () => Promise<T>,
    private readonly opts: {
      /**
       * Asked when a queued run is due; false drops it (e.g. the owner is
       * stopping) and its waiters get the result of the run that just ended.
       */
      rerunWhen?: () => boolean;
    } = {},
  ) {}

  /** True while a run is in flight. */
  get busy(): boolean {
    return this.inFlight !== null;
  }

  /**
   * Starts a run now when none is in flight (synchronously: the run's first
   * step happens before this returns); otherwise joins the queued run. The
   * promise rejects when the run does: callers that do not wait must catch.
   */
  trigger(): Promise<T> {
    if (!this.inFlight) return this.launch();
    this.queued ??= this.inFlight.then(
      (value) => this.next({ ok: true, value }),
      (error: unknown) => this.next({ ok: false, error }),
    );
    return this.queued;
  }

  /** Resolves once nothing is in flight or queued. */
  async idle(): Promise<void> {
    for (;;) {
      const pending = this.queued ?? this.inFlight;
      if (!pending) return;
      await pending.catch(() => undefined);
    }
  }

  private next(previous: { ok: true; value: T } | { ok: false; error: unknown }): Promise<T> {
    this.queued = null;
    // Another trigger may have started a run between the end of the last one and this callback.
    if (this.inFlight) return this.inFlight;
    if (this.opts.rerunWhen && !this.opts.rerunWhen()) {
      return previous.ok ? Promise.resolve(previous.value) : Promise.reject(previous.error);
    }
    return this.launch();
  }

  private launch(): Promise<T> {
    let started: Promise<T>;
    try {
      started = this.run();
    } catch (e) {
      started = Promise.reject(e);
    }
    const tracked: Promise<T> = started.finally(() => {
      if (this.inFlight === tracked) this.inFlight = null;
    });
    this.inFlight = tracked;
    return tracked;
  }
}

/**
 * A SingleFlight for an owner that stops (a monitor, a worker): once stopped, a
 * queued run is dropped and stop() waits for the run in flight; start() lets
 * queued runs happen again. A trigger while stopped still runs (the owner
 * decides whether to trigger).
 */
export class StoppableFlight<T> {
  private stopped: boolean;
  private readonly flight: SingleFlight<T>;

  constructor(run: () => Promise<T>, opts: { stopped?: boolean } = {}) {
    this.stopped = opts.stopped ?? false;
    this.flight = new SingleFlight(run, { rerunWhen: () => !this.stopped });
  }

  start(): void {
    this.stopped = false;
  }

  /** Drops a queued run and resolves once the run in flight ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.flight.idle();
  }

  /** See SingleFlight.trigger. */
  trigger(): Promise<T> {
    return this.flight.trigger();
  }

  /** Resolves once nothing is in flight or queued. */
  idle(): Promise<void> {
    return this.flight.idle();
  }
}
