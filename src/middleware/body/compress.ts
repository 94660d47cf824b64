// Traefik's `compress` middleware: responses compressed with gzip, brotli or zstd (node:zlib), the coding chosen
// from the request's Accept-Encoding (accept-encoding.ts), the responses that qualify as Traefik's handlers decide
// (compress-rules.ts), the body streamed through a compressor that decides from its first bytes
// (compress-stream.ts).
//
// Options (Traefik's): excludedContentTypes, includedContentTypes (mutually exclusive), minResponseBodyBytes
// (default 1024; 0 means the default, as in Traefik), encodings (default gzip, br, zstd: the order is the server's
// preference), defaultEncoding (used when Accept-Encoding is absent, and first among the codings `*` matches).
//
// baton deviations (safety or correctness): text/event-stream and Cache-Control: no-transform responses are never
// compressed; a response without Content-Type is not sniffed (compressed unless includedContentTypes is set);
// minResponseBodyBytes is at most 16 MiB (that many bytes may be held per response before deciding).
import type { Handler, RequestContext, ResponseContext } from '../api.ts';
import { int, list, str } from '../options.ts';
import { defineType } from '../types.ts';
import { CODINGS, isCoding, negotiate, type Coding } from './accept-encoding.ts';
import {
  ALWAYS_EXCLUDED,
  decide,
  mediaType,
  requestExcluded,
  varyWithAcceptEncoding,
  type CompressRules,
} from './compress-rules.ts';
import { CompressStream } from './compress-stream.ts';

/** Traefik's defaultMinSize. */
export const DEFAULT_MIN_SIZE = 1024;
/** The most minResponseBodyBytes may be: bytes held per response while deciding. */
export const MAX_MIN_SIZE = 16 * 1024 * 1024;

const spec = {
  excludedContentTypes: list([]),
  includedContentTypes: list([]),
  minResponseBodyBytes: int(DEFAULT_MIN_SIZE, 0, MAX_MIN_SIZE),
  encodings: list([...CODINGS]),
  defaultEncoding: str(''),
};

interface CompressOptions {
  excludedContentTypes: string[];
  includedContentTypes: string[];
  minResponseBodyBytes: number;
  encodings: string[];
  defaultEncoding: string;
}

/** Problems across options (Traefik's New): each message names its option. */
export function checkCompress(o: CompressOptions): string[] {
  const errors: string[] = [];
  if (o.excludedContentTypes.length > 0 && o.includedContentTypes.length > 0) {
    errors.push('excludedContentTypes and includedContentTypes: mutually exclusive, set one of them');
  }
  for (const key of ['excludedContentTypes', 'includedContentTypes'] as const) {
    for (const t of o[key]) {
      if (mediaType(t) === null) errors.push(`${key}: ${JSON.stringify(t)} is not a media type (type/subtype)`);
    }
  }
  if (o.encodings.length === 0) errors.push(`encodings: at least one encoding (of ${CODINGS.join(', ')})`);
  for (const e of o.encodings) {
    if (!isCoding(e.toLowerCase()))
      errors.push(`encodings: unsupported encoding ${JSON.stringify(e)} (${CODINGS.join(', ')})`);
  }
  const def = o.defaultEncoding.trim().toLowerCase();
  if (def !== '' && !o.encodings.some((e) => e.toLowerCase() === def)) {
    errors.push(
      `defaultEncoding: ${JSON.stringify(o.defaultEncoding)} is not one of encodings (${o.encodings.join(', ')})`,
    );
  }
  return errors;
}

/** The rules and codings the options make (options already checked). */
export function compressPlan(o: CompressOptions): {
  rules: CompressRules;
  encodings: Coding[];
  defaultEncoding: Coding | null;
} {
  const types = (l: string[]) => [...new Set(l.map((t) => mediaType(t)!))];
  const encodings = [...new Set(o.encodings.map((e) => e.toLowerCase()).filter(isCoding))];
  const def = o.defaultEncoding.trim().toLowerCase();
  return {
    rules: {
      excluded: [ALWAYS_EXCLUDED, ...types(o.excludedContentTypes)],
      included: types(o.includedContentTypes),
      minSize: o.minResponseBodyBytes > 0 ? o.minResponseBodyBytes : DEFAULT_MIN_SIZE,
    },
    encodings,
    defaultEncoding: isCoding(def) ? def : null,
  };
}

/** Marks a request whose client accepts none of the codings (its response still gets Vary). */
const NONE = 'none';

export function compressHandler(o: CompressOptions): Handler {
  const { rules, encodings, defaultEncoding } = compressPlan(o);
  // per-instance key of the coding chosen for a request, in ctx.data
  const key = {};
  return {
    onRequest(ctx: RequestContext) {
      // Traefik leaves HEAD requests and requests of an excluded type (application/grpc) alone
      if (ctx.method === 'HEAD' || requestExcluded(rules, ctx.headers.get('content-type'))) return;
      ctx.data.set(key, negotiate(ctx.headers.get('accept-encoding'), encodings, defaultEncoding) ?? NONE);
    },
    onResponse(ctx: RequestContext, res: ResponseContext) {
      const chosen = ctx.data.get(key) as Coding | typeof NONE | undefined;
      if (chosen === undefined) return;
      const h = res.headers;
      const d = decide(rules, {
        status: res.status,
        hasBody: res.hasBody,
        contentEncoding: h.get('content-encoding'),
        contentRange: h.get('content-range'),
        contentType: h.get('content-type'),
        contentLength: h.get('content-length'),
        cacheControl: h.get('cache-control'),
      });
      if (d !== 'now' && d !== 'decide') return;
      // the representation depends on Accept-Encoding: caches must know, whichever coding this client gets
      const vary = varyWithAcceptEncoding(h.get('vary'));
      if (vary !== null) h.set('vary', vary);
      if (chosen === NONE) return;
      const length = d === 'now' ? Number(h.get('content-length')) : null;
      const stream = new CompressStream({
        coding: chosen,
        minSize: d === 'now' ? 0 : rules.minSize,
        streaming: d === 'decide',
        length,
        onStart(compressed) {
          if (!compressed) return;
          // before the first output: these are the headers sent
          h.set('content-encoding', chosen);
          h.delete('content-length');
          // a byte range of the uncompressed body means nothing in the compressed one (gzhttp drops it too)
          h.delete('accept-ranges');
        },
      });
      res.transformBody(stream);
    },
  };
}

export const COMPRESS = defineType({
  name: 'compress',
  spec,
  check: checkCompress,
  create: (o) => compressHandler(o),
});
