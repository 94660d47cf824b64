// `baton deploy|rollback|scale` following the operation it started: GET /api/deploys/{id} every 250 ms (the
// record's steps, and its `live` field while it runs) until it ends, shown by a view — plain timestamped lines
// (CI logs, `--plain`, stdout not a TTY) or the live task list of progress-tty.ts. The outcome is always the one
// read from the final record. Ctrl-C stops following (the deploy goes on in baton) with EXIT_INTERRUPTED.
import type { DeployRecord, DeployStep, LiveProgress } from '../deploy/journal.ts';
import { call, type AdminTarget } from './admin-client.ts';
import { EXIT_FAILURE, EXIT_OK, type Io } from './io.ts';
import { formatDuration, outcomeLine, percent, stepLine } from './output.ts';
import { catchInterrupt, EXIT_INTERRUPTED, pause } from './term.ts';

/** How often a running deploy/rollback/scale is asked for its new steps. */
export const POLL_INTERVAL_MS = 250;
/** The states in which the CLI stops following an operation (`paused` waits for a person). */
const FINAL_STATES: ReadonlySet<string> = new Set(['succeeded', 'failed', 'rolled_back', 'paused']);
/** How many container names a step's title shows before "+N more". */
const NAMES_SHOWN = 3;

/** What the follower tells a view. */
export interface OperationView {
  /** each answer of GET /api/deploys/{id}, final one included */
  update(record: DeployRecord): void;
  /** the operation ended (`record`), or following it stopped (null: interrupted or the admin API failed) */
  end(record: DeployRecord | null): Promise<void>;
}

/** One step of the operation as a view shows it: a started step and the done/failed step that ends it are one
 *  entry; a step that is done or failed without having been started is an entry of its own. */
export interface StepEntry {
  action: string;
  containers: string[];
  /** rolling: the batch running when the step started */
  batch: { n: number; of: number } | null;
  status: DeployStep['status'];
  /** what the step says of itself: the ending step's detail, else the starting one's */
  detail: string | undefined;
  /** when baton recorded its start, and its end (null while it runs) */
  startedAt: string;
  endedAt: string | null;
}

/** Pairs the record's steps into entries, taking only the steps it has not seen yet. */
export class StepTracker {
  readonly entries: StepEntry[] = [];
  #seen = 0;

  /** Takes the steps of `record` not seen yet; returns the entries they opened or ended. */
  update(record: Pick<DeployRecord, 'steps' | 'live'>): StepEntry[] {
    const touched: StepEntry[] = [];
    for (; this.#seen < record.steps.length; this.#seen++) {
      const step = record.steps[this.#seen];
      const open = step.status === 'started' ? undefined : this.#openFor(step);
      if (open !== undefined) {
        open.status = step.status;
        open.endedAt = step.at;
        if (step.detail !== undefined) open.detail = step.detail;
        touched.push(open);
        continue;
      }
      const { action, containers, status, detail } = step;
      const batch = record.live?.batch ?? null;
      const endedAt = status === 'started' ? null : step.at;
      const entry: StepEntry = { action, containers, batch, status, detail, startedAt: step.at, endedAt };
      this.entries.push(entry);
      touched.push(entry);
    }
    return touched;
  }

  /** The running entry the live fields describe: the latest one of the live phase. */
  current(live: LiveProgress | null | undefined): StepEntry | undefined {
    if (!live) return undefined;
    return this.entries.findLast((e) => e.status === 'started' && e.action === live.phase);
  }

  /** The latest running entry of the same action, on the same containers if there is one. */
  #openFor(step: DeployStep): StepEntry | undefined {
    const key = step.containers.join('\n');
    const running = this.entries.filter((e) => e.status === 'started' && e.action === step.action);
    return running.findLast((e) => e.containers.join('\n') === key) ?? running.at(-1);
  }
}

/** What a running phase says of itself: the drain's in-flight count, the monitor window's counts against the
 *  ratio allowed, the time left before the deadline (health gate, monitor window). '' when it says nothing. */
