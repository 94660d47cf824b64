// The rewrite middlewares (src/middleware/rewrite/): redirectScheme, redirectRegex, stripPrefix, stripPrefixRegex,
// addPrefix, replacePath, replacePathRegex. Table tests of the pure parts and of each type's hook on a fake request
// context; expected values follow Traefik's own tests (pkg/middlewares/{redirect,stripprefix,...}/*_test.go).
// Hostile: CR/LF in replacements, regexes that would backtrack catastrophically, redirect loops, invalid targets.
import t from 'tap';
import { REWRITE_TYPES } from '../src/middleware/rewrite/index.ts';
import {
  clientScheme,
  encodeLocation,
  encodeUnsafe,
  goReplaceAll,
  isCleanPath,
  locationProblem,
  normalizePrefix,
  pathTextProblem,
  redirectDecision,
  redirectStatus,
  requestAuthority,
  rewrittenPathProblem,
  sameResource,
  splitAuthority,
  stripPrefixOf,
  stripRegexOf,
} from '../src/middleware/rewrite/pure.ts';
import { linearRegExp } from '../src/middleware/regex.ts';
import { BuiltinTypes, fakeEnv, FakeHeaders, fakeRequest } from './fixtures/middleware.ts';

const types = new BuiltinTypes(REWRITE_TYPES);

/** The problems of a definition, as the config check reports them. */
const problems = (type: string, raw: Record<string, unknown>) => types.problems(type, raw);

const { env, warnings } = fakeEnv('rw@file');

interface Req {
  method?: string;
  /** headers besides those baton sets (Host, X-Forwarded-Host/-Proto) */
  headers?: Array<[string, string]>;
  /** X-Forwarded-Proto as a trusted peer sent it (else baton's own: the scheme) */
  xfp?: string;
}

/** A request for `url` ("http://host[:port]/path?query") as a middleware sees it on baton. */
function ctxOf(url: string, req: Req = {}) {
  const m = /^(https?):\/\/([^/?]*)([^?]*)(?:\?(.*))?$/.exec(url)!;
  const authority = m[2];
  const ctx = fakeRequest({
    method: req.method ?? 'GET',
    host: authority.replace(/:\d+$/, '').toLowerCase(),
    path: m[3] === '' ? '/' : m[3],
    query: m[4] ?? '',
    headers: [
      ['host', authority],
      ['x-forwarded-host', authority],
      ['x-forwarded-proto', req.xfp ?? m[1]],
      ...(req.headers ?? []),
    ],
    scheme: m[1] as 'http' | 'https',
  });
  return { ctx, answers: ctx.answers };
}

/** Runs one request through a configured middleware: its answer (or null: passed on) and the request after. */
function run(type: string, raw: Record<string, unknown>, url: string, req: Req = {}) {
  const h = types.create(type, raw, env);
  const { ctx, answers } = ctxOf(url, req);
  const r = h.onRequest!(ctx);
  if (r !== undefined) throw new Error('rewrite hooks are synchronous');
  if (answers.length > 1) throw new Error('more than one answer');
  return { answer: answers[0] ?? null, ctx };
}

// ── Go's ReplaceAllString ──────────────────────────────────────────────────────────────────────────────────────

t.test('goReplaceAll follows Go (empty matches after a match ignored, $ expansion)', async (t) => {
  const cases: Array<[string, string, string, string | null]> = [
    ['a*', 'baaac', '-', '-b-c-'],
    ['x*', 'abc', '-', '-a-b-c-'],
    ['a', 'banana', '<$0>', 'b<a>n<a>n<a>'],
    ['^/foo/(.*)', '/foo/bar', '/x/$1', '/x/bar'],
    ['(?P<first>\\w+)/(\\w+)', 'ab/cd', '${2}/${first}', 'cd/ab'],
    ['(a)', 'a', '$1x', ''], // $1x is the group named "1x": empty
    ['(a)', 'a', '${1}x', 'ax'],
    ['(a)', 'a', '$$1', '$1'],
    ['/whoami', '/whoami/and/whoami', '/who-am-i', '/who-am-i/and/who-am-i'],
    ['nomatch', '/abc', '/x', null],
    ['^', '/abc', '/p', '/p/abc'],
    ['$', '/abc', '/', '/abc/'],
  ];
  for (const [src, input, tpl, want] of cases) {
    const re = linearRegExp(src, 'g') as RegExp;
    t.equal(goReplaceAll(re, input, tpl), want, `${src} on ${input} → ${tpl}`);
    t.equal(re.lastIndex, 0, 'lastIndex reset');
  }
});

