// Traefik (v2 and v3) HTTP router rules: the entry point. A rule is read by the lexer (lexer.ts), parsed by
// parser.ts into closures built by the matchers (matchers.ts, with regexp.ts and client-ip.ts), so a request is
// matched without allocating (except Query, which has to parse the query string). Pure: no I/O, no globals.

import { RuleSyntaxError } from '../errors.ts';
import type { Matcher } from './matchers.ts';
import { Parser } from './parser.ts';

export type { Matcher, RequestView } from './matchers.ts';
export { escapeRegExp, templateSource } from './regexp.ts';

export interface ParsedRule {
  matcher: Matcher;
  /** Exact lower-cased hosts the rule can match, or null if it may match any host (no Host() constraint that is
   *  required on every path through the expression, or a HostRegexp / negation involved). Used to index routes by
   *  host. */
  hosts: string[] | null;
  /** Traefik's default priority: the length of the rule text. */
  priority: number;
}

/** Parses a Traefik rule. Throws RuleSyntaxError with the 0-based position of the problem. */
export function parseRule(rule: string): ParsedRule {
  if (typeof rule !== 'string') throw new RuleSyntaxError('rule must be a string', 0);
  const node = new Parser(rule).parse();
  return { matcher: node.m, hosts: node.hosts, priority: rule.length };
}
