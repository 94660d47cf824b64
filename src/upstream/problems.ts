// The route and middleware problems of the desired state in use (refused routes, invalid middlewares): logged
// when they change, not at every provider snapshot (a Docker event reconciles again with the same problems).
import type { Logger } from 'pino';

export class ProblemLog {
  readonly #log: Logger;
  #text = '';

  constructor(log: Logger) {
    this.#log = log;
  }

  /** The problems of the reconcile just made: each logged once when they differ from the last ones. */
  report(problems: string[]): void {
    const text = problems.join('\n');
    if (text === this.#text) return;
    this.#text = text;
    for (const problem of problems) this.#log.warn({ problem }, 'Route refused or middleware invalid');
  }

  /** The problems now. */
  list(): string[] {
    return this.#text === '' ? [] : this.#text.split('\n');
  }
}