t.test('catastrophic patterns run in linear time, or are refused', async (t) => {
  const long = 'a'.repeat(100_000) + '!';
  for (const src of ['(a+)+$', '(a|aa)*b', '(a*)*c', '(x+x+)+y', '^(\\w+\\s?)*$']) {
    const re = linearRegExp(src, 'g');
    t.type(re, RegExp, `${src} compiles for the linear engine`);
    const started = performance.now();
    goReplaceAll(re as RegExp, long, 'z');
    t.ok(performance.now() - started < 2000, `${src} on 100k characters in under 2 s`);
  }
  // what the linear engine cannot hold is refused when the config is read, never tried on a request
  for (const src of ['(.*a){20}', '((a{100}){100}){100}']) {
    const re = linearRegExp(src, 'g');
    if (typeof re === 'string') {
      t.match(problems('replacePathRegex', { regex: src }), [/^regex: /], `${src} refused at config time`);
      continue;
    }
    const started = performance.now();
    goReplaceAll(re, long, 'z');
    t.ok(performance.now() - started < 2000, `${src} on 100k characters in under 2 s`);
  }
  for (const [src, why] of [
    ['(a+)\\1', /backtracking/],
    ['(?=a)a', /backtracking/],
    ['(?<!a)b', /backtracking|invalid/],
    ['a{1001}', /at most 1000/],
    ['(?U)a+', /not supported/],
    ['x'.repeat(2001), /longer than/],
    ['(unclosed', /invalid regular expression/],
  ] as const) {
    const p = problems('replacePathRegex', { regex: src, replacement: '/x' });
    t.equal(p.length, 1, `${src.slice(0, 20)} refused`);
    t.match(p[0], why);
    t.match(p[0], /^regex: /, 'the problem names the option');
  }
  // the same through a real request: a hostile path against a nested quantifier answers at once
  const started = performance.now();
  const { answer, ctx } = run(
    'replacePathRegex',
    { regex: '^/(a+)+$', replacement: '/x' },
    `http://a.test/${'a'.repeat(50_000)}!`,
  );
  t.equal(answer, null);
  t.equal(ctx.path.length, 50_002, 'no match: the path is unchanged');
  t.ok(performance.now() - started < 2000);
});

// ── redirects: pure parts ──────────────────────────────────────────────────────────────────────────────────────

t.test('redirect status as Traefik: GET 302/301, every other method (HEAD too) 307/308', async (t) => {
  const cases: Array<[string, boolean, number]> = [
    ['GET', false, 302],
    ['GET', true, 301],
    ['HEAD', false, 307],
    ['HEAD', true, 308],
    ['POST', false, 307],
    ['POST', true, 308],
    ['DELETE', true, 308],
  ];
  for (const [method, permanent, want] of cases)
    t.equal(redirectStatus(method, permanent), want, `${method} ${permanent}`);
});

t.test('authority, scheme and splitting as Traefik reads req.Host and X-Forwarded-Proto', async (t) => {
  t.same(splitAuthority('a.test:8080'), { host: 'a.test', port: ':8080' });
  t.same(splitAuthority('a.test'), { host: 'a.test', port: '' });
  t.same(splitAuthority('[::1]:80'), { host: '[::1]', port: ':80' });
  t.same(splitAuthority('[::1]'), { host: '[::1]', port: '' });
  const h = (list: Array<[string, string]>) => new FakeHeaders(list);
  t.equal(requestAuthority('a.test', h([['host', 'A.test:8000']])), 'A.test:8000', 'the Host as sent');
  t.equal(
    requestAuthority(
      'a.test',
      h([
        ['host', '127.0.0.1:9000'],
        ['x-forwarded-host', 'a.test:8000'],
      ]),
    ),
    'a.test:8000',
    'Host rewritten for the upstream: X-Forwarded-Host',
  );
  t.equal(
    requestAuthority(
      'a.test',
      h([
        ['host', '10.0.0.1'],
        ['x-forwarded-host', 'evil.test:1'],
      ]),
    ),
    'a.test',
    'neither agrees with the routed host: the host alone',
  );
  const schemes: Array<['http' | 'https', string | undefined, string]> = [
    ['http', undefined, 'http'],
    ['http', 'https', 'https'],
    ['http', 'HTTPS', 'https'],
    ['http', 'wss', 'https'],
    ['https', 'ws', 'http'],
    ['https', 'http', 'http'],
    ['http', 'bar', 'http'],
    ['https', '', 'https'],
  ];
  for (const [s, xfp, want] of schemes) t.equal(clientScheme(s, xfp), want, `${s} + ${xfp}`);
});

t.test('redirect decisions: loops refused, invalid targets 502, Location encoded', async (t) => {
  const same: Array<[string, string]> = [
    ['http://a.test/x', 'http://a.test/x'],
    ['http://a.test/x', 'HTTP://A.TEST/x'],
    ['http://a.test/x', 'http://a.test:80/x'],
    ['https://a.test/x', 'https://a.test:443/x'],
    ['http://a.test/x', 'http://a.test/x#top'],
    ['http://a.test/x', 'http://a.test/y/../x'],
    ['http://a.test/x?q=1', '/x?q=1'],
    ['http://a.test/x', ''],
  ];
  for (const [from, to] of same) {
    t.ok(sameResource(from, to) || from === to, `${to} is ${from}`);
    t.equal(redirectDecision('GET', false, from, to), null, `no redirect from ${from} to ${JSON.stringify(to)}`);
  }
  t.notOk(sameResource('http://a.test/x', 'https://a.test/x'));
  t.notOk(sameResource('http://a.test/x', 'http://a.test:8080/x'));
  t.notOk(sameResource('http://a.test/x', 'http://a.test/x?'));
  t.same(redirectDecision('GET', true, 'http://a.test/', 'https://a.test/'), {
    status: 301,
    location: 'https://a.test/',
  });
  const invalid = [
    'http://192.168.0.%31/',
    'http://a.test:abc/',
    'http://a b/',
    'http://a.test/%zz',
    'http://a/\r\nx: y',
  ];
  for (const to of invalid) {
    t.ok(locationProblem(to), `${JSON.stringify(to)} does not parse`);
    t.equal(redirectDecision('GET', false, 'http://a.test/', to)?.status, 502);
  }
  t.equal(locationProblem('https://a.test:8443/x?y=%20#f'), null);
  t.equal(locationProblem('/relative/path'), null);
  t.equal(encodeLocation('http://a.test/a b'), 'http://a.test/a%20b');
  t.equal(encodeLocation('http://a.test/\u00c3\u00a9'), 'http://a.test/%C3%A9', 'Latin-1 chars are request bytes');
  t.equal(encodeLocation('http://a.test/€'), 'http://a.test/%E2%82%AC');
});

