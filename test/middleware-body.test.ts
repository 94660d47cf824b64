// compress and buffering, their pure parts: Accept-Encoding negotiation (q-values, `*`, identity), which responses
// qualify (content types, lengths, codings, ranges), option checks, retryExpression parsing and what it allows; the
// body transforms on their own (decision before the first output, decoding, streaming flushes, limits).
import { once } from 'node:events';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import t from 'tap';
import { negotiate, type Coding } from '../src/middleware/body/accept-encoding.ts';
import { HoldBody } from '../src/middleware/body/buffering.ts';
import {
  decide,
  type ResponseFacts,
  mediaType,
  typeAllowed,
  varyWithAcceptEncoding,
  type CompressRules,
} from '../src/middleware/body/compress-rules.ts';
import { CompressStream } from '../src/middleware/body/compress-stream.ts';
import { compressPlan } from '../src/middleware/body/compress.ts';
import { BODY_TYPES } from '../src/middleware/body/index.ts';
import { attemptsFor, parseRetryExpression, retryPlan, planAttempts } from '../src/middleware/body/retry-expression.ts';
import { builtinFactory } from '../src/middleware/compile.ts';

const TRAEFIK: Coding[] = ['gzip', 'br', 'zstd'];
const negotiation: Array<[string | undefined, Coding[], Coding | null, Coding | null]> = [
  [undefined, TRAEFIK, null, null], // absent: no compression (Traefik issue 9734)
  [undefined, TRAEFIK, 'br', 'br'], // absent: defaultEncoding
  ['', TRAEFIK, 'br', null], // empty: no coding wanted
  ['  ', TRAEFIK, null, null],
  ['gzip', TRAEFIK, null, 'gzip'],
  ['gzip, br', TRAEFIK, null, 'gzip'], // equal q: the server's order
  ['gzip, br', ['zstd', 'br', 'gzip'], null, 'br'],
  ['zstd, br, gzip', TRAEFIK, null, 'gzip'],
  ['gzip, deflate, br, zstd', ['zstd', 'br', 'gzip'], null, 'zstd'], // curl --compressed
  ['br;q=0.9, gzip;q=0.8', TRAEFIK, null, 'br'],
  ['gzip;q=0.5, zstd;q=0.6, br;q=0.1', TRAEFIK, null, 'zstd'],
  ['gzip;q=0', TRAEFIK, null, null],
  ['gzip;q=0, br', TRAEFIK, null, 'br'],
  ['gzip;q=0.000, br;q=0.001', TRAEFIK, null, 'br'],
  ['*', TRAEFIK, null, 'gzip'],
  ['*', TRAEFIK, 'zstd', 'zstd'],
  ['gzip;q=0, *', TRAEFIK, null, 'br'], // `*` is what the header does not name
  ['gzip, *', TRAEFIK, 'zstd', 'gzip'], // named before matched by `*`
  ['*;q=0.5, zstd;q=0.2', TRAEFIK, null, 'gzip'],
  ['*;q=0', TRAEFIK, null, null],
  ['identity', TRAEFIK, null, null],
  ['identity;q=1, gzip;q=0.5', TRAEFIK, null, null],
  ['gzip;q=0.5, identity;q=0.5', TRAEFIK, null, 'gzip'], // identity last at equal q
  ['deflate, compress', TRAEFIK, null, null],
  ['br', ['gzip'], null, null],
  ['GZIP', TRAEFIK, null, 'gzip'],
  ['gzip;q=abc, br;q=0.1', TRAEFIK, null, 'br'], // a malformed q drops the item (Traefik: ParseFloat → 0)
  [' gzip ; q=0.5 , br ; Q=0.6 ', TRAEFIK, null, 'br'],
  ['br;level=3;q=0.7, gzip;q=0.6', TRAEFIK, null, 'br'],
  ['gzip;q=0.2, gzip;q=0.9, br;q=0.5', TRAEFIK, null, 'gzip'], // listed twice: the higher q
  [',, ,gzip,', TRAEFIK, null, 'gzip'],
];
t.test('Accept-Encoding negotiation', async (t) => {
  for (const [header, encodings, def, want] of negotiation) {
    t.equal(negotiate(header, encodings, def), want, `${JSON.stringify(header)} [${encodings}] default ${def}`);
  }
});

