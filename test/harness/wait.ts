import type { EventEmitter } from 'node:events';
import type { ChildProcess } from 'node:child_process';
import { sleep, tailFile } from './processes';

export interface WaitOptions<T> {
  /** What is awaited, for the timeout error ("the peer to turn active"). */
  what: string;
  /** Default 15 s. */
  timeoutMs?: number;
  /** Pause between probes; default 100 ms. */
  intervalMs?: number;
  /**
   * What counts as success. Default: a truthy value (so undefined, null, false, 0 and '' mean "not yet").
   * Pass a predicate when a falsy value is the awaited one.
   */
  until?: (value: T) => boolean;
  /** Checked before each probe; a string return aborts the wait with that reason (a process that died). */
  abort?: () => string | null;
}

function describe(value: unknown): string {
  if (value instanceof Error) return `threw ${value.message}`;
  let text: string;
  try {
    text = typeof value === 'string' ? JSON.stringify(value) : (JSON.stringify(value) ?? String(value));
  } catch {
    text = String(value);
  }
  return `last value ${text.length > 300 ? `${text.slice(0, 300)}…` : text}`;
}

/**
 * The one polling helper of the tests: calls probe until it returns a truthy value (or one `until` accepts)
 * and resolves with it. A throwing probe counts as "not yet". After timeoutMs it throws an error naming
 * `what` and the last value or error seen.
 */
export function waitUntil<T>(
  probe: () => Promise<T> | T,
  opts: WaitOptions<T> & { until: (value: T) => boolean },
): Promise<T>;
export function waitUntil<T>(
  probe: () => Promise<T> | T,
  opts: Omit<WaitOptions<T>, 'until'>,
): Promise<Exclude<T, null | undefined | false | 0 | ''>>;
export async function waitUntil<T>(probe: () => Promise<T> | T, opts: WaitOptions<T>): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const accept = opts.until ?? ((v: T) => Boolean(v));
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    const aborted = opts.abort?.();
    if (aborted) throw new Error(`${opts.what}: ${aborted}`);
    try {
      const v = await probe();
      if (accept(v)) return v;
      last = v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${opts.what} (${describe(last)})`);
    }
    await sleep(opts.intervalMs ?? 100);
  }
}

/**
 * The negative check: probes `happened` over an explicit window of windowMs (every intervalMs, default 100 ms,
 * and once more at its end) and fails as soon as it returns true, naming `what`. A throwing probe fails too.
 */
export async function assertNever(
  happened: () => Promise<boolean> | boolean,
  opts: { what: string; windowMs: number; intervalMs?: number },
): Promise<void> {
  const started = Date.now();
  const end = started + opts.windowMs;
  for (;;) {
    if (await happened()) {
      throw new Error(`${opts.what} happened ${Date.now() - started} ms into a ${opts.windowMs} ms window`);
    }
    const left = end - Date.now();
    if (left <= 0) return;
    await sleep(Math.min(opts.intervalMs ?? 100, left));
  }
}

/** Resolves with the first emit of `event` whose payload passes `match`. */
export function nextEvent<T>(
  emitter: EventEmitter,
  event: string,
  match: (payload: T) => boolean = () => true,
  timeoutMs = 15_000,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const listener = (payload: T) => {
      if (!match(payload)) return;
      clearTimeout(timer);
      emitter.off(event, listener);
      resolve(payload);
    };
    const timer = setTimeout(() => {
      emitter.off(event, listener);
      reject(new Error(`no ${event} event within ${timeoutMs} ms`));
    }, timeoutMs);
    emitter.on(event, listener);
  });
}

/**
 * Waits until a database server this harness spawned answers `SELECT 1`
 * (stopping early with its log when the process exited), and stops it when
 * it never does. Resolves with the server.
 */
export async function whenAnswering<T extends { stop(): Promise<void> }>(
  server: T,
  opts: { what: string; query: () => Promise<unknown>; child: ChildProcess; logFile: string },
): Promise<T> {
  try {
    await waitUntil(async () => (await opts.query(), true), {
      what: `${opts.what} start`,
      timeoutMs: 60_000,
      intervalMs: 200,
      abort: () =>
        opts.child.exitCode !== null
          ? `${opts.what} exited (${opts.child.exitCode}):\n${tailFile(opts.logFile)}`
          : null,
    });
  } catch (e) {
    await server.stop();
    throw e;
  }
  return server;
}