// ── redirectScheme ─────────────────────────────────────────────────────────────────────────────────────────────

t.test('redirectScheme: Traefik’s table', async (t) => {
  const cases: Array<[string, Record<string, unknown>, string, Req, number, string?]> = [
    ['HTTP to HTTPS', { scheme: 'https' }, 'http://foo', {}, 302, 'https://foo/'],
    ['with X-Forwarded-Proto http', { scheme: 'https' }, 'http://foo', { xfp: 'http' }, 302, 'https://foo/'],
    ['with X-Forwarded-Proto https', { scheme: 'https' }, 'http://foo', { xfp: 'https' }, 0],
    ['with X-Forwarded-Proto unknown', { scheme: 'https' }, 'http://foo', { xfp: 'bar' }, 302, 'https://foo/'],
    ['with X-Forwarded-Proto ws', { scheme: 'https' }, 'http://foo', { xfp: 'ws' }, 302, 'https://foo/'],
    ['with X-Forwarded-Proto wss', { scheme: 'https' }, 'http://foo', { xfp: 'wss' }, 0],
    ['HTTP with port to HTTPS without port', { scheme: 'https' }, 'http://foo:8080', {}, 302, 'https://foo/'],
    [
      'HTTP without port to HTTPS with port',
      { scheme: 'https', port: '8443' },
      'http://foo',
      {},
      302,
      'https://foo:8443/',
    ],
    [
      'HTTP with port to HTTPS with port',
      { scheme: 'https', port: '8443' },
      'http://foo:8000',
      {},
      302,
      'https://foo:8443/',
    ],
    [
      'HTTPS with port to HTTPS with port',
      { scheme: 'https', port: '8443' },
      'https://foo:8000',
      {},
      302,
      'https://foo:8443/',
    ],
    ['HTTPS with port to HTTPS without port', { scheme: 'https' }, 'https://foo:8000', {}, 302, 'https://foo/'],
    ['already https, path kept', { scheme: 'https' }, 'https://foo:8000/theother', {}, 302, 'https://foo/theother'],
    ['permanent', { scheme: 'https', port: '8443', permanent: true }, 'http://foo', {}, 301, 'https://foo:8443/'],
    ['to HTTP 80', { scheme: 'http', port: '80' }, 'http://foo:80', {}, 0],
    ['to HTTPS 443', { scheme: 'https', port: '443' }, 'https://foo:443', {}, 0],
    ['already HTTPS', { scheme: 'https' }, 'https://foo/x?y=1', {}, 0],
    ['already HTTPS on the target port', { scheme: 'https', port: '8443' }, 'https://foo:8443/x', {}, 0],
    ['HTTP to wss', { scheme: 'wss', port: '9443' }, 'http://foo', {}, 302, 'wss://foo:9443/'],
    ['HTTP with port to wss', { scheme: 'wss' }, 'http://foo:5678', {}, 302, 'wss://foo/'],
    ['HTTP on 443 to HTTPS', { scheme: 'https' }, 'http://foo:443', {}, 302, 'https://foo/'],
    ['HTTP port redirection', { scheme: 'http', port: '8181' }, 'http://foo:8080', {}, 302, 'http://foo:8181/'],
    ['HTTPS on 80 to HTTPS', { scheme: 'https' }, 'https://foo:80', {}, 302, 'https://foo/'],
    ['IPv6', { scheme: 'https' }, 'http://[::1]', {}, 302, 'https://[::1]/'],
    ['IPv6 with port', { scheme: 'https', port: '8443' }, 'http://[::1]', {}, 302, 'https://[::1]:8443/'],
    ['IPv6 on 80', { scheme: 'https' }, 'http://[::1]:80', {}, 302, 'https://[::1]/'],
    ['IPv6 on 80 with port', { scheme: 'https', port: 8443 }, 'http://[::1]:80', {}, 302, 'https://[::1]:8443/'],
    ['POST keeps its method', { scheme: 'https' }, 'http://foo/buy', { method: 'POST' }, 307, 'https://foo/buy'],
    ['POST permanent', { scheme: 'https', permanent: true }, 'http://foo', { method: 'POST' }, 308, 'https://foo/'],
    ['HEAD (Traefik: not GET)', { scheme: 'https' }, 'http://foo', { method: 'HEAD' }, 307, 'https://foo/'],
    ['query kept', { scheme: 'https' }, 'http://foo/a/b?c=d&e', {}, 302, 'https://foo/a/b?c=d&e'],
    ['scheme written in capitals', { scheme: 'HTTPS' }, 'https://foo/x', {}, 0],
    ['host case kept', { scheme: 'https' }, 'http://Foo.Test/x', {}, 302, 'https://Foo.Test/x'],
  ];
  for (const [name, raw, url, req, status, location] of cases) {
    const { answer } = run('redirectScheme', raw, url, req);
    if (status === 0) {
      t.equal(answer, null, `${name}: passed on`);
      continue;
    }
    t.equal(answer?.status, status, `${name}: status`);
    t.equal(answer?.headers.location, location, `${name}: Location`);
  }
  const { answer } = run('redirectScheme', { scheme: 'https' }, 'http://foo/');
  t.equal(answer?.body, 'Found', 'body: the status text');
  t.equal(run('redirectScheme', { scheme: 'https', permanent: true }, 'http://foo/').answer?.body, 'Moved Permanently');
});

