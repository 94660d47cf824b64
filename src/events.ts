// One event bus per App: upstream state changes (published by the registry) and deploy progress (published by
// the deployer), consumed by the admin API's /api/events stream.
import { EventEmitter } from 'node:events';

/** Event types on the bus; each is one SSE `event:` name on /api/events. */
export type BatonEventType = 'upstream' | 'deploy' | 'config' | 'service';

export type BatonEventListener = (type: BatonEventType, data: object) => void;

export class EventBus {
  readonly #emitter = new EventEmitter();

  publish(type: BatonEventType, data: object): void {
    this.#emitter.emit('event', type, data);
  }

  /** Calls `listener` for every event until the returned function is called. */
  subscribe(listener: BatonEventListener): () => void {
    this.#emitter.on('event', listener);
    return () => this.#emitter.off('event', listener);
  }

  get listeners(): number {
    return this.#emitter.listenerCount('event');
  }
}
