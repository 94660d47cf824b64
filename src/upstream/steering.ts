// Picks for steered services (service.ts calls these): a weighted service chooses a child service by smooth
// weighted round-robin and asks it for an upstream; a service with a traffic split picks among the upstreams of
// one generation. The request-side choice (cookies, the canary header) is src/proxy/steer.ts.
import type { Service } from './service.ts';
import { drawShare, type TrafficSplit } from './split.ts';
import type { Upstream } from './upstream.ts';
import { WeightedPicker } from './weighted.ts';

/** A weighted service's picker (rebuilt when its options changed). */
export function pickerOf(s: Service): WeightedPicker | null {
  const list = s.options.weighted;
  if (list === undefined) return null;
  if (s.weightedPicker === null || s.weightedPicker.source !== list) s.weightedPicker = new WeightedPicker(list);
  return s.weightedPicker;
}

/** The next child (by weight) that has an upstream for the request, or null. Children without one are skipped
 *  (their weight goes to the others). */
export function pickWeighted(s: Service, exclude: Upstream | null): Upstream | null {
  const picker = pickerOf(s)!;
  let skip = 0;
  for (let k = 0; k < picker.names.length; k++) {
    const i = picker.next(skip);
    if (i === -1) return null;
    const u = s.services?.get(picker.names[i])?.pick(exclude) ?? null;
    if (u !== null) {
      s.lastChild = picker.names[i];
      return u;
    }
    skip |= 1 << i;
  }
  return null;
}

/** An upstream of `generation` (null: drawn by the split's shares); if that generation has none taking traffic,
 *  one of another generation new clients may go to. */
export function pickInSplit(
  s: Service,
  split: TrafficSplit,
  exclude: Upstream | null,
  generation: string | null,
): Upstream | null {
  const g = generation ?? drawShare(split.shares, s.nextDraw(), s.hasGenerationOf, null);
  if (g !== null) {
    const u = s.pickAmong(exclude, g);
    if (u !== null) return u;
  }
  for (const share of split.shares) {
    if (share.generation === g) continue;
    const u = s.pickAmong(exclude, share.generation);
    if (u !== null) return u;
  }
  return null;
}