t.test('redirectScheme: a Host rewritten for the upstream still redirects to the client’s host', async (t) => {
  const { answer } = run('redirectScheme', { scheme: 'https', port: '8443' }, 'http://a.test:8000/x', {});
  t.equal(answer?.headers.location, 'https://a.test:8443/x');
  const h = types.create('redirectScheme', { scheme: 'https' }, env);
  const { ctx, answers } = ctxOf('http://a.test:8000/x');
  ctx.headers.set('host', '127.0.0.1:9999'); // passHostHeader off
  void h.onRequest!(ctx);
  t.equal(answers[0].headers.location, 'https://a.test/x');
});

// ── redirectRegex ──────────────────────────────────────────────────────────────────────────────────────────────

t.test('redirectRegex: Traefik’s table', async (t) => {
  const cases: Array<[string, Record<string, unknown>, string, Req, number, string?]> = [
    [
      'simple redirection',
      { regex: '^(?:http?:\\/\\/)(foo)(\\.com)(:\\d+)(.*)$', replacement: 'https://${1}bar$2:443$4' },
      'http://foo.com:80',
      {},
      302,
      'https://foobar.com:443/',
    ],
    [
      'no match',
      { regex: '^(?:http?:\\/\\/)(foo)(\\.com)(:\\d+)(.*)$', replacement: 'https://${1}bar$2:443$4' },
      'http://bar.com:80',
      {},
      0,
    ],
    ['invalid rewritten URL', { regex: '^(.*)$', replacement: 'http://192.168.0.%31/' }, 'http://foo.com:80', {}, 502],
    [
      'permanent',
      { regex: '^http://', replacement: 'https://$1', permanent: true },
      'http://foo',
      {},
      301,
      'https://foo/',
    ],
    [
      'HTTPS to HTTP',
      { regex: 'https://foo', replacement: 'http://foo', permanent: true },
      'https://foo',
      {},
      301,
      'http://foo/',
    ],
    [
      'port to port',
      { regex: 'http://foo:80', replacement: 'https://foo:443' },
      'http://foo:80',
      {},
      302,
      'https://foo:443/',
    ],
    [
      'X-Forwarded-Proto is not looked at',
      { regex: 'http://foo:80', replacement: 'https://foo:443' },
      'http://foo:80',
      { xfp: 'https' },
      302,
      'https://foo:443/',
    ],
    [
      'HTTP to HTTP',
      { regex: 'http://foo:80', replacement: 'http://foo:88' },
      'http://foo:80',
      {},
      302,
      'http://foo:88/',
    ],
    ['POST', { regex: '^http://', replacement: 'https://$1' }, 'http://foo', { method: 'POST' }, 307, 'https://foo/'],
    [
      'POST permanent',
      { regex: '^http://', replacement: 'https://$1', permanent: true },
      'http://foo',
      { method: 'POST' },
      308,
      'https://foo/',
    ],
    ...['http://www.example.com/path', 'http://www.example.com:8080/path', 'https://www.example.com/path'].map(
      (url) =>
        [
          `www-redirect ${url}`,
          { regex: '(https?)://[^/:]+(:[0-9]+)?/(.*)', replacement: '$1://example.com$2/$3', permanent: true },
          url,
          {},
          301,
          url.replace('www.', ''),
        ] as [string, Record<string, unknown>, string, Req, number, string],
    ),
    [
      'query kept',
      { regex: '^http://a.test/(.*)', replacement: 'http://b.test/${1}' },
      'http://a.test/x?q=1',
      {},
      302,
      'http://b.test/x?q=1',
    ],
    ['to the same URL: passed on', { regex: '^(.*)$', replacement: '$1' }, 'http://a.test/x', {}, 0],
    [
      'to the same resource: passed on',
      { regex: '^http://a.test/', replacement: 'HTTP://a.test:80/' },
      'http://a.test/x',
      {},
      0,
    ],
    ['to a fragment of itself: passed on', { regex: '$', replacement: '#top' }, 'http://a.test/x', {}, 0],
    [
      'relative target',
      { regex: '^http://a.test/old/(.*)', replacement: '/new/$1' },
      'http://a.test/old/p',
      {},
      302,
      '/new/p',
    ],
    [
      'space in replacement encoded',
      { regex: '^http://a.test/x$', replacement: 'http://a.test/a b' },
      'http://a.test/x',
      {},
      302,
      'http://a.test/a%20b',
    ],
    [
      'UTF-8 replacement encoded',
      { regex: '^http://a.test/x$', replacement: 'http://a.test/é' },
      'http://a.test/x',
      {},
      302,
      'http://a.test/%C3%A9',
    ],
    [
      '(?i) flag',
      { regex: '(?i)^HTTP://A\\.TEST/(.*)', replacement: 'https://b.test/$1' },
      'http://a.test/Q',
      {},
      302,
      'https://b.test/Q',
    ],
  ];
  for (const [name, raw, url, req, status, location] of cases) {
    const { answer } = run('redirectRegex', raw, url, req);
    if (status === 0) {
      t.equal(answer, null, `${name}: passed on`);
      continue;
    }
    t.equal(answer?.status, status, `${name}: status`);
    if (status === 502) {
      t.equal(answer?.headers['x-baton-error'], 'bad_redirect');
      t.notOk(answer?.headers.location, 'no Location');
    } else t.equal(answer?.headers.location, location, `${name}: Location`);
  }
  t.ok(
    warnings.some((w) => /not a valid URL/.test(w)),
    'the invalid target is logged',
  );
});