export function liveText(live: LiveProgress, nowMs: number): string {
  const parts: string[] = [];
  if (live.inflight != null) parts.push(`${live.inflight} in flight`);
  if (live.canary) {
    // a canary: both generations side by side
    const side = (name: string, c: { requests: number; failures: number; ratio: number }) =>
      `${name} ${c.requests} requests, ${c.failures} failed (${percent(c.ratio)})`;
    parts.push(`${side('old', live.canary.old)} | ${side(`canary ${live.canary.share}`, live.canary.new)}`);
  } else if (live.requests != null) {
    const failures = live.failures ?? 0;
    const ratio = live.requests > 0 ? [percent(failures / live.requests)] : [];
    const max = live.maxFailureRatio != null ? [`max ${percent(live.maxFailureRatio)}`] : [];
    const counts = live.requests > 0 ? `${live.requests} requests, ${failures} failed` : '0 requests';
    const of = [...ratio, ...max].join('; ');
    parts.push(`${counts}${of ? ` (${of})` : ''}`);
  }
  if (live.deadline != null) {
    const left = Date.parse(live.deadline) - nowMs;
    const secs = Math.max(0, Math.ceil(left / 1000));
    if (Number.isFinite(left)) parts.push(`${secs < 60 ? `${secs} s` : formatDuration(secs * 1000)} left`);
  }
  return parts.join(' · ');
}

/** A step entry's one line: what it does, to which containers, in which batch, then what it says of itself —
 *  while it runs, its live text if it has one (the step's own detail otherwise). */
export function entryTitle(e: Pick<StepEntry, 'action' | 'containers' | 'batch' | 'detail'>, live = ''): string {
  const names = e.containers.length > NAMES_SHOWN ? e.containers.slice(0, NAMES_SHOWN - 1) : e.containers;
  const more = e.containers.length - names.length;
  const who = names.length > 0 ? ` ${names.join(', ')}${more > 0 ? ` +${more} more` : ''}` : '';
  const batch = e.batch !== null && e.batch.of > 1 ? ` (batch ${e.batch.n}/${e.batch.of})` : '';
  const detail = live ? ` · ${live}` : e.detail ? ` — ${e.detail}` : '';
  return `${e.action}${who}${batch}${detail}`;
}

/** How long an entry's step took, from baton's times of its start and its end: ` [1.2 s]`; '' while it runs or for a
 *  step recorded once. */
export function tookText(e: StepEntry): string {
  const ms = e.endedAt === null ? NaN : Date.parse(e.endedAt) - Date.parse(e.startedAt);
  return Number.isFinite(ms) && ms > 0 ? ` [${formatDuration(ms)}]` : '';
}

/** CI logs: the title line, then one line per step as the record gains them (ISO time first). */
export class PlainView implements OperationView {
  readonly #io: Io;
  #printed = 0;

  constructor(io: Io, title: string, id: string) {
    this.#io = io;
    io.out(`${title}: ${id}\n`);
  }

  update(record: DeployRecord): void {
    for (; this.#printed < record.steps.length; this.#printed++) this.#io.out(stepLine(record.steps[this.#printed]));
  }

  async end(): Promise<void> {}
}

/** Follows operation `id` to its end through `view`; prints how it ended and returns the exit code: 0 when it
 *  succeeded, 1 when it failed, rolled back or paused, EXIT_INTERRUPTED on Ctrl-C. */
export async function followOperation(
  target: AdminTarget,
  id: string,
  view: OperationView,
  io: Io,
  startedMs: number,
): Promise<number> {
  const interrupt = catchInterrupt();
  const { signal } = interrupt;
  let record: DeployRecord | null = null;
  try {
    for (;;) {
      const path = `/api/deploys/${encodeURIComponent(id)}`;
      ({ json: record } = await call<DeployRecord>(target, 'GET', path, undefined, { signal }));
      view.update(record);
      if (FINAL_STATES.has(record.state)) break;
      await pause(POLL_INTERVAL_MS, signal);
      if (signal.aborted) throw signal.reason;
    }
  } catch (err) {
    await view.end(null);
    if (!signal.aborted) throw err;
    const state = record === null ? '' : ` (${record.state.replace('_', ' ')})`;
    io.err(`baton: stopped following ${id}${state}; it goes on in baton — \`baton history\` shows how it ends\n`);
    return EXIT_INTERRUPTED;
  } finally {
    interrupt.dispose();
  }
  await view.end(record);
  const outcome = outcomeLine(record, Date.now() - startedMs);
  if (record.state !== 'succeeded') {
    io.err(outcome);
    return EXIT_FAILURE;
  }
  io.out(outcome);
  return EXIT_OK;
}
