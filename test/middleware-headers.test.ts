// The headers middleware (src/middleware/headers/): CORS decisions and preflights, security headers over HTTP and
// HTTPS, custom headers, option checks and hostile values refused at config time. Expected values follow Traefik's
// own tests (pkg/middlewares/headers/*_test.go) and unrolled/secure v1.0.9.
import t from 'tap';
import {
  matchOrigin,
  preflightHeaders,
  responseCorsHeaders,
  isPreflight,
  type Cors,
} from '../src/middleware/headers/cors.ts';
import { applyRequestHeaders, headerMapProblems, valueProblem } from '../src/middleware/headers/custom.ts';
import { headersType, type HeadersOptions } from '../src/middleware/headers/headers.ts';
import { HEADERS_TYPES } from '../src/middleware/headers/index.ts';
import {
  compileSecure,
  hostAllowed,
  hostName,
  isSSL,
  requestHost,
  secureHeaders,
  type SecureOptions,
} from '../src/middleware/headers/secure.ts';
import {
  BuiltinTypes,
  fakeEnv,
  FakeHeaders,
  fakeRequest,
  fakeResponse,
  type Answer,
  type FakeRequestInit,
} from './fixtures/middleware.ts';

const types = new BuiltinTypes(HEADERS_TYPES);

function read(raw: Record<string, unknown>): { options: HeadersOptions; errors: string[] } {
  const c = types.read('headers', raw);
  return { options: c.options as HeadersOptions, errors: c.errors };
}

const { env, warnings } = fakeEnv('h@file');

/** Runs a request and its response through a configured headers middleware. */
function run(
  raw: Record<string, unknown>,
  req: FakeRequestInit,
  upstream: Array<[string, string]> = [],
): { answers: Answer[]; upstreamHeaders: FakeHeaders; response: FakeHeaders } {
  const { options, errors } = read(raw);
  if (errors.length > 0) throw new Error(errors.join('; '));
  const h = headersType.create(options, env);
  const ctx = fakeRequest(req);
  void h.onRequest!(ctx);
  const res = fakeResponse({ headers: upstream });
  if (ctx.answers.length === 0) void h.onResponse!(ctx, res);
  return { answers: ctx.answers, upstreamHeaders: ctx.headers, response: res.headers };
}

const cors = (c: Partial<Cors>): Cors => ({
  enabled: true,
  allowCredentials: false,
  allowHeaders: [],
  allowMethods: [],
  originList: [],
  originRegexes: [],
  exposeHeaders: [],
  maxAge: undefined,
  addVary: false,
  ...c,
});

t.test('matchOrigin', async (t) => {
  const cases: Array<[string, Partial<Cors>, string, string | null]> = [
    ['exact entry', { originList: ['https://foo.bar.org'] }, 'https://foo.bar.org', 'https://foo.bar.org'],
    ['not listed', { originList: ['https://foo.bar.org'] }, 'https://evil.org', null],
    ['wildcard', { originList: ['*'] }, 'https://foo.bar.org', '*'],
    [
      'wildcard with credentials echoes',
      { originList: ['*'], allowCredentials: true },
      'https://a.org',
      'https://a.org',
    ],
    ['wildcard, no Origin', { originList: ['*'] }, '', '*'],
    [
      'regex anchored',
      { originRegexes: [/^https?:\/\/([a-z]+)\.bar\.org$/] },
      'https://foo.bar.org',
      'https://foo.bar.org',
    ],
    ['regex partial match', { originRegexes: [/([a-z]+)\.bar/] }, 'https://foo.bar.org', 'https://foo.bar.org'],
    ['regex no match', { originRegexes: [/([a-z]+)\.bar\.org/] }, 'https://bar.org', null],
    ['list before regex', { originList: ['https://x.org'], originRegexes: [/x/] }, 'https://x.org', 'https://x.org'],
    ['nothing configured', {}, 'https://a.org', null],
  ];
  for (const [name, c, origin, want] of cases) t.equal(matchOrigin(cors(c), origin), want, name);
});