t.test('media types: lower-case, without parameters; malformed is null', async (t) => {
  const cases: Array<[string, string | null]> = [
    ['text/html; charset=utf-8', 'text/html'],
    [' Text/HTML ', 'text/html'],
    ['application/vnd.api+json', 'application/vnd.api+json'],
    ['text', 'text'],
    ['text/', null],
    ['/plain', null],
    ['', null],
    ['a b/c', null],
    ['text/html/x', null],
  ];
  for (const [v, want] of cases) t.equal(mediaType(v), want, JSON.stringify(v));
});

t.test('content types: excluded, included, always excluded, missing', async (t) => {
  const ex: CompressRules = { excluded: ['application/grpc', 'image/png'], included: [], minSize: 1024 };
  const inc: CompressRules = {
    excluded: ['application/grpc'],
    included: ['text/html', 'application/json'],
    minSize: 1024,
  };
  const cases: Array<[CompressRules, string | undefined, boolean]> = [
    [ex, 'text/html', true],
    [ex, 'IMAGE/PNG; x=1', false],
    [ex, 'application/grpc+proto', true],
    [ex, 'application/grpc', false],
    [ex, 'text/event-stream; charset=utf-8', false], // baton: SSE is never compressed
    [ex, undefined, true], // no type: compressed (no sniffing)
    [ex, 'not a type', false], // malformed: not compressed (Traefik)
    [inc, 'text/html; charset=utf-8', true],
    [inc, 'Application/JSON', true],
    [inc, 'text/plain', false],
    [inc, undefined, false], // includes set: an unknown type is not among them
    [{ ...inc, included: ['text/event-stream'] }, 'text/event-stream', false],
  ];
  for (const [rules, ct, want] of cases) t.equal(typeAllowed(rules, ct), want, `${rules.included} ${ct}`);
});

t.test('which responses compress: now, decide (unknown length), or why not', async (t) => {
  const rules = { excluded: ['application/grpc'], included: [], minSize: 1024 };
  const none = { contentEncoding: undefined, contentRange: undefined, cacheControl: undefined };
  const base: ResponseFacts = { status: 200, hasBody: true, contentType: 'text/plain', contentLength: '5000', ...none };
  const cases: Array<[Partial<ResponseFacts>, string]> = [
    [{}, 'now'],
    [{ contentLength: undefined }, 'decide'],
    [{ contentLength: '1024' }, 'now'],
    [{ contentLength: '1023' }, 'small'],
    [{ contentLength: '0' }, 'small'],
    [{ contentLength: 'x' }, 'decide'],
    [{ hasBody: false }, 'no-body'],
    [{ status: 204 }, 'no-body'],
    [{ status: 304 }, 'no-body'],
    [{ contentEncoding: 'gzip' }, 'encoded'],
    [{ contentEncoding: 'identity' }, 'encoded'],
    [{ status: 206, contentRange: 'bytes 0-99/5000' }, 'partial'],
    [{ contentRange: 'bytes */5000' }, 'partial'],
    [{ cacheControl: 'public, No-Transform' }, 'no-transform'],
    [{ cacheControl: 'no-transformation' }, 'now'],
    [{ contentType: 'application/grpc' }, 'type'],
    [{ contentType: 'text/event-stream' }, 'type'],
    [{ status: 404 }, 'now'],
    [{ status: 500, contentLength: undefined }, 'decide'],
  ];
  for (const [patch, want] of cases) t.equal(decide(rules, { ...base, ...patch }), want, JSON.stringify(patch));
});

t.test('Vary gets Accept-Encoding once', async (t) => {
  const cases = [
    [undefined, 'Accept-Encoding'],
    ['', 'Accept-Encoding'],
    ['Origin', 'Origin, Accept-Encoding'],
  ] as const;
  for (const [v, want] of cases) t.equal(varyWithAcceptEncoding(v), want);
  for (const v of ['Origin, accept-encoding', '*']) t.equal(varyWithAcceptEncoding(v), null, v);
});

const typeOf = (name: string) => builtinFactory(BODY_TYPES.find((x) => x.name === name)!);
function read(name: string, raw: Record<string, unknown>): { options: unknown; errors: string[] } {
  const errors: string[] = [];
  const options = typeOf(name).read(raw, errors);
  return { options, errors };
}

