// A deploy's record as it goes: every step and state change is written to the journal first, then logged and
// published on the event bus (the admin API's /api/events stream and `baton deploy`'s live progress).
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { EventBus } from '../events.ts';
import { TERMINAL_STATES, type DeployRecord, type DeployState, type DeployStep, type Journal } from './journal.ts';

export type StepStatus = DeployStep['status'];

/** What a new record starts with. */
export type RecordInit = Pick<DeployRecord, 'kind' | 'service' | 'image' | 'generation' | 'settings'>;

export class Progress {
  readonly #journal: Journal;
  readonly #events: EventBus;
  readonly #log: Logger;

  constructor(journal: Journal, events: EventBus, log: Logger) {
    this.#journal = journal;
    this.#events = events;
    this.#log = log;
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
    this.save(rec);
    this.#publish(rec, null);
    return rec;
  }

  step(rec: DeployRecord, action: string, containers: string[], status: StepStatus, detail?: string): void {
    const step: DeployStep = { n: rec.steps.length + 1, at: new Date().toISOString(), action, containers, status };
    if (detail !== undefined) step.detail = detail;
    rec.steps.push(step);
    this.save(rec);
    this.#log.info({ deploy: rec.id, service: rec.service, action, containers, status, detail }, 'Deploy step');
    this.#publish(rec, step);
  }

  setState(rec: DeployRecord, state: DeployState): void {
    rec.state = state;
    if (TERMINAL_STATES.has(state) || state === 'paused') rec.finishedAt = new Date().toISOString();
    this.save(rec);
    this.#log.info({ deploy: rec.id, service: rec.service, state, error: rec.error }, 'Deploy state');
    this.#publish(rec, null);
  }

  /** Journals the record as it is now (before the step it prepares runs). */
  save(rec: DeployRecord): void {
    this.#journal.write(rec);
  }

  #publish(rec: DeployRecord, step: DeployStep | null): void {
    const { id, kind, service, state } = rec;
    this.#events.publish('deploy', { id, kind, service, state, step, error: rec.error ?? null });
  }
}
