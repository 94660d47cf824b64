// Load-balancer choice: pure functions over a list and a cursor. Only upstreams the caller deems eligible
// (healthy, not already tried) are candidates. Each returns the chosen index or -1.

export interface Candidate {
  readonly inflight: number;
}

export type Eligible<T> = (c: T) => boolean;

/** First eligible candidate at or after `cursor`, wrapping around. */
export function pickRoundRobin<T extends Candidate>(list: readonly T[], cursor: number, eligible: Eligible<T>): number {
  const n = list.length;
  for (let k = 0; k < n; k++) {
    const i = (cursor + k) % n;
    if (eligible(list[i])) return i;
  }
  return -1;
}

/** Eligible candidate with the fewest requests in flight; ties go to the first one at or after `cursor`, so
 *  equal load still rotates. */
export function pickLeastConnections<T extends Candidate>(
  list: readonly T[],
  cursor: number,
  eligible: Eligible<T>,
): number {
  const n = list.length;
  let best = -1;
  let bestLoad = Infinity;
  for (let k = 0; k < n; k++) {
    const i = (cursor + k) % n;
    const c = list[i];
    if (c.inflight < bestLoad && eligible(c)) {
      best = i;
      bestLoad = c.inflight;
    }
  }
  return best;
}
