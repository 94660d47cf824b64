// A maintenance page: while `enabled`, every request is answered 503 with the page and Retry-After, except from
// the addresses in `allow` (so the team can still check the site). The upstreams are never contacted.
//
//   plugins:
//     maintenance: { module: ./examples/plugins/maintenance.ts, options: { enabled: true, page: ./down.html } }
import { readFileSync } from 'node:fs';
import type { Plugin } from 'baton';

interface Options {
  enabled: boolean;
  page: Buffer;
  retryAfter: number;
  allow: string[];
}

const DEFAULT_PAGE = '<!doctype html><title>Down for maintenance</title><h1>Back soon</h1>\n';

const maintenance: Plugin<Options> = {
  options(raw, env) {
    const enabled = raw.enabled ?? true;
    if (typeof enabled !== 'boolean') throw new Error('enabled: true or false');
    const retryAfter = raw.retryAfter ?? 120;
    if (typeof retryAfter !== 'number' || !Number.isInteger(retryAfter) || retryAfter < 0) {
      throw new Error('retryAfter: a whole number of seconds');
    }
    const allow = raw.allow ?? [];
    if (!Array.isArray(allow) || allow.some((a) => typeof a !== 'string')) throw new Error('allow: a list of IPs');
    // the page (relative to the config file) is read when the options are checked: a missing file stops baton
    const page = typeof raw.page === 'string' ? readFileSync(env.resolvePath(raw.page)) : Buffer.from(DEFAULT_PAGE);
    return { enabled, page, retryAfter, allow: allow as string[] };
  },
  create({ enabled, page, retryAfter, allow }) {
    return {
      onRequest(ctx) {
        if (!enabled || allow.includes(ctx.remoteAddr)) return;
        const headers = {
          'content-type': 'text/html; charset=utf-8',
          'retry-after': String(retryAfter),
          'cache-control': 'no-store',
        };
        ctx.respond(503, headers, page);
      },
    };
  },
};

export default maintenance;
