// The upstream state machine, pure: given the current state, the health counters and an event, the next state.
//
//   starting ──rise ok──▶ healthy ──fall failures──▶ unhealthy ──rise ok──▶ healthy
//      │                     │  ▲                                  │
//      └──fall failures──▶ unhealthy ◀──passive ejection─┘  └─cooldown over─ (back to healthy)
//   any ──drain──▶ draining ──in-flight 0 or timeout──▶ drained ──enable──▶ starting (or healthy without checks)

export type UpstreamState = 'starting' | 'healthy' | 'unhealthy' | 'draining' | 'drained';

export interface HealthCounters {
  /** consecutive successful probes */
  successes: number;
  /** consecutive failed probes */
  failures: number;
}

export type UpstreamEvent =
  | { type: 'probe'; ok: boolean; rise: number; fall: number }
  | { type: 'eject' }
  | { type: 'cooldown-over' }
  | { type: 'drain' }
  | { type: 'drained' }
  | { type: 'enable'; hasHealthCheck: boolean };

export interface Transition {
  state: UpstreamState;
  counters: HealthCounters;
}

export function transition(state: UpstreamState, counters: HealthCounters, event: UpstreamEvent): Transition {
  switch (event.type) {
    case 'probe': {
      if (state === 'draining' || state === 'drained') return { state, counters };
      const c = event.ok
        ? { successes: counters.successes + 1, failures: 0 }
        : { successes: 0, failures: counters.failures + 1 };
      if (event.ok && state !== 'healthy' && c.successes >= event.rise) return { state: 'healthy', counters: c };
      if (!event.ok && state !== 'unhealthy' && c.failures >= event.fall) return { state: 'unhealthy', counters: c };
      return { state, counters: c };
    }
    case 'eject':
      return state === 'healthy'
        ? { state: 'unhealthy', counters: { successes: 0, failures: counters.failures } }
        : { state, counters };
    case 'cooldown-over':
      return state === 'unhealthy'
        ? { state: 'healthy', counters: { successes: 0, failures: 0 } }
        : { state, counters };
    case 'drain':
      return state === 'drained' ? { state, counters } : { state: 'draining', counters };
    case 'drained':
      return state === 'draining' ? { state: 'drained', counters } : { state, counters };
    case 'enable':
      if (state !== 'draining' && state !== 'drained') return { state, counters };
      return { state: event.hasHealthCheck ? 'starting' : 'healthy', counters: { successes: 0, failures: 0 } };
  }
}
