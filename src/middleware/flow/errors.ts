// Traefik's `errors`: a response whose status is in `status` is replaced by the page another service answers to
// GET `query` ({status}, {originalStatus} and {url} filled in), keeping the status (or the one `statusRewrites`
// maps it to). Applies to the upstream's responses and to baton's own error pages (a 502 when the upstream is down).
import { defineType } from '../types.ts';
import { list, str, textMap } from '../options.ts';

/** "500-599", "404" → [from, to] pairs; a message for anything else. */
export function statusRanges(items: readonly string[]): Array<[number, number]> | string {
  const out: Array<[number, number]> = [];
  for (const item of items) {
    const m = /^(\d{3})(?:-(\d{3}))?$/.exec(item.trim());
    const from = m === null ? NaN : Number(m[1]);
    const to = m === null ? NaN : Number(m[2] ?? m[1]);
    if (!(from >= 100 && to <= 599 && from <= to))
      return `expected statuses or ranges like 404 or 500-599, got ${item}`;
    out.push([from, to]);
  }
  return out;
}

const within = (ranges: ReadonlyArray<[number, number]>, s: number) => ranges.some(([a, b]) => s >= a && s <= b);

/** Traefik names services `name@provider`; baton's registry knows them by name. */
function serviceName(s: string): string {
  return s.replace(/@[A-Za-z0-9_-]+$/, '');
}

/** The page's path for a status (pure; Go's url.QueryEscape for {url}). */
export function pageQuery(query: string, status: number, original: number, url: string): string {
  const escaped = encodeURIComponent(url)
    .replace(/%20/g, '+')
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `/${query.replace(/^\/+/, '')}`
    .replaceAll('{status}', String(status))
    .replaceAll('{originalStatus}', String(original))
    .replaceAll('{url}', escaped);
}

export const errors = defineType({
  name: 'errors',
  spec: {
    status: list(),
    service: str(),
    query: str(''),
    statusRewrites: textMap(),
    errorRequestHeaders: list(),
  },
  check(o) {
    const problems: string[] = [];
    if (o.status === undefined || o.status.length === 0) problems.push('status: required, e.g. ["500-599"]');
    else if (typeof statusRanges(o.status) === 'string') problems.push(`status: ${statusRanges(o.status) as string}`);
    if (o.service === undefined || o.service === '') problems.push('service: required (the service serving the page)');
    for (const [from, to] of Object.entries(o.statusRewrites ?? {})) {
      if (typeof statusRanges([from]) === 'string' || !/^[1-5]\d\d$/.test(to.trim())) {
        problems.push(`statusRewrites.${from}: expected a status range mapped to a status, got ${to}`);
      }
    }
    if (/[\s#]/.test(o.query)) problems.push('query: must be a path without spaces or "#"');
    return problems;
  },
  create(o) {
    const ranges = statusRanges(o.status!) as Array<[number, number]>;
    const rewrites = Object.entries(o.statusRewrites ?? {}).map(
      ([from, to]) => [statusRanges([from]) as Array<[number, number]>, Number(to)] as const,
    );
    const service = serviceName(o.service!);
    const headers = o.errorRequestHeaders;
    return {
      onResponse(ctx, res) {
        const original = res.status;
        if (!within(ranges, original)) return;
        const status = rewrites.find(([r]) => within(r, original))?.[1] ?? original;
        const query = ctx.query === '' ? '' : `?${ctx.query}`;
        const url = `${ctx.scheme}://${ctx.headers.get('host') ?? ctx.host}${ctx.path}${query}`;
        res.replaceWith(service, pageQuery(o.query, status, original, url), { status, headers });
      },
    };
  },
});