t.test('hostile: an encoded CR/LF in the request never becomes a header line', async (t) => {
  const { answer } = run(
    'redirectRegex',
    { regex: '^http://a.test/(.*)', replacement: 'https://a.test/$1' },
    'http://a.test/x%0D%0ASet-Cookie:%20a=b?y=%0d%0a',
  );
  t.equal(answer?.status, 302);
  t.equal(answer?.headers.location, 'https://a.test/x%0D%0ASet-Cookie:%20a=b?y=%0d%0a');
  t.notMatch(answer?.headers.location ?? '', /[\r\n]/);
  for (const replacement of ['https://a.test/\r\nSet-Cookie: a=b', 'https://a.test/\n', 'x\u0000y', 'a\u007fb']) {
    const p = problems('redirectRegex', { regex: '.*', replacement });
    t.equal(p.length, 1, `${JSON.stringify(replacement)} refused`);
    t.match(p[0], /^replacement: contains a control character/);
  }
  for (const path of ['/a\r\nb', '/a\nX-Evil: 1']) {
    t.match(problems('replacePath', { path }), [/^path: .* contains a control character/]);
    t.match(problems('replacePathRegex', { regex: '.*', replacement: path }), [/^replacement: .*control/]);
    t.match(problems('addPrefix', { prefix: path }), [/^prefix: .*control/]);
    t.match(problems('stripPrefix', { prefixes: [path] }), [/^prefixes\[0\]: .*control/]);
  }
});

// ── paths: pure parts ──────────────────────────────────────────────────────────────────────────────────────────

t.test('rewritten paths: origin-form, and clean where Traefik requires it', async (t) => {
  const cases: Array<[string, boolean, boolean]> = [
    ['/', true, true],
    ['/a/b/', true, true],
    ['/a%2Fb', true, true],
    ['/a%08b', true, true],
    ['/caf%C3%A9', true, true],
    ['/a:b@c;d=e,f+g$h!i*j(k)l~m', true, true],
    ['', false, false],
    ['a/b', false, false],
    ['/a b', false, false],
    ['/a\r\nb', false, false],
    ['/a\tb', false, false],
    ['/a#b', false, false],
    ['/a?b', false, false],
    ['/a\\b', false, false],
    ['/a%zzb', false, false],
    ['/a%2', false, false],
    ['/a%00b', false, false],
    ['/a€', false, false],
    ['//a', true, false],
    ['/a//b', true, false],
    ['/./a', true, false],
    ['/../a', true, false],
    ['/a/..', true, false],
    ['/a/.', true, false],
    ['/a/%2e%2E/b', true, false],
    ['/a./b', true, true],
    ['/..a/b', true, true],
  ];
  for (const [p, valid, clean] of cases) {
    t.equal(rewrittenPathProblem(p, false) === null, valid, `${JSON.stringify(p)} valid: ${valid}`);
    t.equal(rewrittenPathProblem(p, true) === null, valid && clean, `${JSON.stringify(p)} clean: ${clean}`);
  }
  t.ok(isCleanPath('/a/b/'));
  t.notOk(isCleanPath('/a/%2E%2E'));
});

