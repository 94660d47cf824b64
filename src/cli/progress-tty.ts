// `baton deploy|rollback|scale` on a terminal: the operation's steps as a live listr2 task list — a spinner on each
// running step with what it says right now (batch n of m, the health gate's time left, a drain's in-flight count,
// the monitor window's requests, failures and ratio), ✔ or ✖ with its duration once it ends.
//
// listr2 runs a task list fixed when it starts, while a deploy's steps come as it goes: the list is made of
// untitled (so invisible) slots, one per step to come, each waiting for its step, in pages of PAGE_SIZE; the last
// task of a page is the next page, filled in once a step reaches it. An untitled task's subtasks render at its own
// level, so the pages read as one flat list.
import {
  Listr,
  type ListrDefaultRenderer,
  type ListrSimpleRenderer,
  type ListrTask,
  type ListrTaskWrapper,
} from 'listr2';
import type { DeployRecord, LiveProgress } from '../deploy/journal.ts';
import type { Io } from './io.ts';
import { entryTitle, liveText, StepTracker, tookText, type OperationView, type StepEntry } from './progress.ts';

type Task = ListrTask<unknown, ListrDefaultRenderer, ListrSimpleRenderer>;
type Wrapper = ListrTaskWrapper<unknown, ListrDefaultRenderer, ListrSimpleRenderer>;

/** Slots per page of the task list. */
const PAGE_SIZE = 16;
/** How often the running step's line is redrawn (its countdown). */
const REDRAW_MS = 250;

export class TtyView implements OperationView {
  readonly #tracker = new StepTracker();
  #live: LiveProgress | null = null;
  #ended = false;
  /** slots waiting for their entry, by entry index */
  readonly #waiting = new Map<number, (entry: StepEntry | null) => void>();
  /** entries shown as running, with their slot's task and what ends the slot's wait */
  readonly #running = new Map<StepEntry, { task: Wrapper; settle: () => void }>();
  readonly #redraw: NodeJS.Timeout;
  readonly #run: Promise<unknown>;

  constructor(io: Io, title: string, id: string) {
    io.out(`${title}: ${id}\n`);
    const listr = new Listr<unknown, 'default', 'simple'>([this.#page(0)], {
      concurrent: true,
      exitOnError: false,
      // Ctrl-C is the follower's (it stops following, the deploy goes on); listr2's own handler would exit(127)
      registerSignalListeners: false,
      renderer: 'default',
      // a step's duration is baton's (tookText), not listr2's timer: every slot task starts when the list does
      rendererOptions: { collapseSubtasks: false, collapseErrors: false, formatOutput: 'truncate' },
      fallbackRendererCondition: false,
      silentRendererCondition: false,
    });
    this.#run = listr.run().catch(() => {});
    this.#redraw = setInterval(() => this.#draw(), REDRAW_MS);
  }

  update(record: DeployRecord): void {
    if (this.#ended) return;
    this.#live = record.live ?? null;
    for (const entry of this.#tracker.update(record)) {
      if (entry.status !== 'started') this.#running.get(entry)?.settle();
    }
    for (const [i, wake] of this.#waiting) {
      if (i < this.#tracker.entries.length) {
        this.#waiting.delete(i);
        wake(this.#tracker.entries[i]);
      }
    }
    this.#draw();
  }

  async end(record: DeployRecord | null): Promise<void> {
    if (record !== null) this.update(record);
    this.#ended = true;
    clearInterval(this.#redraw);
    for (const wake of this.#waiting.values()) wake(null);
    this.#waiting.clear();
    for (const { settle } of this.#running.values()) settle();
    await this.#run;
  }

  /** Page `p`: its slots and the next page, once entry p × PAGE_SIZE exists (right away for the first). */
  #page(p: number): Task {
    return {
      task: async (_ctx, task) => {
        if (p > 0 && (await this.#entry(p * PAGE_SIZE)) === null) return;
        const slots = Array.from({ length: PAGE_SIZE }, (_, k) => this.#slot(p * PAGE_SIZE + k));
        return task.newListr([...slots, this.#page(p + 1)], { concurrent: true, exitOnError: false });
      },
    };
  }

  /** Slot `i`: invisible until entry i exists, then its line until the step ends. */
  #slot(i: number): Task {
    return {
      task: async (_ctx, task) => {
        const entry = await this.#entry(i);
        if (entry === null) return;
        task.title = this.#title(entry);
        if (entry.status === 'started' && !this.#ended) {
          await new Promise<void>((settle) => this.#running.set(entry, { task, settle }));
          this.#running.delete(entry);
        }
        if (entry.status === 'failed') {
          task.title = entryTitle({ ...entry, detail: undefined }) + tookText(entry);
          throw new Error(entry.detail ?? `${entry.action} failed`);
        }
        task.title = entryTitle(entry) + tookText(entry);
        if (entry.status === 'started') task.skip(`${entryTitle(entry)} (not finished)`);
      },
    };
  }

  #entry(i: number): Promise<StepEntry | null> {
    if (i < this.#tracker.entries.length) return Promise.resolve(this.#tracker.entries[i]);
    if (this.#ended) return Promise.resolve(null);
    return new Promise((resolve) => this.#waiting.set(i, resolve));
  }

  #title(entry: StepEntry): string {
    const current = this.#tracker.current(this.#live) === entry;
    return entryTitle(entry, current && this.#live !== null ? liveText(this.#live, Date.now()) : '');
  }

  #draw(): void {
    for (const [entry, { task }] of this.#running) {
      const title = this.#title(entry);
      if (task.title !== title) task.title = title;
    }
  }
}