t.test('isPreflight', async (t) => {
  const c = cors({ allowMethods: ['GET'] });
  t.ok(isPreflight(c, 'OPTIONS', 'https://a.org', 'GET'));
  t.notOk(isPreflight(c, 'GET', 'https://a.org', 'GET'), 'not OPTIONS');
  t.notOk(isPreflight(c, 'OPTIONS', '', 'GET'), 'no Origin');
  t.notOk(isPreflight(c, 'OPTIONS', 'https://a.org', ''), 'no Access-Control-Request-Method');
  t.notOk(isPreflight({ ...c, enabled: false }, 'OPTIONS', 'https://a.org', 'GET'), 'no CORS option');
});

t.test('preflight headers (Traefik TestNewHeader_CORSPreflights)', async (t) => {
  const base = { allowMethods: ['GET', 'OPTIONS', 'PUT'], maxAge: 600 };
  const cases: Array<[string, Partial<Cors>, string, Record<string, string>]> = [
    [
      'simple',
      { ...base, originList: ['https://foo.bar.org'] },
      'origin',
      {
        'Access-Control-Allow-Methods': 'GET,OPTIONS,PUT',
        'Access-Control-Allow-Origin': 'https://foo.bar.org',
        'Access-Control-Max-Age': '600',
      },
    ],
    [
      'wildcard origin',
      { ...base, originList: ['*'] },
      'origin',
      {
        'Access-Control-Allow-Methods': 'GET,OPTIONS,PUT',
        'Access-Control-Allow-Origin': '*',
        'Access-Control-Max-Age': '600',
      },
    ],
    [
      'credentials',
      { ...base, originList: ['*'], allowCredentials: true },
      'origin',
      {
        'Access-Control-Allow-Credentials': 'true',
        'Access-Control-Allow-Methods': 'GET,OPTIONS,PUT',
        'Access-Control-Allow-Origin': 'https://foo.bar.org',
        'Access-Control-Max-Age': '600',
      },
    ],
    [
      'allow headers',
      { ...base, originList: ['*'], allowHeaders: ['origin', 'X-Forwarded-For'] },
      'origin',
      {
        'Access-Control-Allow-Headers': 'origin,X-Forwarded-For',
        'Access-Control-Allow-Methods': 'GET,OPTIONS,PUT',
        'Access-Control-Allow-Origin': '*',
        'Access-Control-Max-Age': '600',
      },
    ],
    [
      'no max age',
      { allowMethods: ['GET'], originList: ['*'] },
      '',
      { 'Access-Control-Allow-Methods': 'GET', 'Access-Control-Allow-Origin': '*' },
    ],
    [
      'wildcards with credentials echo the request',
      { allowMethods: ['*'], allowHeaders: ['*'], allowCredentials: true, originList: ['https://foo.bar.org'] },
      'x-a,x-b',
      {
        'Access-Control-Allow-Credentials': 'true',
        'Access-Control-Allow-Headers': 'x-a,x-b',
        'Access-Control-Allow-Methods': 'PATCH',
        'Access-Control-Allow-Origin': 'https://foo.bar.org',
      },
    ],
    [
      'wildcards without credentials stay "*"',
      { allowMethods: ['*'], allowHeaders: ['*'] },
      'x-a',
      { 'Access-Control-Allow-Headers': '*', 'Access-Control-Allow-Methods': '*' },
    ],
    [
      'wildcard headers with credentials, none requested: no Allow-Headers',
      { allowHeaders: ['*'], allowCredentials: true },
      '',
      { 'Access-Control-Allow-Credentials': 'true' },
    ],
    [
      'expose headers; "*" with credentials drops them',
      { exposeHeaders: ['X-A', 'X-B'], maxAge: 0 },
      '',
      { 'Access-Control-Expose-Headers': 'X-A,X-B', 'Access-Control-Max-Age': '0' },
    ],
    [
      'expose "*" with credentials',
      { exposeHeaders: ['*'], allowCredentials: true },
      '',
      { 'Access-Control-Allow-Credentials': 'true' },
    ],
    [
      'origin not allowed: no Allow-Origin',
      { originList: ['https://x.org'], maxAge: 5 },
      '',
      { 'Access-Control-Max-Age': '5' },
    ],
  ];
  for (const [name, c, acrh, want] of cases) {
    const method = name.startsWith('wildcards with') ? 'PATCH' : 'GET';
    t.same(Object.fromEntries(preflightHeaders(cors(c), 'https://foo.bar.org', method, acrh)), want, name);
  }
});

