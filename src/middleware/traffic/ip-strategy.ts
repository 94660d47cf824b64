// Traefik's client-IP selection (pkg/ip/strategy.go and IPStrategy.Get in pkg/config/dynamic/middlewares.go) and
// its sourceCriterion (pkg/middlewares/extractor.go), against baton's request context. Pure.
//
//   no ipStrategy, or one with neither depth nor excludedIPs → the peer's address (ctx.remoteAddr)
//   depth > 0       → the depth-th X-Forwarded-For entry from the right ("" when there are fewer entries)
//   excludedIPs     → the right-most X-Forwarded-For entry that is not in those ranges ("" when none)
//   ipv6Subnet      → an IPv6 address picked by the first or the second becomes the first address of its /n
//
// X-Forwarded-For is ctx.forwardedFor: what the peer sent, and only when the entrypoint trusts it
// (forwardedHeaders.trustedIPs); [] otherwise — Traefik's entrypoint strips the header from untrusted peers, so a
// client can choose the address a middleware acts on only through a trusted proxy, in both.
import { isIPv6 } from 'node:net';
import { clientIpRanges } from '../../routing/client-ip.ts';
import type { RequestContext } from '../api.ts';
import { bool, group, int, list, readOptions, str, type Field, type Options, type Spec } from '../options.ts';
import { isToken } from '../header-names.ts';

// ── addresses ───────────────────────────────────────────────────────────────────────────────────────────

/** The host of "host:port" / "[v6]:port" (Go's net.SplitHostPort), else the text itself. */
export function hostPart(addr: string): string {
  const colon = addr.indexOf(':');
  if (colon === -1) return addr;
  if (addr.charCodeAt(0) === 91 /* [ */) {
    const end = addr.indexOf(']');
    return end === -1 ? addr : addr.slice(1, end);
  }
  return colon === addr.lastIndexOf(':') ? addr.slice(0, colon) : addr;
}

/** A test "is this address (or host:port) in these ranges", as Traefik's ip.Checker: IPv4 and IPv6 addresses and
 *  CIDRs; IPv4 ranges match IPv4-mapped IPv6 clients (::ffff:a.b.c.d) too. Throws on a range that is not one. */
export function ipChecker(ranges: readonly string[]): (addr: string) => boolean {
  for (const r of ranges) {
    const p = rangeProblem(r);
    if (p !== null) throw new Error(p);
  }
  const inRanges = clientIpRanges(ranges.map((value, pos) => ({ kind: 'string' as const, pos, value })));
  return (addr) => {
    const host = hostPart(addr);
    return host !== '' && !leadingZeroOctet(host) && inRanges(host);
  };
}

/** Whether the dotted IPv4 part of an address has an octet with a leading zero ("0127.0.0.1": octal to some
 *  parsers, refused by Go's netip — and by this checker). */
function leadingZeroOctet(s: string): boolean {
  const start = s.lastIndexOf(':') + 1;
  if (s.indexOf('.', start) === -1) return false;
  for (let i = start; i < s.length - 1; i++) {
    if (s.charCodeAt(i) !== 48 || (i !== start && s.charCodeAt(i - 1) !== 46)) continue;
    const next = s.charCodeAt(i + 1);
    if (next >= 48 && next <= 57) return true;
  }
  return false;
}

/** Why `r` is not an IP address or CIDR range, or null. */
export function rangeProblem(r: string): string | null {
  try {
    clientIpRanges([{ kind: 'string', pos: 0, value: r }]);
    return null;
  } catch {
    return `${JSON.stringify(r)} is not an IP address or CIDR range`;
  }
}

/** The 8 groups of a valid IPv6 address (no zone). */
function v6Groups(s: string): number[] {
  const lastColon = s.lastIndexOf(':');
  let body = s;
  if (s.indexOf('.', lastColon) !== -1) {
    const [a, b, c, d] = s
      .slice(lastColon + 1)
      .split('.')
      .map(Number);
    body = `${s.slice(0, lastColon + 1)}${(a * 256 + b).toString(16)}:${(c * 256 + d).toString(16)}`;
  }
  const gap = body.indexOf('::');
  const parse = (part: string): number[] => (part === '' ? [] : part.split(':').map((x) => parseInt(x, 16)));
  const head = parse(gap === -1 ? body : body.slice(0, gap));
  const tail = gap === -1 ? [] : parse(body.slice(gap + 2));
  return [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}

/** Go's netip.Addr.String for IPv6: ::ffff:a.b.c.d for IPv4-mapped, else RFC 5952 (longest zero run as ::). */
function formatV6(g: readonly number[]): string {
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) {
    return `::ffff:${g[6] >> 8}.${g[6] & 255}.${g[7] >> 8}.${g[7] & 255}`;
  }
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = (from: number, to: number) =>
    g
      .slice(from, to)
      .map((x) => x.toString(16))
      .join(':');
  return best === -1 ? hex(0, 8) : `${hex(0, best)}::${hex(best + bestLen, 8)}`;
}

/** Traefik's getIPv6SubnetIP: an IPv6 address → the first address of its /bits; anything else unchanged. */
export function ipv6SubnetIP(ip: string, bits: number): string {
  const zone = ip.indexOf('%');
  const addr = zone === -1 ? ip : ip.slice(0, zone);
  if (!isIPv6(addr)) return ip;
  const g = v6Groups(addr);
  for (let i = 0; i < 8; i++) {
    const keep = Math.max(0, Math.min(16, bits - i * 16));
    g[i] &= keep === 0 ? 0 : (0xffff << (16 - keep)) & 0xffff;
  }
  return formatV6(g);
}

