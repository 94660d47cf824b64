// What the compress middleware compresses (pure): media types compared as Traefik does (lower-case, parameters
// dropped — Traefik strips the configured types' parameters, so "text/html; charset=utf-8" matches any text/html),
// and the response checks of Traefik's compression handlers and klauspost's gzhttp.
import { isToken } from '../header-names.ts';

/** `application/grpc` is never compressed (Traefik); the request's Content-Type is checked against it too. */
export const ALWAYS_EXCLUDED = 'application/grpc';
/** baton: Server-Sent Events are never compressed (a compressor would hold events back). Traefik compresses them. */
export const EVENT_STREAM = 'text/event-stream';

/** The media type of a Content-Type value, lower-case and without parameters; null when malformed. As Go's
 *  mime.ParseMediaType, a single token ("text") is a media type too. */
export function mediaType(value: string): string | null {
  const semi = value.indexOf(';');
  const mt = (semi === -1 ? value : value.slice(0, semi)).trim().toLowerCase();
  const slash = mt.indexOf('/');
  if (slash === -1) return isToken(mt) ? mt : null;
  const [type, sub] = [mt.slice(0, slash), mt.slice(slash + 1)];
  return isToken(type) && isToken(sub) ? mt : null;
}

export interface CompressRules {
  /** media types never compressed (application/grpc and excludedContentTypes) */
  readonly excluded: readonly string[];
  /** when not empty: only these media types are compressed (includedContentTypes) */
  readonly included: readonly string[];
  /** minResponseBodyBytes */
  readonly minSize: number;
}

/** Whether a request's Content-Type turns compression off for its response (Traefik checks it against the
 *  excluded types, notably application/grpc). */
export function requestExcluded(rules: CompressRules, contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const mt = mediaType(contentType);
  return mt !== null && rules.excluded.includes(mt);
}

/** What the compress middleware looks at in a response. */
export interface ResponseFacts {
  status: number;
  /** false for HEAD, 1xx, 204, 304 */
  hasBody: boolean;
  contentEncoding: string | undefined;
  contentRange: string | undefined;
  contentType: string | undefined;
  contentLength: string | undefined;
  cacheControl: string | undefined;
}

/** 'now': compress (a known length of at least minSize); 'decide': the length is unknown, hold up to minSize
 *  bytes first; else why the response is passed as it is. */
export type Decision = 'now' | 'decide' | 'no-body' | 'encoded' | 'partial' | 'no-transform' | 'type' | 'small';

const NO_TRANSFORM = /(^|,)\s*no-transform\s*(,|$)/i;

export function decide(rules: CompressRules, r: ResponseFacts): Decision {
  if (!r.hasBody || r.status < 200 || r.status === 204 || r.status === 304) return 'no-body';
  // an upstream's own coding (even "identity") is left alone: never compressed twice
  if (r.contentEncoding !== undefined && r.contentEncoding.trim() !== '') return 'encoded';
  if (r.status === 206 || r.contentRange !== undefined) return 'partial';
  // baton: RFC 9110 §7.7 forbids a proxy to transform a no-transform response's content (Traefik ignores it)
  if (r.cacheControl !== undefined && NO_TRANSFORM.test(r.cacheControl)) return 'no-transform';
  if (!typeAllowed(rules, r.contentType)) return 'type';
  const len = r.contentLength !== undefined && /^\s*\d+\s*$/.test(r.contentLength) ? Number(r.contentLength) : null;
  if (len === null) return 'decide';
  return len >= rules.minSize && len > 0 ? 'now' : 'small';
}

/** Whether a response's Content-Type may be compressed. Without one: yes, unless includedContentTypes is set
 *  (baton does not sniff a type as gzhttp does). A malformed one: no (as Traefik). */
export function typeAllowed(rules: CompressRules, contentType: string | undefined): boolean {
  if (contentType === undefined || contentType.trim() === '') return rules.included.length === 0;
  const mt = mediaType(contentType);
  if (mt === null || mt === EVENT_STREAM || mt === ALWAYS_EXCLUDED) return false;
  if (rules.included.length > 0) return rules.included.includes(mt);
  return !rules.excluded.includes(mt);
}

/** The Vary value with Accept-Encoding added; null when it already names it (or is `*`). */
export function varyWithAcceptEncoding(vary: string | undefined): string | null {
  if (vary === undefined || vary.trim() === '') return 'Accept-Encoding';
  const names = vary.split(',').map((s) => s.trim().toLowerCase());
  if (names.includes('accept-encoding') || names.includes('*')) return null;
  return `${vary}, Accept-Encoding`;
}
