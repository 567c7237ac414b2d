/**
 * Single-flight memo table: the first script that asks for a LID computes it; scripts asking
 * for it meanwhile wait; when it is published they all get a hit. If the owner fails (raises,
 * is killed, disconnects) the next waiter becomes the owner.
 */
import type { LookupReply } from '../trace/types';
import type { ResultStore } from './store';

export interface Asker {
  readonly id: number;
  reply(requestId: number, r: LookupReply): void;
  /**
   * Told when it starts (true) and stops (false) waiting for another script's result, so the
   * scheduler can lend its core to the next script meanwhile. Waits on a Rust kernel are not
   * reported: the kernel uses the cores itself.
   */
  waiting?(on: boolean): void;
}

interface Waiter {
  asker: Asker;
  requestId: number;
  /** waiting(true) was sent */
  told: boolean;
}

interface Flight {
  owner: Asker | 'kernel';
  waiters: Waiter[];
}

function tell(w: Waiter, on: boolean): void {
  if (w.told === on) return;
  w.told = on;
  w.asker.waiting?.(on);
}

export class MemoTable {
  private flights = new Map<string, Flight>();
  hits = 0;
  waits = 0;

  constructor(private readonly store: ResultStore) {}

  /** Answer now (hit / compute) or hold the request until the LID resolves. */
  lookup(asker: Asker, requestId: number, lid: string): void {
    const stored = this.store.get(lid);
    if (stored) {
      this.hits++;
      asker.reply(requestId, { status: 'hit', path: stored.path, format: stored.format, bytes: stored.bytes, lid });
      return;
    }
    const f = this.flights.get(lid);
    if (f) {
      this.waits++;
      const w = { asker, requestId, told: false };
      f.waiters.push(w);
      if (f.owner !== 'kernel') tell(w, true);
      return;
    }
    this.flights.set(lid, { owner: asker, waiters: [] });
    asker.reply(requestId, { status: 'compute', lid });
  }

  /** The coordinator itself computes lid (a Rust kernel); askers wait for it. */
  claimForKernel(lid: string, asker: Asker, requestId: number): boolean {
    if (this.store.get(lid) || this.flights.has(lid)) return false;
    this.flights.set(lid, { owner: 'kernel', waiters: [{ asker, requestId, told: false }] });
    return true;
  }

  isInFlight(lid: string): boolean {
    return this.flights.has(lid);
  }

  published(lid: string): void {
    const f = this.flights.get(lid);
    this.flights.delete(lid);
    const stored = this.store.get(lid);
    if (!f) return;
    for (const w of f.waiters) {
      tell(w, false);
      if (stored) {
        this.hits++;
        w.asker.reply(w.requestId, { status: 'hit', path: stored.path, format: stored.format, bytes: stored.bytes, lid });
      } else {
        w.asker.reply(w.requestId, { status: 'local', lid, reason: 'result was evicted' });
      }
    }
  }

  /** The owner will not publish: hand the computation to the next waiter. */
  abandoned(lid: string, by: Asker | 'kernel'): void {
    const f = this.flights.get(lid);
    if (!f || f.owner !== by) return;
    const next = f.waiters.shift();
    if (!next) {
      this.flights.delete(lid);
      return;
    }
    tell(next, false);
    f.owner = next.asker;
    for (const w of f.waiters) tell(w, true);
    next.asker.reply(next.requestId, { status: 'compute', lid });
  }

  /** An asker went away: give up what it owned, forget what it waited for. */
  disconnected(asker: Asker): void {
    for (const [lid, f] of [...this.flights]) {
      for (const w of f.waiters) if (w.asker === asker) tell(w, false);
      f.waiters = f.waiters.filter((w) => w.asker !== asker);
      if (f.owner === asker) this.abandoned(lid, asker);
    }
  }

  get inFlight(): number {
    return this.flights.size;
  }
}