// ── options ─────────────────────────────────────────────────────────────────────────────────────────────

/** A list of IP addresses / CIDR ranges, each checked. */
export function ipRanges(fallback?: string[]): Field<string[]> {
  const texts = list(fallback);
  return {
    fallback,
    read(raw, at, errors) {
      const items = texts.read(raw, at, errors);
      if (items === undefined) return undefined;
      const bad = items.map(rangeProblem).filter((p) => p !== null);
      for (const p of bad) errors.push(`${at}: ${p}`);
      return bad.length === 0 ? items : undefined;
    },
  };
}

/** A nested group that may also be given empty (Traefik's `allowEmpty`: the label `...ipstrategy=true` or `=`, or
 *  `ipStrategy:` with no value in YAML, selects it with its defaults). Absent: undefined. */
export function presentGroup<S extends Spec>(fields: S): Field<Options<S>> {
  const g = group(fields);
  return {
    fallback: undefined,
    fields,
    read(raw, at, errors) {
      const s = typeof raw === 'string' ? raw.trim().toLowerCase() : raw;
      if (s === null || s === '' || s === true || s === 'true') return readOptions(fields, {}, at, errors);
      return g.read(raw, at, errors);
    },
  };
}

export const IP_STRATEGY = {
  depth: int(0, 0),
  excludedIPs: ipRanges(),
  /** Traefik refuses a value outside 1..128 (its docs say "ignored"; its code says error) */
  ipv6Subnet: int(undefined, 1, 128),
};
export type IpStrategyOptions = Options<typeof IP_STRATEGY>;

export const SOURCE_CRITERION = {
  ipStrategy: presentGroup(IP_STRATEGY),
  requestHeaderName: str(),
  requestHost: bool(false),
};
export type SourceCriterionOptions = Options<typeof SOURCE_CRITERION>;

/** Traefik's GetSourceExtractor checks: at most one criterion. */
export function sourceCriterionProblems(sc: SourceCriterionOptions | undefined): string[] {
  if (sc === undefined) return [];
  const header = sc.requestHeaderName ?? '';
  const out: string[] = [];
  if (sc.ipStrategy !== undefined && header !== '') {
    out.push('sourceCriterion: ipStrategy and requestHeaderName are mutually exclusive');
  }
  if (sc.ipStrategy !== undefined && sc.requestHost) {
    out.push('sourceCriterion: ipStrategy and requestHost are mutually exclusive');
  }
  if (header !== '' && sc.requestHost)
    out.push('sourceCriterion: requestHost and requestHeaderName are mutually exclusive');
  if (header !== '' && !isToken(header)) {
    out.push(`sourceCriterion.requestHeaderName: ${JSON.stringify(header)} is not a header name`);
  }
  return out;
}

// ── selection ───────────────────────────────────────────────────────────────────────────────────────────

/** What a strategy reads of a request. */
export type IpSource = Pick<RequestContext, 'remoteAddr' | 'forwardedFor'>;

/** Traefik's IPStrategy.Get(): the client IP of a request (undefined options: the RemoteAddr strategy). */
export function ipStrategy(o: IpStrategyOptions | undefined): (ctx: IpSource) => string {
  const subnet = o?.ipv6Subnet;
  if (o !== undefined && o.depth > 0) {
    const depth = o.depth;
    return (ctx) => {
      const xff = ctx.forwardedFor;
      if (xff.length < depth) return '';
      const ip = xff[xff.length - depth].trim();
      return subnet === undefined ? ip : ipv6SubnetIP(ip, subnet);
    };
  }
  if (o !== undefined && o.excludedIPs !== undefined && o.excludedIPs.length > 0) {
    // PoolStrategy: ipv6Subnet does not apply (as in Traefik)
    const excluded = ipChecker(o.excludedIPs);
    return (ctx) => {
      const xff = ctx.forwardedFor;
      for (let i = xff.length - 1; i >= 0; i--) {
        const ip = xff[i].trim();
        if (ip !== '' && !excluded(ip)) return ip;
      }
      return '';
    };
  }
  if (subnet === undefined) return (ctx) => hostPart(ctx.remoteAddr);
  return (ctx) => ipv6SubnetIP(hostPart(ctx.remoteAddr), subnet);
}

export type SourceContext = IpSource & Pick<RequestContext, 'host' | 'headers'>;

/**
 * Traefik's source extractor: the key requests are grouped by. No criterion: `fallback` — the client IP for
 * rateLimit, the request host for inFlightReq (as in Traefik). requestHost is ctx.host (lower-case, without the
 * port; Go's req.Host keeps the port); requestHeaderName reads the header as it goes upstream ("" when absent).
 */
export function sourceExtractor(
  sc: SourceCriterionOptions | undefined,
  fallback: 'ip' | 'host',
): (ctx: SourceContext) => string {
  const header = sc?.requestHeaderName ?? '';
  if (sc?.ipStrategy !== undefined) return ipStrategy(sc.ipStrategy);
  if (header !== '') return (ctx) => ctx.headers.get(header) ?? '';
  if (sc?.requestHost === true || fallback === 'host') return (ctx) => ctx.host;
  return ipStrategy(undefined);
}
