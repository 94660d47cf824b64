// Traefik's customRequestHeaders / customResponseHeaders (pkg/middlewares/headers/header.go): each name is set to
// its value, replacing what was there; "" removes the header. A Host request header sets the Host sent upstream
// (Traefik's req.Host). Every name and value is checked when the config is read, so that nothing is refused (or
// injected) at request time: names must be HTTP tokens, values printable (no CR, LF, NUL or other control
// character), and framing or hop-by-hop headers cannot be named at all (Traefik lets Go's proxy drop or override
// them; baton refuses them, so that a config cannot pretend to change a request's framing).
import type { HeaderMap } from '../api.ts';
import { FRAMING_HEADERS, isToken } from '../header-names.ts';

/** What Node sends in a field value: HTAB, SP, visible ASCII and obs-text (anything else throws when sent). */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/** A Host value: a DNS name, IPv4 or bracketed IPv6 address, with an optional port. */
const HOST_VALUE = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~-]+)(?::\d{1,5})?$/;

/** Headers that frame a message or concern one hop only (baton sets or drops them itself), and `more`. */
function framingHeaders(...more: string[]): ReadonlySet<string> {
  return new Set([...FRAMING_HEADERS, ...more]);
}

/** Request headers that frame the request or concern one hop only: baton sets or drops them itself. */
const REQUEST_FRAMING = framingHeaders('expect', 'proxy-authorization', 'proxy-authenticate', 'http2-settings');
/** Response headers that frame the response or concern one hop only. */
const RESPONSE_FRAMING = framingHeaders('proxy-authenticate');

/** One configured header: its name as written and its value ('' removes it). */
export type HeaderOp = readonly [name: string, value: string];

export { isToken };

/** The problem with a header value, or null. */
export function valueProblem(value: string): string | null {
  if (FIELD_VALUE.test(value)) return null;
  const bad = [...value].find((c) => !FIELD_VALUE.test(c)) ?? '';
  const code = bad.codePointAt(0) ?? 0;
  const what =
    code === 13
      ? 'CR'
      : code === 10
        ? 'LF'
        : code === 0
          ? 'NUL'
          : `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
  return `contains ${what}: header values may hold tabs, spaces, visible ASCII and bytes 0x80-0xFF only`;
}

/** Problems of a header map option (`at`: its option name), for the request or the response. */
export function headerMapProblems(map: Record<string, string>, kind: 'request' | 'response', at: string): string[] {
  const problems: string[] = [];
  const framing = kind === 'request' ? REQUEST_FRAMING : RESPONSE_FRAMING;
  const seen = new Set<string>();
  for (const [name, value] of Object.entries(map)) {
    const path = `${at}.${name}`;
    if (!isToken(name)) {
      problems.push(`${path}: ${JSON.stringify(name)} is not a header name (an HTTP token)`);
      continue;
    }
    const lower = name.toLowerCase();
    if (seen.has(lower)) problems.push(`${path}: set twice (header names are case-insensitive)`);
    seen.add(lower);
    if (framing.has(lower)) {
      problems.push(`${path}: ${name} frames the ${kind} or concerns one hop only; baton sets it itself`);
      continue;
    }
    const bad = valueProblem(value);
    if (bad !== null) problems.push(`${path}: the value ${bad}`);
    else if (kind === 'request' && lower === 'host' && value !== '' && !HOST_VALUE.test(value)) {
      problems.push(`${path}: ${JSON.stringify(value)} is not a host name or address with an optional port`);
    }
  }
  return problems;
}

/** A checked header map as a list of operations, in config order. */
export function headerOps(map: Record<string, string>): HeaderOp[] {
  return Object.entries(map);
}

/** The Host a customRequestHeaders map sets (Traefik: req.Host = value), or null. "" does not remove Host
 *  (in Traefik it deletes nothing, Host not being in the header map). */
export function hostOverride(ops: readonly HeaderOp[]): string | null {
  for (const [name, value] of ops) if (value !== '' && name.toLowerCase() === 'host') return value;
  return null;
}

/** Applies customRequestHeaders to the upstream request's headers. */
export function applyRequestHeaders(h: HeaderMap, ops: readonly HeaderOp[]): void {
  for (const [name, value] of ops) {
    if (value !== '') h.set(name, value);
    else if (name.length !== 4 || name.toLowerCase() !== 'host') h.delete(name);
  }
}

/** Applies customResponseHeaders to a response's headers. */
export function applyResponseHeaders(h: HeaderMap, ops: readonly HeaderOp[]): void {
  for (const [name, value] of ops) {
    if (value === '') h.delete(name);
    else h.set(name, value);
  }
}

/** The first field of `name` (Go's Header.Get), or ''. */
export function first(h: HeaderMap, name: string): string {
  const all = h.getAll(name);
  return all.length === 0 ? '' : all[0];
}

/** A HeaderMap over a plain record, for the headers of an answer the middleware makes itself (ctx.respond). */
export class RecordHeaders implements HeaderMap {
  readonly #fields = new Map<string, [string, string]>();

  get(name: string): string | undefined {
    return this.#fields.get(name.toLowerCase())?.[1];
  }
  getAll(name: string): string[] {
    const f = this.#fields.get(name.toLowerCase());
    return f === undefined ? [] : [f[1]];
  }
  has(name: string): boolean {
    return this.#fields.has(name.toLowerCase());
  }
  set(name: string, value: string): void {
    this.#fields.set(name.toLowerCase(), [name, value]);
  }
  append(name: string, value: string): void {
    const old = this.get(name);
    this.set(name, old === undefined ? value : `${old}, ${value}`);
  }
  delete(name: string): void {
    this.#fields.delete(name.toLowerCase());
  }
  *entries(): IterableIterator<[string, string]> {
    for (const [name, value] of this.#fields.values()) yield [name, value];
  }
  toRecord(): Record<string, string> {
    return Object.fromEntries(this.entries());
  }
}
