// Who holds which counter slot when workers serve traffic. The control plane allocates a slot for each upstream;
// a slot is reused only once the control plane and every worker that opened an upstream on it have closed it (a
// worker that dies lets go of all of its slots), so a late release never lands on another upstream's counters.
import { TallyError } from '../errors.ts';
import type { Tally, TallyBoard, TallySource } from '../upstream/tally.ts';

/** The control plane's side. */
export class SharedTallies implements TallySource {
  readonly board: TallyBoard;
  /** per slot: the workers (writer index) that may still write there, and whether the control plane closed it */
  readonly #holders = new Map<number, { workers: Set<number>; closed: boolean }>();
  readonly #live: () => Iterable<number>;

  constructor(board: TallyBoard, live: () => Iterable<number>) {
    this.board = board;
    this.#live = live;
  }

  tallyFor(): Tally {
    const slot = this.board.allocate();
    this.#holders.set(slot, { workers: new Set(this.#live()), closed: false });
    return this.board.tally(slot);
  }

  matches(): boolean {
    return true;
  }

  released(tally: Tally): void {
    tally.retire();
    const h = this.#holders.get(tally.slot);
    if (h === undefined) return;
    h.closed = true;
    this.#maybeFree(tally.slot);
  }

  /** A worker synced with these slots current: it will open upstreams on them. */
  holding(writer: number, slots: Iterable<number>): void {
    for (const slot of slots) this.#holders.get(slot)?.workers.add(writer);
  }

  /** A worker closed its upstream on `slot`. */
  workerReleased(writer: number, slot: number): void {
    this.#holders.get(slot)?.workers.delete(writer);
    this.#maybeFree(slot);
  }

  /** A worker died: its requests are no longer in flight, and it holds nothing. */
  workerGone(writer: number): void {
    this.board.forgetWriter(writer, this.#holders.keys());
    for (const [slot, h] of this.#holders) {
      h.workers.delete(writer);
      this.#maybeFree(slot);
    }
  }

  #maybeFree(slot: number): void {
    const h = this.#holders.get(slot)!;
    if (!h.closed || h.workers.size > 0) return;
    this.#holders.delete(slot);
    this.board.free(slot);
  }
}

/** A worker thread's side: the slots come with every snapshot; closing an upstream is reported back. */
export class MappedTallies implements TallySource {
  readonly #board: TallyBoard;
  #slots = new Map<string, number>();
  readonly #released: (slot: number) => void;

  constructor(board: TallyBoard, released: (slot: number) => void) {
    this.#board = board;
    this.#released = released;
  }

  /** The control plane's slot of every upstream it has now. */
  setSlots(slots: [string, number][]): void {
    this.#slots = new Map(slots);
  }

  tallyFor(upstreamId: string): Tally {
    const slot = this.#slots.get(upstreamId);
    if (slot === undefined) throw new TallyError(`the control plane has no counters for upstream ${upstreamId}`);
    return this.#board.tally(slot);
  }

  matches(u: { id: string; tally: Tally }): boolean {
    const slot = this.#slots.get(u.id);
    return slot === undefined || slot === u.tally.slot;
  }

  released(tally: Tally): void {
    tally.retire();
    this.#released(tally.slot);
  }
}