t.test('compress options: Traefik defaults and checks', async (t) => {
  const d = read('compress', {});
  t.same(d.errors, []);
  t.same(d.options, {
    excludedContentTypes: [],
    includedContentTypes: [],
    minResponseBodyBytes: 1024,
    encodings: ['gzip', 'br', 'zstd'],
    defaultEncoding: '',
  });
  const labels = read('compress', { encodings: 'zstd,BR', excludedcontenttypes: 'text/html; charset=utf-8,image/png' });
  t.same(labels.errors, []);
  const plan = compressPlan(labels.options as Parameters<typeof compressPlan>[0]);
  t.same(plan.encodings, ['zstd', 'br']);
  t.same(plan.rules.excluded, ['application/grpc', 'text/html', 'image/png']);
  t.equal(
    compressPlan({ ...(d.options as Parameters<typeof compressPlan>[0]), minResponseBodyBytes: 0 }).rules.minSize,
    1024,
  );
  const bad: Array<[Record<string, unknown>, RegExp]> = [
    [{ excludedContentTypes: ['text/html'], includedContentTypes: ['text/css'] }, /mutually exclusive/],
    [{ includedContentTypes: ['text/'] }, /includedContentTypes: "text\/" is not a media type/],
    [{ encodings: [] }, /at least one encoding/],
    [{ encodings: ['gzip', 'deflate'] }, /unsupported encoding "deflate"/],
    [{ encodings: ['gzip'], defaultEncoding: 'br' }, /defaultEncoding: "br" is not one of encodings/],
    [{ minResponseBodyBytes: -1 }, /minResponseBodyBytes/],
    [{ minResponseBodyBytes: 64 * 1024 * 1024 }, /minResponseBodyBytes/],
    [{ level: 5 }, /level: unknown option/],
  ];
  for (const [raw, re] of bad) t.match(read('compress', raw).errors.join('\n'), re, JSON.stringify(raw));
});

t.test('buffering options: Traefik defaults, the in-memory bound, retryExpression', async (t) => {
  const d = read('buffering', {});
  t.same(d.errors, []);
  t.same(d.options, {
    maxRequestBodyBytes: 0,
    memRequestBodyBytes: 1048576,
    maxResponseBodyBytes: 0,
    memResponseBodyBytes: 1048576,
    retryExpression: '',
  });
  t.same(
    read('buffering', { maxRequestBodyBytes: '2000000', retryExpression: 'IsNetworkError() && Attempts() < 2' }).errors,
    [],
  );
  t.same(read('buffering', { maxResponseBodyBytes: 64 * 1024 * 1024, memRequestBodyBytes: 5e9 }).errors, []);
  const bad: Array<[Record<string, unknown>, RegExp]> = [
    [{ maxRequestBodyBytes: 64 * 1024 * 1024 + 1 }, /maxRequestBodyBytes: at most 67108864 .*memory/],
    [{ maxResponseBodyBytes: 1e9 }, /maxResponseBodyBytes: at most/],
    [{ maxRequestBodyBytes: -1 }, /maxRequestBodyBytes: expected a whole number/],
    [{ memResponseBodyBytes: 'lots' }, /memResponseBodyBytes/],
    [{ retryExpression: 'ResponseCode() == 502' }, /retryExpression: ResponseCode\(\) is not supported/],
    [{ retryExpression: 'Attempts() < 3' }, /retryExpression: .*did not fail/],
  ];
  for (const [raw, re] of bad) t.match(read('buffering', raw).errors.join('\n'), re, JSON.stringify(raw));
});

t.test('retryExpression: attempts in all for a failed request, by method', async (t) => {
  const cases: Array<[string, number, number]> = [
    ['IsNetworkError() && Attempts() < 2', 2, 2], // Traefik's documented example: one replay
    ['IsNetworkError() && Attempts() <= 2', 3, 3],
    ['Attempts() < 3 && IsNetworkError()', 3, 3],
    ['  IsNetworkError()&&Attempts()<4  ', 4, 4],
    ['IsNetworkError()', 11, 11], // oxy's cap: 10 replays
    ['IsNetworkError() && Attempts() < 100', 11, 11],
    ['IsNetworkError() && Attempts() < 1', 1, 1],
    ['IsNetworkError() && Attempts() == 1', 2, 2],
    ['IsNetworkError() && Attempts() != 3', 3, 3],
    ['IsNetworkError() && Attempts() > 5', 1, 1],
    ['IsNetworkError() && Attempts() >= 1 && Attempts() < 3', 3, 3],
    ['IsNetworkError() && (Attempts() < 2 || RequestMethod() == "GET")', 11, 2],
    ['IsNetworkError() && RequestMethod() != "POST" && Attempts() < 4', 4, 1],
    ['IsNetworkError() && RequestMethod() == `GET` && Attempts() < 3', 3, 1],
    ['(IsNetworkError() && Attempts() < 2) || (IsNetworkError() && RequestMethod() == "GET" && Attempts() < 5)', 5, 2],
  ];
  for (const [src, get, post] of cases) {
    const plan = retryPlan(src);
    if ('error' in plan) {
      t.fail(`${src}: ${plan.error}`);
      continue;
    }
    t.equal(planAttempts(plan, 'GET'), get, `${src} GET`);
    t.equal(planAttempts(plan, 'POST'), post, `${src} POST`);
  }
});