t.test('CORS headers on responses (Traefik TestNewHeader_CORSResponses)', async (t) => {
  const cases: Array<[string, Partial<Cors>, string, string, Record<string, string>]> = [
    [
      'simple',
      { originList: ['https://foo.bar.org'] },
      'https://foo.bar.org',
      '',
      { 'Access-Control-Allow-Origin': 'https://foo.bar.org' },
    ],
    ['wildcard', { originList: ['*'] }, 'https://foo.bar.org', '', { 'Access-Control-Allow-Origin': '*' }],
    ['no Origin, listed origins', { originList: ['https://foo.bar.org'] }, '', '', {}],
    [
      'credentials',
      { originList: ['*'], allowCredentials: true },
      'https://foo.bar.org',
      '',
      { 'Access-Control-Allow-Origin': 'https://foo.bar.org', 'Access-Control-Allow-Credentials': 'true' },
    ],
    [
      'expose',
      { originList: ['*'], exposeHeaders: ['origin', 'X-Forwarded-For'] },
      'https://foo.bar.org',
      '',
      { 'Access-Control-Allow-Origin': '*', 'Access-Control-Expose-Headers': 'origin,X-Forwarded-For' },
    ],
    [
      'vary added',
      { originList: ['https://foo.bar.org'], addVary: true },
      'https://foo.bar.org',
      '',
      {
        'Access-Control-Allow-Origin': 'https://foo.bar.org',
        Vary: 'Origin',
      },
    ],
    ['vary appended', { addVary: true }, '', 'Testing', { Vary: 'Testing,Origin' }],
    ['vary already Origin', { addVary: true }, '', 'Origin', {}],
    [
      'vary listing Origin among others is appended to (as Traefik)',
      { addVary: true },
      '',
      'A, Origin',
      { Vary: 'A, Origin,Origin' },
    ],
  ];
  for (const [name, c, origin, vary, want] of cases) {
    t.same(Object.fromEntries(responseCorsHeaders(cors(c), origin, vary)), want, name);
  }
});

const secureBase: SecureOptions = {
  allowedHosts: [],
  hostsProxyHeaders: [],
  sslProxyHeaders: {},
  stsSeconds: undefined,
  stsIncludeSubdomains: false,
  stsPreload: false,
  forceSTSHeader: false,
  frameDeny: false,
  customFrameOptionsValue: undefined,
  contentTypeNosniff: false,
  browserXssFilter: false,
  customBrowserXSSValue: undefined,
  contentSecurityPolicy: undefined,
  contentSecurityPolicyReportOnly: undefined,
  publicKey: undefined,
  referrerPolicy: undefined,
  permissionsPolicy: undefined,
  isDevelopment: false,
};