t.test('configured path texts: encoded as Go would, refused when no path may hold them', async (t) => {
  t.equal(encodeUnsafe('/a b/café/€'), '/a%20b/caf%C3%A9/%E2%82%AC');
  t.equal(encodeUnsafe('/plain'), '/plain');
  t.equal(normalizePrefix('/caf%c3%a9'), '/caf%C3%A9');
  t.equal(normalizePrefix('/%7Euser/%41'), '/~user/A', 'unreserved escapes decoded, as baton normalises paths');
  t.equal(normalizePrefix('/café'), '/caf%C3%A9');
  for (const [text, why] of [
    ['/a?b', /"\?"/],
    ['/a#b', /"#"/],
    ['/a\\b', /"\\"/],
    ['/a%zz', /two hex digits/],
    ['/a%00', /NUL/],
    ['/a\r\n', /control/],
  ] as const) {
    t.match(pathTextProblem(text), why, JSON.stringify(text));
  }
  t.equal(pathTextProblem('/a%2Fb$1${name}'), null);
});

t.test('stripPrefixOf and stripRegexOf: Traefik’s tables (paths as baton normalised them)', async (t) => {
  const prefixCases: Array<[string[], string, string | null, string?]> = [
    [[], '/noprefixes', null],
    [['/'], '/', '/', '/'],
    [['/stat'], '/stat', '/', '/stat'],
    [['/stat/'], '/stat/', '/', '/stat/'],
    [['/stat/'], '/stat/us', '/us', '/stat/'],
    [['/stat/'], '/status', null],
    [['/stat'], '/stat/', '/', '/stat'],
    [['/stat', '/stat/us'], '/stat/us', '/us', '/stat'],
    [['/mismatch', '/stat'], '/stat', '/', '/stat'],
    [['/stat'], '/status', '/us', '/stat'],
    [['/stat'], '/stat/a%2Fb', '/a%2Fb', '/stat'],
    [['/api/'], '/api/a%2Fb', '/a%2Fb', '/api/'],
  ];
  for (const [prefixes, path, want, prefix] of prefixCases) {
    const s = stripPrefixOf(path, prefixes);
    t.same(s, want === null ? null : { path: want, prefix }, `${prefixes.join(',')} on ${path}`);
  }
  const re = (...xs: string[]) => xs.map((x) => linearRegExp(x) as RegExp);
  const regexCases: Array<[string, string, string | null, string?]> = [
    ['/a/api/', '/a/test', null],
    ['/a/api/', '/a/api/', '/', '/a/api/'],
    ['/a/api/', '/a/api/test/', '/test/', '/a/api/'],
    ['/b/([a-z0-9]+)/', '/b/api/', '/', '/b/api/'],
    ['/b/([a-z0-9]+)/', '/b/api', null],
    ['/b/([a-z0-9]+)/', '/b/api2/test2', '/test2', '/b/api2/'],
    ['/c/[a-z0-9]+/[0-9]+/', '/c/api/123/test3', '/test3', '/c/api/123/'],
    ['/c/[a-z0-9]+/[0-9]+/', '/c/api/abc/test4', null],
    ['/a/api/', '/a/api/a%2Fb', '/a%2Fb', '/a/api/'],
    ['/api', '/x/api/y', null], // the match is not a prefix
    ['x*', '/abc', null], // empty match
  ];
  for (const [src, path, want, prefix] of regexCases) {
    t.same(stripRegexOf(path, re(src)), want === null ? null : { path: want, prefix }, `${src} on ${path}`);
  }
});

// ── path middlewares through their hooks ───────────────────────────────────────────────────────────────────────

/** [type, options, url, expected path (or 400), headers expected on the upstream request] */
type PathCase = [string, Record<string, unknown>, string, string | 400, Record<string, string[]>?];

