// Traefik's ipAllowList (pkg/middlewares/ipallowlist): the client IP, as ipStrategy picks it (default: the peer's
// address), must be in sourceRange (IPv4/IPv6 addresses and CIDRs; IPv4 ranges match IPv4-mapped IPv6 clients);
// otherwise the answer is rejectStatusCode (403) with its status text. An empty client IP (e.g. depth beyond
// X-Forwarded-For, or a peer the entrypoint does not trust sending it) is refused, as in Traefik.
// ipWhiteList, its deprecated Traefik v2 name that v3 still reads, is the same without rejectStatusCode.
import { STATUS_CODES } from 'node:http';
import type { Handler } from '../api.ts';
import { int } from '../options.ts';
import { defineType } from '../types.ts';
import { IP_STRATEGY, ipChecker, ipRanges, ipStrategy, presentGroup, type IpStrategyOptions } from './ip-strategy.ts';

const SPEC = {
  sourceRange: ipRanges(),
  ipStrategy: presentGroup(IP_STRATEGY),
  /** 0: 403 (Traefik's default) */
  rejectStatusCode: int(0, 0, 599),
};

const TEXT = { 'content-type': 'text/plain; charset=utf-8' };

function checkRanges(sourceRange: string[] | undefined): string[] {
  return sourceRange === undefined || sourceRange.length === 0
    ? ['sourceRange: required (the IP addresses or CIDR ranges allowed)']
    : [];
}

function allowListHooks(sourceRange: string[], strategy: IpStrategyOptions | undefined, code: number): Handler {
  const allowed = ipChecker(sourceRange);
  const clientIp = ipStrategy(strategy);
  const body = STATUS_CODES[code] ?? '';
  // the last address and its answer: a kept-alive connection asks the same question request after request
  let lastIp: string | null = null;
  let lastAllowed = false;
  return {
    onRequest(ctx) {
      const ip = clientIp(ctx);
      if (ip !== lastIp) {
        lastAllowed = allowed(ip);
        lastIp = ip;
      }
      if (!lastAllowed) ctx.respond(code, TEXT, body);
    },
  };
}

export const ipAllowList = defineType({
  name: 'ipAllowList',
  spec: SPEC,
  check(o) {
    const problems = checkRanges(o.sourceRange);
    if (o.rejectStatusCode !== 0 && o.rejectStatusCode < 200) {
      problems.push(`rejectStatusCode: expected an HTTP status from 200 to 599, got ${o.rejectStatusCode}`);
    }
    return problems;
  },
  create: (o) => allowListHooks(o.sourceRange!, o.ipStrategy, o.rejectStatusCode === 0 ? 403 : o.rejectStatusCode),
});

export const ipWhiteList = defineType({
  name: 'ipWhiteList',
  spec: { sourceRange: SPEC.sourceRange, ipStrategy: SPEC.ipStrategy },
  check: (o) => checkRanges(o.sourceRange),
  create: (o) => allowListHooks(o.sourceRange!, o.ipStrategy, 403),
});