t.test('security headers over HTTP and HTTPS', async (t) => {
  const sts = { stsSeconds: 31536000 };
  const cases: Array<[string, Partial<SecureOptions>, Record<string, string>, Record<string, string>]> = [
    ['nothing', {}, {}, {}],
    ['HSTS only over HTTPS', sts, {}, { 'Strict-Transport-Security': 'max-age=31536000' }],
    [
      'HSTS forced over HTTP',
      { ...sts, forceSTSHeader: true },
      { 'Strict-Transport-Security': 'max-age=31536000' },
      { 'Strict-Transport-Security': 'max-age=31536000' },
    ],
    [
      'includeSubDomains and preload',
      { ...sts, stsIncludeSubdomains: true, stsPreload: true },
      {},
      { 'Strict-Transport-Security': 'max-age=31536000; includeSubDomains; preload' },
    ],
    ['preload alone', { stsSeconds: 60, stsPreload: true }, {}, { 'Strict-Transport-Security': 'max-age=60; preload' }],
    ['stsSeconds 0: no header', { stsSeconds: 0, forceSTSHeader: true }, {}, {}],
    ['isDevelopment: no HSTS even forced', { ...sts, forceSTSHeader: true, isDevelopment: true }, {}, {}],
    ['frameDeny', { frameDeny: true }, { 'X-Frame-Options': 'DENY' }, { 'X-Frame-Options': 'DENY' }],
    [
      'customFrameOptionsValue overrides frameDeny',
      { frameDeny: true, customFrameOptionsValue: 'SAMEORIGIN' },
      { 'X-Frame-Options': 'SAMEORIGIN' },
      { 'X-Frame-Options': 'SAMEORIGIN' },
    ],
    [
      'nosniff',
      { contentTypeNosniff: true },
      { 'X-Content-Type-Options': 'nosniff' },
      { 'X-Content-Type-Options': 'nosniff' },
    ],
    [
      'xss filter',
      { browserXssFilter: true },
      { 'X-XSS-Protection': '1; mode=block' },
      { 'X-XSS-Protection': '1; mode=block' },
    ],
    [
      'custom xss value overrides',
      { browserXssFilter: true, customBrowserXSSValue: '0' },
      { 'X-XSS-Protection': '0' },
      { 'X-XSS-Protection': '0' },
    ],
    ['publicKey only over HTTPS', { publicKey: 'pin-sha256="x"' }, {}, { 'Public-Key-Pins': 'pin-sha256="x"' }],
    ['publicKey not in development', { publicKey: 'pin-sha256="x"', isDevelopment: true }, {}, {}],
    [
      'CSP, report-only, referrer, permissions',
      {
        contentSecurityPolicy: "default-src 'self'",
        contentSecurityPolicyReportOnly: 'default-src *',
        referrerPolicy: 'no-referrer',
        permissionsPolicy: 'camera=()',
      },
      {
        'Content-Security-Policy': "default-src 'self'",
        'Content-Security-Policy-Report-Only': 'default-src *',
        'Referrer-Policy': 'no-referrer',
        'Permissions-Policy': 'camera=()',
      },
      {
        'Content-Security-Policy': "default-src 'self'",
        'Content-Security-Policy-Report-Only': 'default-src *',
        'Referrer-Policy': 'no-referrer',
        'Permissions-Policy': 'camera=()',
      },
    ],
  ];
  for (const [name, o, http, https] of cases) {
    const s = compileSecure({ ...secureBase, ...o });
    t.same(Object.fromEntries(secureHeaders(s, false)), http, `${name} (http)`);
    t.same(Object.fromEntries(secureHeaders(s, true)), https, `${name} (https)`);
  }
});

t.test('CSP $NONCE: a fresh nonce per request, in both CSP headers only', async (t) => {
  const s = compileSecure({
    ...secureBase,
    contentSecurityPolicy: 'script-src $NONCE',
    contentSecurityPolicyReportOnly: 'script-src $NONCE',
    referrerPolicy: '$NONCE',
  });
  t.ok(s.nonce);
  const h = Object.fromEntries(secureHeaders(s, false, 'abc'));
  t.equal(h['Content-Security-Policy'], "script-src 'nonce-abc'");
  t.equal(h['Content-Security-Policy-Report-Only'], "script-src 'nonce-abc'");
  t.equal(h['Referrer-Policy'], '$NONCE');
  const a = run({ contentSecurityPolicy: 'script-src $NONCE' }, {}).response.get('content-security-policy');
  const b = run({ contentSecurityPolicy: 'script-src $NONCE' }, {}).response.get('content-security-policy');
  t.match(a, /^script-src 'nonce-[A-Za-z0-9+/]{22}'$/);
  t.not(a, b, 'another request, another nonce');
});

