// Traefik v1 frontend rules (`Host:a.com,b.com;PathPrefix:/api`) → Traefik v2 rule syntax (pure), for the
// traefik.frontend.rule label.

import { escapeRegExp, templateSource } from '../routing/rule.ts';

/** Splits on `sep` outside `{...}` (v1 templates like `{id:[0-9]{1,3}}` may hold commas). */
function splitOutside(text: string, sep: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\\') i++;
    else if (c === '{') depth++;
    else if (c === '}') depth = Math.max(0, depth - 1);
    else if (c === sep && depth === 0) {
      out.push(text.slice(start, i));
      start = i + 1;
    }
  }
  out.push(text.slice(start));
  return out;
}

/** A rule string argument: backticks unless the value holds one, then a Go-escaped double-quoted string. */
export function quote(s: string): string {
  return s.includes('`') ? JSON.stringify(s) : `\`${s}\``;
}

const TEMPLATE = /\{[A-Za-z_]/;

function pathMatcher(values: string[], prefix: boolean): string {
  if (!values.some((v) => TEMPLATE.test(v))) {
    return `${prefix ? 'PathPrefix' : 'Path'}(${values.map(quote).join(', ')})`;
  }
  return `PathRegexp(${values.map((v) => quote(templateSource(v, '[^/]+') + (prefix ? '' : '$'))).join(', ')})`;
}

/**
 * Translates a Traefik v1 frontend rule (`Host:a.com,b.com;PathPrefix:/api`) into v2 syntax
 * (``Host(`a.com`, `b.com`) && PathPrefix(`/api`)``). `notes` lists what baton does not do (path stripping and
 * rewriting: the matcher is kept, the request path is passed on unchanged). The result still has to be checked
 * with parseRule.
 */
export function translateV1Rule(text: string): { rule: string; notes: string[] } | { error: string } {
  const parts = splitOutside(text, ';')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  if (parts.length === 0) return { error: 'empty rule' };
  const matchers: string[] = [];
  const notes: string[] = [];
  try {
    for (const part of parts) {
      const colon = part.indexOf(':');
      if (colon <= 0) return { error: `expected "Matcher:value" but found ${JSON.stringify(part)}` };
      const name = part.slice(0, colon).trim();
      const values = splitOutside(part.slice(colon + 1), ',').map((v) => v.trim());
      if (values.some((v) => v === '')) return { error: `empty value in ${JSON.stringify(part)}` };
      const strip = (to: string) =>
        notes.push(
          `${name} strips the path prefix, which baton does not do: routed as ${to}, the upstream gets the full path`,
        );
      switch (name.toLowerCase()) {
        case 'host':
          matchers.push(`Host(${values.map(quote).join(', ')})`);
          break;
        case 'hostregexp':
          // v1 HostRegexp values are templates; parseRule reads several arguments or `{name...}` as templates,
          // a single plain value is made an exact, anchored regexp here
          matchers.push(
            values.length === 1 && !TEMPLATE.test(values[0])
              ? `HostRegexp(${quote(`^${escapeRegExp(values[0])}$`)})`
              : `HostRegexp(${values.map(quote).join(', ')})`,
          );
          break;
        case 'path':
          matchers.push(pathMatcher(values, false));
          break;
        case 'pathstrip':
        case 'pathstripregex':
          matchers.push(pathMatcher(values, false));
          strip('Path');
          break;
        case 'pathprefix':
          matchers.push(pathMatcher(values, true));
          break;
        case 'pathprefixstrip':
        case 'pathprefixstripregex':
          matchers.push(pathMatcher(values, true));
          strip('PathPrefix');
          break;
        case 'method':
          matchers.push(`Method(${values.map(quote).join(', ')})`);
          break;
        case 'headers':
        case 'headersregexp': {
          if (values.length !== 2) {
            return { error: `${name} takes a header name and a value, got ${JSON.stringify(part)}` };
          }
          const matcher = name.toLowerCase() === 'headers' ? 'Headers' : 'HeadersRegexp';
          matchers.push(`${matcher}(${quote(values[0])}, ${quote(values[1])})`);
          break;
        }
        case 'query':
          // v1 `Query:a=1,b=2` needs every pair
          for (const v of values) matchers.push(`Query(${quote(v)})`);
          break;
        case 'addprefix':
        case 'replacepath':
        case 'replacepathregex':
          notes.push(`${name} rewrites the path, which baton does not do: ignored, the upstream gets the request path`);
          break;
        default:
          return { error: `unknown matcher ${JSON.stringify(name)}` };
      }
    }
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err) };
  }
  if (matchers.length === 0) return { error: 'no matcher (only path modifiers)' };
  return { rule: matchers.join(' && '), notes };
}
