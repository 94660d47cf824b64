// Smooth weighted round-robin (nginx's): each pick adds every candidate's weight to its running score, takes the
// highest score and subtracts the total from it. Picks spread evenly (weights 5,1,1 → a a b a c a a), with no
// randomness and no per-pick allocation. Used by weighted services (Traefik's `weighted`) to choose a child.

/**
 * One pick over `weights` with the running `scores` (mutated; as long as `weights`, start at zeros). Candidates
 * whose bit is set in `skip` take no part (bit i: candidate i). Returns the index, or -1 if every one is skipped.
 */
export function smoothWeightedPick(weights: readonly number[], scores: number[], skip = 0): number {
  let best = -1;
  let total = 0;
  for (let i = 0; i < weights.length; i++) {
    if ((skip & (1 << i)) !== 0) continue;
    scores[i] += weights[i];
    total += weights[i];
    if (best === -1 || scores[i] > scores[best]) best = i;
  }
  if (best !== -1) scores[best] -= total;
  return best;
}

/** The running state of one weighted service: its children's weights and scores. */
export class WeightedPicker {
  readonly names: readonly string[];
  readonly #weights: readonly number[];
  readonly #scores: number[];
  /** the config list this picker was built from (rebuilt when the service's options change) */
  readonly source: readonly { service: string; weight: number }[];

  constructor(list: readonly { service: string; weight: number }[]) {
    this.source = list;
    this.names = list.map((w) => w.service);
    this.#weights = list.map((w) => w.weight);
    this.#scores = list.map(() => 0);
  }

  next(skip = 0): number {
    return smoothWeightedPick(this.#weights, this.#scores, skip);
  }

  indexOf(name: string): number {
    return this.names.indexOf(name);
  }
}