t.test('hosts: allowedHosts, hostsProxyHeaders, isDevelopment', async (t) => {
  const s = compileSecure({ ...secureBase, allowedHosts: ['foo.com', 'Bar.com', 'port.test:8443'] });
  const cases: Array<[string, boolean]> = [
    ['foo.com', true],
    ['FOO.com', true],
    ['bar.com', true],
    ['foo.com:8080', true],
    ['port.test', true],
    ['boo.com', false],
    ['', false],
    ['sub.foo.com', false],
  ];
  for (const [host, want] of cases) t.equal(hostAllowed(s, host), want, JSON.stringify(host));
  t.ok(hostAllowed(compileSecure({ ...secureBase, allowedHosts: ['foo.com'], isDevelopment: true }), 'x.org'));
  t.ok(hostAllowed(compileSecure(secureBase), 'anything'));
  const p = compileSecure({ ...secureBase, hostsProxyHeaders: ['X-Forwarded-Host', 'X-Host'] });
  const get = (m: Record<string, string>) => (n: string) => m[n.toLowerCase()] ?? '';
  t.equal(requestHost(p, 'a.test', get({})), 'a.test');
  t.equal(requestHost(p, 'a.test', get({ 'x-host': 'b.test' })), 'b.test');
  t.equal(requestHost(p, 'a.test', get({ 'x-host': 'b.test', 'x-forwarded-host': 'c.test' })), 'c.test');
  t.equal(hostName('[::1]:8080'), '[::1]');
  t.equal(hostName('::1'), '::1');
  t.equal(hostName('A.Test:80'), 'a.test');
});

t.test('isSSL: TLS, or sslProxyHeaders with exactly that value', async (t) => {
  const s = compileSecure({ ...secureBase, sslProxyHeaders: { 'X-Forwarded-Proto': 'https' } });
  const get = (v: string) => (n: string) => (n.toLowerCase() === 'x-forwarded-proto' ? v : '');
  t.ok(isSSL(s, 'https', get('')));
  t.ok(isSSL(s, 'http', get('https')));
  t.notOk(isSSL(s, 'http', get('HTTPS')), 'values compare exactly');
  t.notOk(isSSL(s, 'http', get('http')));
  t.notOk(isSSL(compileSecure(secureBase), 'http', get('https')), 'no sslProxyHeaders');
});

t.test('custom request headers: set, override, remove, Host', async (t) => {
  const h = new FakeHeaders([
    ['foo', 'bar'],
    ['x-forwarded-for', '10.0.0.1'],
    ['host', 'app.test'],
  ]);
  applyRequestHeaders(h, [
    ['X-Script-Name', 'test'],
    ['Foo', 'override'],
    ['X-Forwarded-For', ''],
    ['X-Absent', ''],
  ]);
  t.same(h.record(), { host: 'app.test', 'x-script-name': 'test', foo: 'override' });
  applyRequestHeaders(h, [['Host', '']]);
  t.equal(h.get('host'), 'app.test', 'Host "" removes nothing (as in Traefik)');
  applyRequestHeaders(h, [['Host', 'internal.test:8080']]);
  t.equal(h.get('host'), 'internal.test:8080');
});