t.test('retryExpression: refused with a reason', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['', /empty/],
    ['Attempts() < 3', /did not fail/], // oxy would replay every answer, even a 200
    ['IsNetworkError() || Attempts() < 3', /did not fail/],
    ['IsNetworkError() || RequestMethod() == "GET"', /did not fail/],
    ['ResponseCode() == 502', /ResponseCode\(\) is not supported/],
    ['IsNetworkError() && ResponseCode() != 200', /ResponseCode\(\) is not supported/],
    ['!IsNetworkError()', /negation/],
    ['Attempts()', /is a value, not a condition/],
    ['IsNetworkError() && 3 > Attempts()', /constant goes on the right/],
    ['IsNetworkError() < 3', /compares a function's value/],
    ['RequestMethod() < "GET"', /compared with == or !=/],
    ['IsNetworkError() && Attempts() < "3"', /compared with a whole number/],
    ['IsNetworkError() && RequestMethod() == GET', /compared with a quoted text/],
    ['IsNetworkError(', /takes no arguments|expected/],
    ['IsNetworkError(1)', /takes no arguments/],
    ['IsNetworkError() &&', /expected a function, got the end/],
    ['IsNetworkError() & Attempts() < 2', /unexpected "&"/],
    ['isNetworkError()', /unknown function isNetworkError/],
    ['IsNetworkError() Attempts()', /unexpected "Attempts"/],
    ['(IsNetworkError()', /expected "\)"/],
    ['IsNetworkError() && Attempts() < 2 < 3', /unexpected "<"/],
    ['('.repeat(40) + 'IsNetworkError()' + ')'.repeat(40), /too deeply nested/],
    ['IsNetworkError() && '.repeat(60) + 'IsNetworkError()', /longer than 1000/],
  ];
  for (const [src, re] of cases) {
    const plan = retryPlan(src);
    t.ok('error' in plan, `${src} is refused`);
    if ('error' in plan) t.match(plan.error, re, src);
  }
  // && binds tighter than ||, as in Go
  t.same(parseRetryExpression('IsNetworkError() || IsNetworkError() && Attempts() < 2'), {
    kind: 'or',
    left: { kind: 'network' },
    right: { kind: 'and', left: { kind: 'network' }, right: { kind: 'int', fn: 'Attempts', op: '<', value: 2 } },
  });
  const e = parseRetryExpression('IsNetworkError() && Attempts() < 3');
  t.equal('error' in e ? -1 : attemptsFor(e, 'PUT'), 3);
});

/** Runs chunks through a transform (each after `gapMs`), collecting output and when each output came. */
async function pump(s: NodeJS.ReadWriteStream, chunks: Buffer[], gapMs = 0) {
  const out: Buffer[] = [];
  const outAt: number[] = [];
  s.on('data', (d: Buffer) => {
    out.push(d);
    outAt.push(performance.now());
  });
  const done = once(s, 'end');
  const inAt: number[] = [];
  for (const c of chunks) {
    inAt.push(performance.now());
    s.write(c);
    if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
  }
  s.end();
  await done;
  return { body: Buffer.concat(out), outAt, inAt };
}

const DECODE: Record<Coding, (b: Buffer) => Buffer> = {
  gzip: (b) => zlib.gunzipSync(b),
  br: (b) => zlib.brotliDecompressSync(b),
  zstd: (b) => zlib.zstdDecompressSync(b),
};
const text = (n: number) => Buffer.from('baton compresses this line of text. '.repeat(Math.ceil(n / 36)).slice(0, n));