t.test('path middlewares: what the upstream would get', async (t) => {
  const cases: PathCase[] = [
    [
      'stripPrefix',
      { prefixes: ['/api'] },
      'http://a.test/api/users?x=1',
      '/users',
      { 'x-forwarded-prefix': ['/api'] },
    ],
    ['stripPrefix', { prefixes: '/foo,/api' }, 'http://a.test/api', '/', { 'x-forwarded-prefix': ['/api'] }],
    ['stripPrefix', { prefixes: ['/api'] }, 'http://a.test/other', '/other', { 'x-forwarded-prefix': [] }],
    ['stripPrefix', { prefixes: ['/api'] }, 'http://a.test/apiv2/x', '/v2/x', { 'x-forwarded-prefix': ['/api'] }],
    ['stripPrefix', { prefixes: ['/api'] }, 'http://a.test/api./foo', 400],
    ['stripPrefix', { prefixes: ['/api'] }, 'http://a.test/api../foo', 400],
    ['stripPrefix', { prefixes: ['/api'], forceSlash: true }, 'http://a.test/api../foo', 400],
    ['stripPrefix', { prefixes: ['/api'] }, 'http://a.test/api//etc', 400],
    ['stripPrefix', { prefixes: ['/api'], forceSlash: 'false' }, 'http://a.test/api', '/'],
    [
      'stripPrefix',
      { prefixes: ['/café'] },
      'http://a.test/caf%C3%A9/x',
      '/x',
      { 'x-forwarded-prefix': ['/caf%C3%A9'] },
    ],
    [
      'stripPrefixRegex',
      { regex: ['/foo/[a-z0-9]+/[0-9]+/'] },
      'http://a.test/foo/abc/123/x',
      '/x',
      { 'x-forwarded-prefix': ['/foo/abc/123/'] },
    ],
    ['stripPrefixRegex', { regex: '/v[0-9]+' }, 'http://a.test/v2/items', '/items', { 'x-forwarded-prefix': ['/v2'] }],
    ['stripPrefixRegex', { regex: ['/a'] }, 'http://a.test/a./x', 400],
    ['stripPrefixRegex', { regex: ['/nope'] }, 'http://a.test/a/x', '/a/x', { 'x-forwarded-prefix': [] }],
    ['addPrefix', { prefix: '/a' }, 'http://a.test/b', '/a/b'],
    ['addPrefix', { prefix: 'a' }, 'http://a.test/', '/a/'],
    ['addPrefix', { prefix: '/a' }, 'http://a.test/b%2Fc', '/a/b%2Fc'],
    ['addPrefix', { prefix: '/my dir' }, 'http://a.test/x', '/my%20dir/x'],
    [
      'replacePath',
      { path: '/replacement-path' },
      'http://a.test/example',
      '/replacement-path',
      { 'x-replaced-path': ['/example'] },
    ],
    [
      'replacePath',
      { path: '/replacement-path' },
      'http://a.test/foo%2Fbar',
      '/replacement-path',
      { 'x-replaced-path': ['/foo%2Fbar'] },
    ],
    ['replacePath', { path: '/foo%2Fbar' }, 'http://a.test/path', '/foo%2Fbar'],
    [
      'replacePath',
      { path: '/path/%08bar' },
      'http://a.test/path/%08bar',
      '/path/%08bar',
      { 'x-replaced-path': ['/path/%08bar'] },
    ],
    ['replacePath', {}, 'http://a.test/x', '/', { 'x-replaced-path': ['/x'] }],
    [
      'replacePathRegex',
      { regex: '^/whoami/(.*)', replacement: '/who-am-i/$1' },
      'http://a.test/whoami/and/whoami',
      '/who-am-i/and/whoami',
      { 'x-replaced-path': ['/whoami/and/whoami'] },
    ],
    [
      'replacePathRegex',
      { regex: '/whoami', replacement: '/who-am-i' },
      'http://a.test/whoami/and/whoami',
      '/who-am-i/and/who-am-i',
    ],
    ['replacePathRegex', { regex: '/whoami', replacement: '' }, 'http://a.test/whoami/and/whoami', '/and'],
    ['replacePathRegex', { regex: '/whoami', replacement: ' ' }, 'http://a.test/whoami/and/whoami', '/and'],
    [
      'replacePathRegex',
      { regex: '/no-match', replacement: '/x' },
      'http://a.test/whoami',
      '/whoami',
      { 'x-replaced-path': [] },
    ],
    [
      'replacePathRegex',
      { regex: '(?i)^/downloads/([^/]+)/([^/]+)$', replacement: '/downloads/$1-$2' },
      'http://a.test/DOWNLOADS/src/source.go',
      '/downloads/src-source.go',
    ],
    ['replacePathRegex', { regex: '/aaa/bbb', replacement: '/foo%2Fbar' }, 'http://a.test/aaa/bbb', '/foo%2Fbar'],
    ['replacePathRegex', { regex: '/aaa%2Fbbb', replacement: '/foo/bar' }, 'http://a.test/aaa%2Fbbb', '/foo/bar'],
    ['replacePathRegex', { regex: '^/foo/(.*)', replacement: '/$1' }, 'http://a.test/foo/%08bar', '/%08bar'],
    ['replacePathRegex', { regex: '^/foo(.*)', replacement: '/$1' }, 'http://a.test/foo../bar', 400],
    ['replacePathRegex', { regex: '^/(.*)', replacement: '$1' }, 'http://a.test/x', 400], // no leading '/'
    ['replacePathRegex', { regex: 'F', replacement: 'Z' }, 'http://a.test/a%2Fb', 400], // a broken escape
    ['replacePathRegex', { regex: '^/x$', replacement: '/a//b' }, 'http://a.test/x', 400],
    ['replacePathRegex', { regex: '^/x$', replacement: '/a/%2e%2e/admin' }, 'http://a.test/x', 400],
  ];
  for (const [type, raw, url, want, headers] of cases) {
    const name = `${type} ${JSON.stringify(raw)} on ${url}`;
    const { answer, ctx } = run(type, raw, url);
    if (want === 400) {
      t.equal(answer?.status, 400, `${name}: 400`);
      t.equal(answer?.headers['x-baton-error'], 'bad_path');
      t.notOk(ctx.headers.has('x-forwarded-prefix') || ctx.headers.has('x-replaced-path'), `${name}: no header`);
      continue;
    }
    t.equal(answer, null, `${name}: forwarded`);
    t.equal(ctx.path, want, `${name}: path`);
    t.equal(ctx.query, /\?(.*)$/.exec(url)?.[1] ?? '', `${name}: query kept`);
    for (const [h, values] of Object.entries(headers ?? {})) t.same(ctx.headers.getAll(h), values, `${name}: ${h}`);
  }
});

