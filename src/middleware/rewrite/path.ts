// Traefik's path middlewares: stripPrefix, stripPrefixRegex, addPrefix, replacePath and replacePathRegex. They
// rewrite ctx.path (the query is kept) and say what they did in X-Forwarded-Prefix / X-Replaced-Path, appended as
// Traefik's Header.Add does.
//
//   stripPrefix       prefixes, forceSlash (deprecated in Traefik, accepted; it changes nothing here, since an empty
//                     path is sent as "/" anyway): the first prefix the path starts with is removed
//   stripPrefixRegex  regex (a list): the first regex whose match is a prefix of the path
//   addPrefix         prefix (required)
//   replacePath       path: the whole path; X-Replaced-Path gets the original
//   replacePathRegex  regex (required), replacement: every match replaced (Go's ReplaceAllString); X-Replaced-Path
//
// A rewritten path must still be an origin-form path (a leading '/', no control character, space, '#', '?' or '\',
// well-formed escapes); after stripPrefix, stripPrefixRegex and replacePathRegex it must also be clean (no "//", "."
// or ".." segment), as Traefik checks. Otherwise the request is answered 400 (bad_path) and never forwarded
// (Traefik answers 500 for a malformed escape after replacePathRegex, and forwards a path without a leading '/').
// Configured texts have spaces and non-ASCII characters percent-encoded (as Go escapes a path) and are refused
// when they hold what no path may hold, when the config is read.
import type { RequestContext } from '../api.ts';
import { bool, list, str } from '../options.ts';
import { defineType } from '../types.ts';
import {
  encodeUnsafe,
  goReplaceAll,
  leadingSlash,
  normalizePrefix,
  pathTextProblem,
  regexListOption,
  regexOption,
  rewrittenPathProblem,
  stripPrefixOf,
  stripRegexOf,
} from './pure.ts';

const FORWARDED_PREFIX = 'X-Forwarded-Prefix';
const REPLACED_PATH = 'X-Replaced-Path';

const BAD_PATH_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-type': 'text/plain; charset=utf-8',
  'cache-control': 'no-store',
  'x-baton-error': 'bad_path',
});
const BAD_PATH_BODY = '400 Bad Request\nThe request path, once rewritten, is not a valid path.\n';

/** Sets the rewritten path; or answers 400 when it could not be sent upstream, and says false. */
function rewrite(ctx: RequestContext, path: string, clean: boolean): boolean {
  if (rewrittenPathProblem(path, clean) !== null) {
    ctx.respond(400, BAD_PATH_HEADERS, BAD_PATH_BODY);
    return false;
  }
  ctx.path = path;
  return true;
}

/** `name: problem` of a configured path text, when it has one. */
function textProblems(name: string, text: string): string[] {
  const p = pathTextProblem(encodeUnsafe(text));
  return p === null ? [] : [`${name}: ${JSON.stringify(text)} ${p}`];
}

export const stripPrefix = defineType({
  name: 'stripPrefix',
  spec: { prefixes: list([]), forceSlash: bool() },
  check: (o) => o.prefixes.flatMap((p, i) => textProblems(`prefixes[${i}]`, p)),
  create(o, env) {
    if (o.forceSlash !== undefined) {
      env.log.warn({ middleware: env.name }, 'stripPrefix: forceSlash is deprecated (Traefik) and changes nothing');
    }
    const prefixes = o.prefixes.map(normalizePrefix);
    for (const p of prefixes) {
      if (!p.startsWith('/')) {
        env.log.warn({ middleware: env.name, prefix: p }, 'stripPrefix: a prefix without a leading "/" never matches');
      }
    }
    return {
      onRequest(ctx) {
        const s = stripPrefixOf(ctx.path, prefixes);
        if (s !== null && rewrite(ctx, s.path, true)) ctx.headers.append(FORWARDED_PREFIX, s.prefix);
      },
    };
  },
});

export const stripPrefixRegex = defineType({
  name: 'stripPrefixRegex',
  spec: { regex: regexListOption() },
  create(o) {
    return {
      onRequest(ctx) {
        const s = stripRegexOf(ctx.path, o.regex);
        if (s !== null && rewrite(ctx, s.path, true)) ctx.headers.append(FORWARDED_PREFIX, s.prefix);
      },
    };
  },
});

export const addPrefix = defineType({
  name: 'addPrefix',
  spec: { prefix: str() },
  check: (o) =>
    !o.prefix ? ['prefix: required (the text put before the path, e.g. /api)'] : textProblems('prefix', o.prefix),
  create(o) {
    const prefix = encodeUnsafe(o.prefix);
    return {
      onRequest(ctx) {
        rewrite(ctx, leadingSlash(prefix + ctx.path), false);
      },
    };
  },
});

export const replacePath = defineType({
  name: 'replacePath',
  spec: { path: str('') },
  check(o) {
    const problems = textProblems('path', o.path);
    if (problems.length === 0 && o.path !== '' && !o.path.startsWith('/')) {
      problems.push(`path: ${JSON.stringify(o.path)} does not start with "/"`);
    }
    return problems;
  },
  create(o) {
    // Go sends an empty path as "/"
    const path = leadingSlash(encodeUnsafe(o.path));
    return {
      onRequest(ctx) {
        const old = ctx.path;
        if (rewrite(ctx, path, false)) ctx.headers.append(REPLACED_PATH, old);
      },
    };
  },
});

export const replacePathRegex = defineType({
  name: 'replacePathRegex',
  spec: { regex: regexOption('g', true), replacement: str('') },
  check(o) {
    const problems = textProblems('replacement', o.replacement.trim());
    if (o.regex === undefined) problems.unshift('regex: required (matched against the path, e.g. "^/foo/(.*)")');
    return problems;
  },
  create(o) {
    const replacement = encodeUnsafe(o.replacement.trim());
    return {
      onRequest(ctx) {
        const old = ctx.path;
        const path = goReplaceAll(o.regex, old, replacement);
        if (path !== null && rewrite(ctx, path, true)) ctx.headers.append(REPLACED_PATH, old);
      },
    };
  },
});
