// Regular expressions in rules (pure): Go (RE2) syntax → JS RegExp, gorilla/mux templates → regexp source, and
// escaping a literal.

import { RuleSyntaxError } from '../errors.ts';
import type { StringToken } from './lexer.ts';

/** Escapes a literal for use inside a RegExp. */
export function escapeRegExp(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
}

/**
 * Translates the Go (RE2) regexp syntax people write in Traefik rules into a JS RegExp:
 * `(?P<name>` → `(?<name>`, and a leading flag group like `(?i)` becomes RegExp flags.
 */
export function compileGoRegExp(src: string, tok: StringToken, matcher: string, extraFlags = ''): RegExp {
  let flags = extraFlags;
  let body = src;
  const lead = /^\(\?([imsU]+)\)/.exec(body);
  if (lead) {
    for (const f of lead[1]) {
      if (f === 'U') {
        throw new RuleSyntaxError(`invalid regular expression in ${matcher}: flag 'U' is not supported`, tok.pos);
      }
      if (!flags.includes(f)) flags += f;
    }
    body = body.slice(lead[0].length);
  }
  let out = '';
  let inClass = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === '\\') {
      out += body.slice(i, i + 2);
      i++;
    } else if (inClass) {
      if (c === ']') inClass = false;
      out += c;
    } else if (c === '[') {
      inClass = true;
      out += c;
      if (body[i + 1] === '^') out += body[++i];
      if (body[i + 1] === ']') out += body[++i]; // leading ']' is literal in RE2
    } else if (body.startsWith('(?P<', i)) {
      out += '(?<';
      i += 3;
    } else {
      out += c;
    }
  }
  try {
    return new RegExp(out, flags);
  } catch (err) {
    const why = err instanceof Error ? err.message.replace(/^Invalid regular expression: /, '') : String(err);
    throw new RuleSyntaxError(`invalid regular expression in ${matcher}: ${why}`, tok.pos);
  }
}

/**
 * A gorilla/mux template (`{sub:[a-z]+}.example.com`, `/users/{id}`) → an anchored regexp source without the
 * trailing `$`: literal text escaped, `{name:re}` → `(?:re)`, `{name}` → `placeholder`. Throws an Error saying
 * what is wrong. Shared by HostRegexp (placeholder `[^.]+`) and the Traefik v1 label translation (paths, `[^/]+`).
 */
export function templateSource(s: string, placeholder: string): string {
  let out = '^';
  let i = 0;
  while (i < s.length) {
    const open = s.indexOf('{', i);
    const close = s.indexOf('}', i);
    if (close !== -1 && (open === -1 || close < open)) throw new Error("unbalanced '}'");
    if (open === -1) {
      out += escapeRegExp(s.slice(i));
      break;
    }
    out += escapeRegExp(s.slice(i, open));
    let depth = 0;
    let end = -1;
    for (let j = open; j < s.length; j++) {
      if (s[j] === '\\') j++;
      else if (s[j] === '{') depth++;
      else if (s[j] === '}' && --depth === 0) {
        end = j;
        break;
      }
    }
    if (end === -1) throw new Error("unbalanced '{'");
    const inner = s.slice(open + 1, end);
    const colon = inner.indexOf(':');
    const name = colon === -1 ? inner : inner.slice(0, colon);
    if (name === '') throw new Error('missing variable name');
    if (colon === -1) out += placeholder;
    else {
      const re = inner.slice(colon + 1);
      if (re === '') throw new Error(`missing pattern for '${name}'`);
      out += `(?:${re})`;
    }
    i = end + 1;
  }
  return out;
}