t.test('chained path middlewares accumulate X-Forwarded-Prefix and X-Replaced-Path (Header.Add)', async (t) => {
  const make = (type: string, raw: Record<string, unknown>) => types.create(type, raw, env);
  const chain = [make('stripPrefix', { prefixes: ['/a'] }), make('stripPrefix', { prefixes: ['/b'] })];
  const { ctx } = ctxOf('http://a.test/a/b/c', { headers: [['X-Forwarded-Prefix', '/outer']] });
  for (const h of chain) void h.onRequest!(ctx);
  t.equal(ctx.path, '/c');
  t.same(ctx.headers.getAll('x-forwarded-prefix'), ['/outer', '/a', '/b']);
  const two = [make('replacePath', { path: '/one' }), make('replacePathRegex', { regex: 'one', replacement: 'two' })];
  const r = ctxOf('http://a.test/zero');
  for (const h of two) void h.onRequest!(r.ctx);
  t.equal(r.ctx.path, '/two');
  t.same(r.ctx.headers.getAll('x-replaced-path'), ['/zero', '/one']);
});

// ── options ────────────────────────────────────────────────────────────────────────────────────────────────────

t.test('options: Traefik’s names in any case, label strings, defaults, and clear problems', async (t) => {
  const ok: Array<[string, Record<string, unknown>]> = [
    ['redirectScheme', { scheme: 'https' }],
    ['redirectScheme', { Scheme: 'https', PORT: '8443', permanent: 'true' }],
    ['redirectScheme', { scheme: 'https', port: 443 }],
    ['redirectregex', { regex: '^http://a/(.*)', replacement: 'https://b/${1}', Permanent: 'false' }],
    ['stripprefix', { prefixes: '/a,/b', forceslash: 'true' }],
    ['stripPrefix', {}],
    ['stripPrefixRegex', { regex: '/v[0-9]+,/w' }],
    ['addPrefix', { prefix: '/api' }],
    ['replacePath', { path: '/x' }],
    ['replacePathRegex', { regex: '^/foo/(.*)', replacement: '/bar/$1' }],
  ];
  for (const [type, raw] of ok) t.same(problems(type, raw), [], `${type} ${JSON.stringify(raw)}`);
  const c = types.check('stripprefix', { prefixes: ' /a , /b ' });
  t.same((c.options as { prefixes: string[] }).prefixes, ['/a', '/b'], 'comma lists trimmed');
  const bad: Array<[string, Record<string, unknown>, RegExp]> = [
    ['redirectScheme', {}, /^scheme: required/],
    ['redirectScheme', { scheme: '' }, /^scheme: required/],
    ['redirectScheme', { scheme: 'ht tp' }, /^scheme: "ht tp" is not a URL scheme/],
    ['redirectScheme', { scheme: 'https', port: 'abc' }, /^port: expected a port number/],
    ['redirectScheme', { scheme: 'https', port: '70000' }, /^port: expected a port number/],
    ['redirectScheme', { scheme: 'https', port: '0' }, /^port: expected a port number/],
    ['redirectScheme', { scheme: 'https', permanent: 'yes' }, /^permanent: expected true or false/],
    ['redirectScheme', { scheme: 'https', porrt: '1' }, /^porrt: unknown option/],
    ['redirectRegex', { replacement: 'x' }, /^regex: required/],
    ['redirectRegex', { regex: '' }, /^regex: the regular expression is empty/],
    ['redirectRegex', { regex: '(a)\\1' }, /^regex: .*backtracking/],
    ['stripPrefix', { prefixes: ['/a?b'] }, /^prefixes\[0\]: .*"\?"/],
    ['stripPrefix', { prefixes: { a: 1 } }, /^prefixes: expected a list/],
    ['stripPrefixRegex', { regex: ['/ok', '(?=x)'] }, /^regex\[1\]: .*backtracking/],
    ['addPrefix', {}, /^prefix: required/],
    ['addPrefix', { prefix: '' }, /^prefix: required/],
    ['addPrefix', { prefix: '/a#b' }, /^prefix: .*"#"/],
    ['replacePath', { path: 'relative' }, /^path: "relative" does not start with "\/"/],
    ['replacePath', { path: '/a?b=1' }, /^path: .*would start a query/],
    ['replacePath', { path: '/a%zz' }, /^path: .*two hex digits/],
    ['replacePathRegex', { replacement: '/x' }, /^regex: required/],
    ['replacePathRegex', { regex: '^(.*', replacement: '/x' }, /^regex: invalid regular expression/],
    ['replacePathRegex', { regex: '.*', replacement: '/x?y' }, /^replacement: .*would start a query/],
    ['replacePathRegex', { regex: '.*', replacement: '/%$1' }, /^replacement: .*two hex digits/],
  ];
  for (const [type, raw, why] of bad) {
    const p = problems(type, raw);
    t.equal(p.length, 1, `${type} ${JSON.stringify(raw)}: one problem`);
    t.match(p[0], why, `${type} ${JSON.stringify(raw)}: ${p[0]}`);
  }
});

t.test('forceSlash is accepted with a deprecation warning; a prefix without "/" is warned about', async (t) => {
  warnings.length = 0;
  run('stripPrefix', { prefixes: ['api'], forceSlash: true }, 'http://a.test/x');
  t.ok(warnings.some((w) => /forceSlash is deprecated/.test(w)));
  t.ok(warnings.some((w) => /never matches/.test(w)));
});