t.test('hooks: custom headers, order of response layers, HSTS by scheme', async (t) => {
  const r = run(
    {
      customRequestHeaders: { 'X-Script-Name': 'test', 'X-Drop': '' },
      customResponseHeaders: { 'X-Custom': 'v', Server: '', 'X-Frame-Options': 'SAMEORIGIN' },
      frameDeny: true,
      stsSeconds: 100,
    },
    { headers: [['x-drop', '1']] },
    [
      ['server', 'nginx'],
      ['x-frame-options', 'ALLOW'],
    ],
  );
  t.same(r.upstreamHeaders.record(), { 'x-script-name': 'test' });
  t.same(
    r.response.record(),
    { 'x-frame-options': 'SAMEORIGIN', 'x-custom': 'v' },
    'custom headers override security ones',
  );
  t.notOk(r.response.has('strict-transport-security'), 'no HSTS over HTTP');
  const s = run({ stsSeconds: 100, stsIncludeSubdomains: true }, { scheme: 'https' });
  t.equal(s.response.get('strict-transport-security'), 'max-age=100; includeSubDomains');
  const p = run(
    { stsSeconds: 100, sslProxyHeaders: { 'X-Forwarded-Proto': 'https' } },
    { headers: [['x-forwarded-proto', 'https']] },
  );
  t.equal(p.response.get('strict-transport-security'), 'max-age=100', 'HTTPS by sslProxyHeaders');
  const f = run({ stsSeconds: 100, forceSTSHeader: true }, {});
  t.equal(f.response.get('strict-transport-security'), 'max-age=100', 'forced over HTTP');
});

t.test('hooks: preflight answered, not forwarded', async (t) => {
  const cfg = {
    accessControlAllowMethods: 'GET,OPTIONS,PUT',
    accessControlAllowOriginList: 'https://foo.bar.org',
    accessControlMaxAge: '600',
    customRequestHeaders: { 'X-Up': '1' },
    frameDeny: true,
  };
  const pre = run(cfg, {
    method: 'OPTIONS',
    headers: [
      ['origin', 'https://foo.bar.org'],
      ['access-control-request-method', 'GET'],
      ['access-control-request-method', 'OPTIONS'],
    ],
  });
  t.equal(pre.answers.length, 1);
  t.same(pre.answers[0], {
    status: 200,
    headers: {
      'Access-Control-Allow-Methods': 'GET,OPTIONS,PUT',
      'Access-Control-Allow-Origin': 'https://foo.bar.org',
      'Access-Control-Max-Age': '600',
    },
    body: '',
  });
  t.notOk(pre.upstreamHeaders.has('x-up'), 'answered before the custom request headers');
  const plain = run(cfg, { method: 'OPTIONS', headers: [['origin', 'https://foo.bar.org']] });
  t.equal(plain.answers.length, 0, 'OPTIONS without Access-Control-Request-Method goes upstream');
  t.equal(plain.response.get('access-control-allow-origin'), 'https://foo.bar.org');
  const noCors = run(
    { customRequestHeaders: { foo: 'bar' } },
    {
      method: 'OPTIONS',
      headers: [
        ['origin', 'https://a.org'],
        ['access-control-request-method', 'GET'],
      ],
    },
  );
  t.equal(noCors.answers.length, 0, 'no CORS option: not hijacked');
});

t.test('hooks: bad host answered 500 with custom and CORS headers, no security headers', async (t) => {
  const cfg = {
    allowedHosts: ['foo.com'],
    frameDeny: true,
    customResponseHeaders: { 'X-Custom': 'v', 'Content-Type': 'text/x-bad' },
    accessControlAllowOriginList: '*',
    customRequestHeaders: {},
  };
  const bad = run(cfg, { host: 'boo.com' });
  t.same(bad.answers, [
    {
      status: 500,
      headers: {
        'Content-Type': 'text/x-bad',
        'X-Content-Type-Options': 'nosniff',
        'X-Custom': 'v',
        'Access-Control-Allow-Origin': '*',
      },
      body: 'Bad Host\n',
    },
  ]);
  const good = run(cfg, { host: 'foo.com' });
  t.equal(good.answers.length, 0);
  t.equal(good.response.get('x-frame-options'), 'DENY');
  const viaHost = run(
    { allowedHosts: ['inner.test'], customRequestHeaders: { Host: 'inner.test' } },
    { host: 'x.org' },
  );
  t.equal(viaHost.answers.length, 0, 'the Host customRequestHeaders sets is the one checked');
  const viaProxy = run(
    { allowedHosts: ['front.test'], hostsProxyHeaders: ['X-Forwarded-Host'] },
    { host: 'x.org', headers: [['x-forwarded-host', 'front.test']] },
  );
  t.equal(viaProxy.answers.length, 0, 'hostsProxyHeaders');
  const dev = run({ allowedHosts: ['foo.com'], isDevelopment: true }, { host: 'x.org' });
  t.equal(dev.answers.length, 0, 'isDevelopment skips the check');
});

