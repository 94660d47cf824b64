// The request side of steered services: which generation (a split) or which child service (a weighted service
// with a sticky cookie) serves this request, read from its cookie, query or canary header, and the Set-Cookie a
// new client gets. Forward.start() calls steer() only for services whose `steered` flag is up, so plain services
// never parse a cookie. The decisions themselves are pure (src/upstream/split.ts).
import type { StickyCookie } from '../config/weighted-schema.ts';
import { chooseGeneration, GENERATION_COOKIE, generationCookie, valueOf } from '../upstream/split.ts';
import { pickerOf } from '../upstream/steering.ts';
import type { Service } from '../upstream/service.ts';
import type { Upstream } from '../upstream/upstream.ts';

/** What steer() needs from a Forward, and sets on it. */
export interface Steered {
  readonly req: { headers: NodeJS.Dict<string | string[]> };
  readonly service: Service;
  /** path + query */
  readonly path: string;
  /** the generation chosen (retries stay on it) */
  generation: string | null;
  /** a Set-Cookie value for the response, or null */
  setCookie: string | null;
}

/** The first upstream for a request to a steered service (null: none takes traffic). */
export function steer(f: Steered): Upstream | null {
  const s = f.service;
  if (s.options.weighted !== undefined) return steerWeighted(f, s);
  const split = s.split;
  if (split === null) return s.pick(null);
  const h = f.req.headers;
  const presented = cookieValue(h.cookie, GENERATION_COOKIE) ?? queryValue(f.path, GENERATION_COOKIE);
  const header = split.header !== null && h[split.header] !== undefined;
  const choice = chooseGeneration(split, { presented, header, random: s.nextDraw() }, s.hasGenerationOf);
  if (choice.generation === null) return s.pick(null);
  const u = s.pickAmong(null, choice.generation);
  if (u === null) return s.pick(null);
  f.generation = choice.generation;
  if (choice.assign) f.setCookie = generationCookie(choice.generation);
  return u;
}

function steerWeighted(f: Steered, s: Service): Upstream | null {
  const cookie = s.options.sticky?.cookie;
  if (cookie === undefined) return s.pick(null);
  const name = cookieValue(f.req.headers.cookie, cookie.name);
  if (name !== null && pickerOf(s)!.indexOf(name) !== -1) {
    const u = s.services?.get(name)?.pick(null) ?? null;
    if (u !== null) return u;
  }
  const u = s.pick(null);
  if (u !== null && s.lastChild !== name) f.setCookie = stickyCookie(cookie, s.lastChild);
  return u;
}

function cookieValue(header: string | string[] | undefined, name: string): string | null {
  if (header === undefined) return null;
  return valueOf(typeof header === 'string' ? header : header.join('; '), name, ';');
}

function queryValue(path: string, name: string): string | null {
  const q = path.indexOf('?');
  return q === -1 ? null : valueOf(path.slice(q + 1), name, '&');
}

/** Traefik's sticky cookie: `name=<child service>` with the configured attributes. */
export function stickyCookie(c: StickyCookie, value: string): string {
  const sameSite = c.sameSite === 'none' ? 'None' : c.sameSite === 'lax' ? 'Lax' : 'Strict';
  let v = `${c.name}=${value}; Path=/; SameSite=${sameSite}`;
  if (c.httpOnly) v += '; HttpOnly';
  if (c.secure || c.sameSite === 'none') v += '; Secure';
  if (c.maxAge > 0) v += `; Max-Age=${c.maxAge}`;
  return v;
}
