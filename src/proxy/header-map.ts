// The HeaderMap middlewares see (api.ts), over the flat [name, value, ...] lists baton sends: the upstream
// request's and the client response's. Names compare case-insensitively; what a middleware sets is checked, so no
// middleware or plugin can inject a header line or change the request's framing.
import { HeaderError } from '../errors.ts';
import type { HeaderMap } from '../middleware/api.ts';
import { FRAMING_HEADERS, isToken } from '../middleware/header-names.ts';

const BAD_VALUE = /[\r\n\0]/;

/** Names a middleware may not set, on a request or a response: framing and hop-by-hop (baton sets them itself).
 *  Content-Length may be deleted (e.g. by a body transform), never set. */
const FIXED: ReadonlySet<string> = new Set(FRAMING_HEADERS);

/** Whether the list's name `k` is `n` (lower-case), case-insensitively; the length test spares most lower-casing. */
const sameName = (k: string, n: string): boolean => k === n || (k.length === n.length && k.toLowerCase() === n);

export class FlatHeaders implements HeaderMap {
  /** the list itself: [name, value, ...]; names as sent */
  readonly list: string[];

  constructor(list: string[]) {
    this.list = list;
  }

  get(name: string): string | undefined {
    const n = name.toLowerCase();
    const l = this.list;
    let out: string | undefined;
    for (let i = 0; i < l.length; i += 2) {
      if (sameName(l[i], n)) out = out === undefined ? l[i + 1] : `${out}, ${l[i + 1]}`;
    }
    return out;
  }

  getAll(name: string): string[] {
    const n = name.toLowerCase();
    const out: string[] = [];
    for (let i = 0; i < this.list.length; i += 2) if (sameName(this.list[i], n)) out.push(this.list[i + 1]);
    return out;
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  set(name: string, value: string): void {
    const n = this.#check(name, value);
    this.#delete(n);
    this.list.push(n, value);
  }

  append(name: string, value: string): void {
    this.list.push(this.#check(name, value), value);
  }

  delete(name: string): void {
    this.#delete(name.toLowerCase());
  }

  /** Removes every field named `n` (lower-case); the list is rewritten only from the first match on. */
  #delete(n: string): void {
    const l = this.list;
    let w = 0;
    while (w < l.length && !sameName(l[w], n)) w += 2;
    for (let i = w; i < l.length; i += 2) {
      if (sameName(l[i], n)) continue;
      l[w] = l[i];
      l[w + 1] = l[i + 1];
      w += 2;
    }
    l.length = w;
  }

  *entries(): IterableIterator<[string, string]> {
    for (let i = 0; i < this.list.length; i += 2) yield [this.list[i], this.list[i + 1]];
  }

  /** Checks a name and value a middleware sets; returns the name lower-cased. */
  #check(name: string, value: string): string {
    if (typeof name !== 'string' || !isToken(name)) {
      throw new HeaderError(`invalid header name ${JSON.stringify(name)}`);
    }
    if (typeof value !== 'string' || BAD_VALUE.test(value)) {
      throw new HeaderError(`invalid value for header ${name}: CR, LF and NUL are not allowed`);
    }
    const n = name.toLowerCase();
    if (FIXED.has(n)) throw new HeaderError(`header ${name} is set by baton only`);
    return n;
  }
}