t.test('hooks: responses of every kind get the headers; Vary', async (t) => {
  const { options } = read({ addVaryHeader: 'true', accessControlAllowOriginListRegex: '^https://[a-z]+\\.test$' });
  const h = headersType.create(options, env);
  const ctx = fakeRequest({ headers: [['origin', 'https://a.test']] });
  void h.onRequest!(ctx);
  const res = fakeResponse({ headers: [['vary', 'Accept-Encoding']], error: 'upstream_unreachable' });
  void h.onResponse!(ctx, res);
  t.same(res.headers.record(), { 'access-control-allow-origin': 'https://a.test', vary: 'Accept-Encoding,Origin' });
});

t.test('option checks', async (t) => {
  t.match(read({}).errors, [/headers configuration not valid/], 'empty: refused as Traefik does');
  t.match(read({ customRequestHeaders: {} }).errors, [/not valid/], 'an empty map sets nothing');
  t.same(read({ stsSeconds: 0 }).errors, [], 'stsSeconds: 0 is an option set (as Traefik)');
  t.match(read({ stsSeconds: -1 }).errors, [/stsSeconds: expected a whole number from 0/]);
  t.match(read({ frameDny: true }).errors, [/frameDny: unknown option/]);
  t.match(read({ accessControlMaxAge: 'ten' }).errors, [/accessControlMaxAge/]);
  const labels = read({
    framedeny: 'true',
    accesscontrolallowmethods: 'GET,OPTIONS,PUT',
    customrequestheaders: { 'X-Script-Name': 'test', 'X-Custom-Request-Header': '' },
    stsseconds: '31536000',
  });
  t.same(labels.errors, []);
  t.equal(labels.options.frameDeny, true);
  t.same(labels.options.accessControlAllowMethods, ['GET', 'OPTIONS', 'PUT']);
  t.same(labels.options.customRequestHeaders, { 'X-Script-Name': 'test', 'X-Custom-Request-Header': '' });
  t.equal(labels.options.stsSeconds, 31536000);
  t.match(read({ accessControlAllowOriginListRegex: ['a(b'] }).errors, [/accessControlAllowOriginListRegex\[0\]/]);
  t.match(read({ accessControlAllowOriginListRegex: ['(a)\\1'] }).errors, [/backtracking/]);
  t.match(read({ accessControlAllowOriginListRegex: ['x'.repeat(3000)] }).errors, [/longer than/]);
  t.match(read({ accessControlAllowOriginListRegex: ['a{1001}'] }).errors, [/repetition/]);
  t.match(read({ hostsProxyHeaders: ['X Host'] }).errors, [/hostsProxyHeaders\[0\]: .* not a header name/]);
  t.match(read({ sslProxyHeaders: { 'X:P': 'https' } }).errors, [/sslProxyHeaders/]);
});

t.test('removed Traefik v2 options: read, without effect, with a warning', async (t) => {
  warnings.length = 0;
  for (const raw of [{ sslRedirect: true }, { sslHost: 'a.test' }, { featurePolicy: "camera 'none'" }]) {
    const r = run(raw, {});
    t.equal(r.answers.length, 0, `${Object.keys(raw)[0]}: no redirect`);
    t.same(r.response.record(), {}, `${Object.keys(raw)[0]}: no header`);
  }
  t.equal(warnings.length, 3);
  t.match(warnings[0], /sslRedirect → the redirectScheme middleware/);
  t.match(warnings[2], /featurePolicy → permissionsPolicy/);
  t.match(read({ sslRedirect: false }).errors, [/not valid/], 'sslRedirect: false sets nothing (as Traefik)');
});