t.test('CompressStream: decides before its first output', async (t) => {
  for (const coding of ['gzip', 'br', 'zstd'] as const) {
    const events: string[] = [];
    const s = new CompressStream({
      coding,
      minSize: 1024,
      streaming: true,
      length: null,
      onStart: (c) => void events.push(`start ${c}`),
    });
    s.on('data', () => events.length === 1 && events.push('data'));
    const body = text(200_000);
    const r = await pump(s, [body.subarray(0, 600), body.subarray(600, 1500), body.subarray(1500)]);
    t.same(events.slice(0, 2), ['start true', 'data'], `${coding}: headers decided, then data`);
    t.ok(DECODE[coding](r.body).equals(body), `${coding} decodes to the body`);
    t.ok(r.body.length < body.length / 5, `${coding} compressed (${r.body.length} bytes)`);
  }
  const small: string[] = [];
  const s = new CompressStream({
    coding: 'gzip',
    minSize: 1024,
    streaming: true,
    length: null,
    onStart: (c) => void small.push(`${c}`),
  });
  const r = await pump(s, [text(300), text(400)]);
  t.same(small, ['false'], 'a body ending under minSize is not compressed');
  t.equal(r.body.toString(), text(300).toString() + text(400).toString());
  const empty: string[] = [];
  const e = new CompressStream({
    coding: 'br',
    minSize: 1024,
    streaming: true,
    length: null,
    onStart: (c) => void empty.push(`${c}`),
  });
  t.equal((await pump(e, [])).body.length, 0);
  t.same(empty, ['false'], 'an empty body: not compressed');
});

t.test('CompressStream: a streamed response is not held back (flushed per burst)', async (t) => {
  const s = new CompressStream({ coding: 'gzip', minSize: 1024, streaming: true, length: null, onStart: () => {} });
  const decoded: Buffer[] = [];
  const gunzip = zlib.createGunzip();
  gunzip.on('data', (d: Buffer) => decoded.push(d));
  s.on('data', (d: Buffer) => gunzip.write(d));
  s.write(Buffer.from('event one\n')); // under minSize: compressed from the end of this burst on
  await new Promise((r) => setTimeout(r, 100));
  t.equal(Buffer.concat(decoded).toString(), 'event one\n', 'the first chunk reached the client before the next');
  s.write(Buffer.from('event two\n'));
  await new Promise((r) => setTimeout(r, 100));
  t.equal(Buffer.concat(decoded).toString(), 'event one\nevent two\n');
  s.end();
  await once(s, 'end');
  gunzip.end();
  await once(gunzip, 'end');
  t.equal(Buffer.concat(decoded).toString(), 'event one\nevent two\n');
});

t.test('CompressStream: known length compresses from the first byte; errors destroy it', async (t) => {
  const starts: boolean[] = [];
  const body = text(5000);
  const s = new CompressStream({
    coding: 'zstd',
    minSize: 0,
    streaming: false,
    length: 5000,
    onStart: (c) => void starts.push(c),
  });
  const r = await pump(s, [body]);
  t.same(starts, [true]);
  t.ok(DECODE.zstd(r.body).equals(body));
  const broken = new CompressStream({ coding: 'gzip', minSize: 0, streaming: false, length: 10, onStart: () => {} });
  const err = once(broken, 'error');
  broken.destroy(new Error('upstream gone'));
  t.match((await err)[0], { message: 'upstream gone' });
});

t.test('HoldBody: the whole body after its end; over the limit fails before any output', async (t) => {
  const ok = new HoldBody(1000, null);
  const seen: number[] = [];
  ok.on('data', () => seen.push(seen.length));
  const r = await pump(ok, [text(400), text(600)], 5);
  t.equal(r.body.length, 1000);
  t.ok(r.outAt[0] >= r.inAt[1], 'nothing out before the end');
  for (const [declared, chunks] of [
    [null, [text(600), text(600)]],
    [5000, [text(10)]],
  ] as const) {
    const s = new HoldBody(1000, declared);
    const out: Buffer[] = [];
    s.on('data', (d: Buffer) => out.push(d));
    const err = once(s, 'error');
    Readable.from(chunks).pipe(s);
    t.match((await err)[0], { code: 'BATON_RESPONSE_TOO_LARGE' }, `declared ${declared}`);
    t.equal(out.length, 0, 'nothing was output');
  }
});
