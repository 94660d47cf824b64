// A service's traffic split across generations (a canary deploy, skew protection), and the pure decision of
// which generation serves a request. A client presenting `baton_gen=<g>` (cookie, or the query for asset URLs
// that cannot carry cookies) stays on g while g is in the split and has an upstream taking traffic; a new client
// is given a generation (by the canary header when the split has one, else drawn by share), and its response
// sets the cookie. Generations listed in `sticky` take no new clients: they stay alive for the ones that carry
// their cookie (a page from v1 loads its scripts from v1 after the switch to v2).

export const GENERATION_COOKIE = 'baton_gen';

export interface GenerationShare {
  generation: string;
  /** share of new clients, 0..1 (the shares of a split add up to 1) */
  share: number;
}

export interface TrafficSplit {
  /** where new clients go */
  shares: GenerationShare[];
  /** lower-case request header that sends a new client to `headerGeneration` instead of drawing by share */
  header: string | null;
  headerGeneration: string | null;
  /** generations kept for the clients that carry their cookie only */
  sticky: string[];
}

export interface GenerationInput {
  /** the generation the request presents (cookie or query), null if none */
  presented: string | null;
  /** the split's header is on the request */
  header: boolean;
  /** a draw in [0, 1), uniform over many requests (Service.nextDraw) */
  random: number;
}

export interface GenerationChoice {
  /** null: no generation of the split has an upstream taking traffic */
  generation: string | null;
  /** the response sets the cookie (the request presented another generation, or none) */
  assign: boolean;
}

/** Which generation serves a request. `available(g)`: g has an upstream taking traffic now. */
export function chooseGeneration(
  split: TrafficSplit,
  input: GenerationInput,
  available: (generation: string) => boolean,
): GenerationChoice {
  const p = input.presented;
  if (p !== null && (split.sticky.includes(p) || split.shares.some((s) => s.generation === p)) && available(p))
    return { generation: p, assign: false };
  let g: string | null = null;
  if (split.header !== null && split.headerGeneration !== null) {
    if (input.header && available(split.headerGeneration)) g = split.headerGeneration;
    else g = drawShare(split.shares, input.random, available, split.headerGeneration);
  } else {
    g = drawShare(split.shares, input.random, available, null);
  }
  return { generation: g, assign: g !== null && g !== p };
}

/** A generation drawn by share among the available ones (`except` left out unless it is the only one). */
export function drawShare(
  shares: readonly GenerationShare[],
  random: number,
  available: (generation: string) => boolean,
  except: string | null,
): string | null {
  let total = 0;
  for (const s of shares) if (s.generation !== except && s.share > 0 && available(s.generation)) total += s.share;
  if (total === 0) {
    if (except !== null && available(except)) return except;
    for (const s of shares) if (available(s.generation)) return s.generation;
    return null;
  }
  let x = random * total;
  let last: string | null = null;
  for (const s of shares) {
    if (s.generation === except || s.share <= 0 || !available(s.generation)) continue;
    last = s.generation;
    x -= s.share;
    if (x < 0) return s.generation;
  }
  return last;
}

/** The value of `name` in a Cookie header (or in a query string, with `&` as the separator), or null. */
export function valueOf(list: string | undefined, name: string, separator: string): string | null {
  if (list === undefined || list.length === 0) return null;
  let at = list.indexOf(name + '=');
  while (at !== -1) {
    const before = at === 0 ? separator : list[at - 1];
    if (before === separator || before === ' ') {
      const start = at + name.length + 1;
      let end = list.indexOf(separator, start);
      if (end === -1) end = list.length;
      return list.slice(start, end).trim();
    }
    at = list.indexOf(name + '=', at + 1);
  }
  return null;
}

/** The Set-Cookie value giving a client its generation. */
export function generationCookie(generation: string): string {
  return `${GENERATION_COOKIE}=${generation}; Path=/; HttpOnly; SameSite=Lax`;
}