t.test('hostile: refused at config time', async (t) => {
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    [
      'CR LF in a request value',
      { customRequestHeaders: { 'X-A': 'a\r\nX-Injected: 1' } },
      /customRequestHeaders\.X-A: the value contains CR/,
    ],
    [
      'LF in a response value',
      { customResponseHeaders: { 'X-A': 'a\nb' } },
      /customResponseHeaders\.X-A: the value contains LF/,
    ],
    ['NUL in a value', { customRequestHeaders: { 'X-A': 'a\0' } }, /contains NUL/],
    ['another control character', { customResponseHeaders: { 'X-A': 'a\u0001' } }, /contains U\+0001/],
    ['DEL', { customResponseHeaders: { 'X-A': 'a\u007f' } }, /contains U\+007F/],
    ['beyond Latin-1', { customResponseHeaders: { 'X-A': '€' } }, /contains U\+20AC/],
    ['a name with a space', { customRequestHeaders: { 'X A': 'v' } }, /"X A" is not a header name/],
    ['a name with a colon', { customResponseHeaders: { 'X-A:': 'v' } }, /is not a header name/],
    ['an empty name', { customResponseHeaders: { '': 'v' } }, /is not a header name/],
    ['a name with CRLF', { customRequestHeaders: { 'X\r\nY': 'v' } }, /is not a header name/],
    [
      'Content-Length on requests',
      { customRequestHeaders: { 'Content-Length': '5' } },
      /Content-Length frames the request/,
    ],
    [
      'Transfer-Encoding on requests',
      { customRequestHeaders: { 'transfer-encoding': 'chunked' } },
      /frames the request/,
    ],
    ['Connection removal', { customRequestHeaders: { Connection: '' } }, /Connection frames the request/],
    ['Upgrade', { customRequestHeaders: { Upgrade: 'h2c' } }, /frames the request/],
    ['Content-Length on responses', { customResponseHeaders: { 'Content-Length': '0' } }, /frames the response/],
    ['Transfer-Encoding on responses', { customResponseHeaders: { 'Transfer-Encoding': '' } }, /frames the response/],
    ['Host with a path', { customRequestHeaders: { Host: 'a.test/evil' } }, /not a host name/],
    ['Host with a space', { customRequestHeaders: { Host: 'a.test evil' } }, /not a host name/],
    ['one name twice', { customResponseHeaders: { 'X-A': '1', 'x-a': '2' } }, /x-a: set twice/],
    [
      'CR in a CSP',
      { contentSecurityPolicy: "default-src 'self'\r\nSet-Cookie: a=b" },
      /contentSecurityPolicy: the value contains CR/,
    ],
    ['LF in referrerPolicy', { referrerPolicy: 'a\nb' }, /referrerPolicy/],
    [
      'LF in an allowed origin',
      { accessControlAllowOriginList: ['https://a.org\nX: 1'] },
      /accessControlAllowOriginList\[0\]/,
    ],
    ['CR in allowed methods', { accessControlAllowMethods: ['GET\rX'] }, /accessControlAllowMethods\[0\]/],
  ];
  for (const [name, raw, want] of cases) {
    const { errors } = read(raw);
    t.match(errors.join('\n'), want, name);
  }
  t.same(read({ customRequestHeaders: { Host: 'a.test:8080', 'X-Tab': 'a\tb', 'X-Latin': 'caf\u00e9' } }).errors, []);
  t.same(read({ customRequestHeaders: { Host: '[::1]:80' } }).errors, []);
  t.same(read({ customResponseHeaders: { 'Set-Cookie': 'a=b; Path=/' } }).errors, []);
  t.equal(valueProblem('ok value'), null);
  t.same(headerMapProblems({ Host: '' }, 'request', 'r'), [], 'Host "" is accepted (a no-op, as Traefik)');
});
