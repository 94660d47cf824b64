// A deploy's record as it goes: every step and state change is written to the journal first, then logged and
// published on the event bus (the admin API's /api/events stream, the dashboard and `baton deploy`'s live
// progress). Between steps, `live` says what the running deploy is doing (batch, health gate deadline, drain
// in-flight, monitor counts): published, kept on the record, journaled only with the next step.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { EventBus } from '../events.ts';
import { TERMINAL_STATES, type DeployRecord, type DeployState, type DeployStep, type Journal } from './journal.ts';
import type { LiveProgress } from './journal.ts';

export type StepStatus = DeployStep['status'];

/** What a new record starts with. */
export type RecordInit = Pick<DeployRecord, 'kind' | 'service' | 'image' | 'generation' | 'settings'>;

/** The request counters of a service's upstreams right now (all threads'). */
export type UpstreamCounts = (service: string) => Iterable<{ id: string; requests: number; failures: number }>;

interface Seen {
  base: number[];
  last: number[];
}

const NO_LIVE: LiveProgress = {
  phase: '',
  batch: null,
  deadline: null,
  inflight: null,
  requests: null,
  failures: null,
  maxFailureRatio: null,
};

export class Progress {
  readonly #journal: Journal;
  readonly #events: EventBus;
  readonly #log: Logger;
  readonly #counts: UpstreamCounts | null;
  /** per running deploy: each upstream of its service seen, its counters when first and last seen */
  readonly #seen = new Map<string, Map<string, Seen>>();

  constructor(journal: Journal, events: EventBus, log: Logger, counts: UpstreamCounts | null = null) {
    this.#journal = journal;
    this.#events = events;
    this.#log = log;
    this.#counts = counts;
  }

  /** A new record, journaled and announced (state `pending`). */
  create(init: RecordInit): DeployRecord {
    const now = new Date().toISOString();
    const rec: DeployRecord = {
      id: `d-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`,
      kind: init.kind,
      service: init.service,
      state: 'pending',
      image: init.image,
      settings: init.settings,
      generation: init.generation,
      createdAt: now,
      updatedAt: now,
      old: [],
      new: [],
      steps: [],
    };
    if (this.#counts !== null) {
      const seen = new Map<string, Seen>();
      for (const u of this.#counts(rec.service)) {
        seen.set(u.id, { base: [u.requests, u.failures], last: [u.requests, u.failures] });
      }
      this.#seen.set(rec.id, seen);
      rec.traffic = { requests: 0, failures: 0 };
    }
    this.save(rec);
    this.#publish(rec, null);
    return rec;
  }

  step(rec: DeployRecord, action: string, containers: string[], status: StepStatus, detail?: string): void {
    const step: DeployStep = { n: rec.steps.length + 1, at: new Date().toISOString(), action, containers, status };
    if (detail !== undefined) step.detail = detail;
    rec.steps.push(step);
    // a new phase: what the last one said of itself (deadline, in-flight, counts) no longer holds
    if (status === 'started') rec.live = { ...NO_LIVE, batch: rec.live?.batch ?? null, phase: action };
    this.#sample(rec);
    this.save(rec);
    this.#log.info({ deploy: rec.id, service: rec.service, action, containers, status, detail }, 'Deploy step');
    this.#publish(rec, step);
  }

  /** What the running deploy is doing now: merged into `rec.live` and published (not journaled). */
  live(rec: DeployRecord, fields: Partial<LiveProgress>): void {
    rec.live = { ...NO_LIVE, ...rec.live, ...fields };
    this.#sample(rec);
    this.#publish(rec, null);
  }

  setState(rec: DeployRecord, state: DeployState): void {
    rec.state = state;
    const ended = TERMINAL_STATES.has(state) || state === 'paused';
    if (ended) {
      rec.finishedAt = new Date().toISOString();
      rec.live = null;
    }
    this.#sample(rec);
    if (TERMINAL_STATES.has(state)) this.#seen.delete(rec.id);
    this.save(rec);
    this.#log.info({ deploy: rec.id, service: rec.service, state, error: rec.error }, 'Deploy state');
    this.#publish(rec, null);
  }

  /** Journals the record as it is now (before the step it prepares runs). */
  save(rec: DeployRecord): void {
    this.#journal.write(rec);
  }

  /** Brings rec.traffic up to date: an upstream first seen during the deploy counts from zero (it is new). */
  #sample(rec: DeployRecord): void {
    const seen = this.#seen.get(rec.id);
    if (seen === undefined || this.#counts === null) return;
    for (const u of this.#counts(rec.service)) {
      const s = seen.get(u.id);
      if (s === undefined) seen.set(u.id, { base: [0, 0], last: [u.requests, u.failures] });
      else s.last = [u.requests, u.failures];
    }
    let requests = 0;
    let failures = 0;
    for (const s of seen.values()) {
      requests += s.last[0] - s.base[0];
      failures += s.last[1] - s.base[1];
    }
    rec.traffic = { requests, failures };
  }

  #publish(rec: DeployRecord, step: DeployStep | null): void {
    const { id, kind, service, state, createdAt } = rec;
    const finishedAt = rec.finishedAt ?? null;
    const live = rec.live ?? null;
    const traffic = rec.traffic ?? null;
    const event = { id, kind, service, state, step, error: rec.error ?? null, live, traffic, createdAt, finishedAt };
    this.#events.publish('deploy', event);
  }
}
