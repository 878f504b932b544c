import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * Turns for one address's calls in the federation routes behind Express (every
 * call but the peering-state poll, which the fast route answers before Express):
 * at most `slots` of one address's calls are in them at once; the address's
 * next calls wait in arrival order, and each is let in on a later turn of the
 * event loop, once one of the address's own calls has been answered.
 *
 * Why: Node handles, in one turn of its event loop, every connection that has
 * a request ready. A client with 32 connections whose calls the per-IP limit
 * still lets through (its burst) put 32 full-cost calls (body parsing, schema
 * errors, descriptors, signature checks) into the turn a partner's call
 * arrived in, and the partner's call waited for all of them: the flood's first
 * moments were its slowest requests (docs/performance-decisions.md, issue 13).
 * With turns, one address holds at most `slots` calls' work per turn, and
 * every other address's calls are read and answered in between. Nothing is
 * refused or reordered within an address; a call whose client went away while
 * it waited is dropped and its turn passed on. The per-IP limit still decides
 * first: a refused call never waits for a turn.
 */
export class AddressTurns {
  private readonly byAddress = new Map<string, Queue>();

  constructor(private readonly slots: number) {
    if (!Number.isInteger(slots) || slots < 1)
      throw new Error(`slots must be a positive integer, got ${slots}`);
  }

  /**
   * Calls `go` now when the address has a free slot, else when one frees. The
   * slot is held until `res` closes (answered or its connection gone). A
   * request that already holds a turn (routed through a second router of the
   * federation listener) goes on at once: it never waits for itself.
   */
  enter(address: string, req: IncomingMessage, res: ServerResponse, go: () => void): void {
    const held = req as Holder;
    if (held[HOLDS_TURN]) {
      go();
      return;
    }
    let q = this.byAddress.get(address);
    if (!q) {
      q = { running: 0, waiting: [] };
      this.byAddress.set(address, q);
    }
    const call: Waiting = { req: held, res, go };
    if (q.running < this.slots) {
      q.running += 1;
      this.begin(address, q, call);
    } else q.waiting.push(call);
  }

  /** Calls of the address holding a slot and waiting for one (tests, diagnostics). */
  stateOf(address: string): { running: number; waiting: number } {
    const q = this.byAddress.get(address);
    return { running: q?.running ?? 0, waiting: q?.waiting.length ?? 0 };
  }

  private begin(address: string, q: Queue, call: Waiting): void {
    // Its client went away while it waited: nothing to answer, the slot goes to the next.
    if (call.res.destroyed || call.res.writableEnded) {
      this.release(address, q);
      return;
    }
    call.req[HOLDS_TURN] = true;
    call.res.once('close', () => this.release(address, q));
    call.go();
  }

  private release(address: string, q: Queue): void {
    const next = q.waiting.shift();
    if (!next) {
      q.running -= 1;
      if (q.running === 0 && this.byAddress.get(address) === q) this.byAddress.delete(address);
      return;
    }
    // The slot passes to the next call in line, on a later turn: other connections' requests are read first.
    setImmediate(() => this.begin(address, q, next));
  }
}

/** Calls of one address in the Express routes (each holds a slot until its response closes) and those waiting. */
interface Queue {
  running: number;
  waiting: Waiting[];
}

interface Waiting {
  req: Holder;
  res: ServerResponse;
  go: () => void;
}

const HOLDS_TURN = Symbol('uuru-fed.holds-address-turn');
type Holder = IncomingMessage & { [HOLDS_TURN]?: true };
