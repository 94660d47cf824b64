// Content-coding negotiation for the compress middleware (pure): which of the server's encodings to answer with,
// from the request's Accept-Encoding, as Traefik's pkg/middlewares/compress/acceptencoding.go chooses — the highest
// q-value wins, and at equal q-values the server's order (the `encodings` option) decides.
//
// Where baton is stricter than Traefik (both are RFC 9110 §12.5.3, and neither changes a plain "gzip, br" header):
// - `*` stands for the codings the header does not name: "gzip;q=0, *" never answers gzip (Traefik's wildcard
//   answers defaultEncoding or the first encoding, even one the client refused);
// - at equal q-values a coding the client named comes before one only `*` matched ("gzip, *" answers gzip);
// - coding names and the q parameter are matched case-insensitively, and whitespace around them is ignored.

/** The content codings baton compresses with (node:zlib). */
export type Coding = 'gzip' | 'br' | 'zstd';
export const CODINGS: readonly Coding[] = ['gzip', 'br', 'zstd'];

export function isCoding(s: string): s is Coding {
  return (CODINGS as readonly string[]).includes(s);
}

const QVALUE = /^(\d+(\.\d*)?|\.\d+)$/;

/** The q-value of one item's parameters: 1 when absent; 0 when malformed (Traefik: ParseFloat's 0 drops it). */
function weight(params: string[]): number {
  for (const p of params) {
    const eq = p.indexOf('=');
    if (eq === -1 || p.slice(0, eq).trim().toLowerCase() !== 'q') continue;
    const v = p.slice(eq + 1).trim();
    return QVALUE.test(v) ? Number(v) : 0;
  }
  return 1;
}

/** Accept-Encoding's items: coding (lower-case) → q-value (the highest, if a coding is listed twice). */
export function parseAcceptEncoding(header: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const item of header.split(',')) {
    const [name, ...params] = item.split(';');
    const coding = name.trim().toLowerCase();
    if (coding === '') continue;
    const q = weight(params);
    out.set(coding, Math.max(q, out.get(coding) ?? 0));
  }
  return out;
}

/**
 * The coding to compress with, or null for none. `header`: the request's Accept-Encoding (undefined when absent:
 * then `defaultEncoding`, as Traefik — without it an absent header means no compression, Traefik issue 9734).
 * `encodings`: the server's codings in preference order.
 */
export function negotiate(
  header: string | undefined,
  encodings: readonly Coding[],
  defaultEncoding: Coding | null,
): Coding | null {
  if (header === undefined)
    return defaultEncoding !== null && encodings.includes(defaultEncoding) ? defaultEncoding : null;
  // RFC 9110: an empty Accept-Encoding means "no content coding" (Traefik: identity).
  if (header.trim() === '') return null;
  const listed = parseAcceptEncoding(header);
  const star = listed.get('*');
  let best: Coding | null = null;
  let bestRank: [number, number, number] = [0, 0, 0];
  for (let i = 0; i < encodings.length; i++) {
    const c = encodings[i];
    const named = listed.has(c);
    const q = named ? listed.get(c)! : (star ?? 0);
    if (q <= 0) continue;
    // rank: q-value, then named before matched by `*`, then (for `*`) defaultEncoding first, then server order
    const viaDefault = !named && c === defaultEncoding ? 1 : 0;
    const rank: [number, number, number] = [q, named ? 1 : 0, viaDefault * encodings.length + (encodings.length - i)];
    if (best === null || greater(rank, bestRank)) {
      best = c;
      bestRank = rank;
    }
  }
  if (best === null) return null;
  // identity has the lowest priority (Traefik): it wins only with a strictly higher q-value than the best coding
  const identity = listed.get('identity');
  if (identity !== undefined && identity > bestRank[0]) return null;
  return best;
}

function greater(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] > b[i];
  return false;
}
