// Table tests for middlewares in Docker labels (src/providers/middleware-labels.ts): label sets as real Traefik
// compose files write them (after compose's interpolation: `$$` arrives as `$`) → the routes' middleware references,
// the Docker snapshot's definitions and the problems. Pure, no Docker needed. The middleware types here are small
// test types (so these tests do not depend on the built-in ones), except in the last test.
import t, { type Test } from 'tap';
import { dockerSnapshot } from '../src/providers/docker.ts';
import { routesForContainer, type ContainerView, type DockerProviderOptions } from '../src/providers/labels.ts';
import { resolveMiddlewares } from '../src/providers/middleware-labels.ts';
import { builtinFactory } from '../src/middleware/compile.ts';
import type { MiddlewareDef } from '../src/middleware/definitions.ts';
import { bool, duration, group, int, list, str, textMap } from '../src/middleware/options.ts';
import { defineType } from '../src/middleware/types.ts';

const noop = () => ({});
const TYPES = [
  defineType({
    name: 'redirectScheme',
    spec: { scheme: str(), permanent: bool(false), port: str() },
    check: (o) => (o.scheme === undefined ? ['scheme: required'] : []),
    create: noop,
  }),
  defineType({
    name: 'basicAuth',
    spec: { users: list(), usersFile: str(), realm: str('traefik'), headerField: str(), removeHeader: bool(false) },
    create: noop,
  }),
  defineType({ name: 'stripPrefix', spec: { prefixes: list(), forceSlash: bool(true) }, create: noop }),
  defineType({
    name: 'headers',
    spec: { customRequestHeaders: textMap(), customResponseHeaders: textMap(), frameDeny: bool(), stsSeconds: int(0, 0) },
    create: noop,
  }),
  defineType({
    name: 'rateLimit',
    spec: {
      average: int(0, 0),
      period: duration(1000, true),
      burst: int(1, 1),
      sourceCriterion: group({ ipStrategy: group({ depth: int(0, 0), excludedIPs: list() }), requestHost: bool() }),
    },
    create: noop,
  }),
  defineType({ name: 'errors', spec: { status: list(), service: str(), query: str() }, create: noop }),
  defineType({ name: 'compress', spec: { excludedContentTypes: list(), minResponseBodyBytes: int(1024, 0) }, create: noop }),
  defineType({ name: 'ipAllowList', spec: { sourceRange: list(), ipStrategy: group({ depth: int(0, 0) }) }, create: noop }),
];
const FACTORIES = new Map(TYPES.map((x) => [x.name.toLowerCase(), builtinFactory(x)]));
const OPTS: DockerProviderOptions = { exposedByDefault: false, network: '', publishedPorts: false, middlewareFactories: FACTORIES };

// a bcrypt and an apr1 hash as `htpasswd -nbB` / `htpasswd -nb` print them; compose files double each `$`
const BCRYPT = '$2y$05$TIb6tEMh4s3y9DY0d6jHTeSNs6yx0BVzLT1wnKQCsMIH6SWWU98ii';
const APR1 = '$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/';
const ON = { 'traefik.enable': 'true' };

let serial = 0;
function ctr(name: string, labels: Record<string, string>, over: Partial<ContainerView> = {}): ContainerView {
  serial++;
  return {
    id: String(serial).padStart(64, '0'),
    name,
    labels,
    running: true,
    paused: false,
    health: null,
    networks: { bridge: `172.17.0.${serial % 250}` },
    exposedPorts: ['8080/tcp'],
    publishedPorts: {},
    created: '2024-05-01T10:00:00.000000000Z',
    ...over,
  };
}

/** What a route says about middlewares (sub-routes by name). */
interface Used {
  container: string;
  service: string;
  middlewares?: string[];
  routes?: Array<{ name: string; middlewares?: string[] }>;
}

interface Row {
  name: string;
  containers: ContainerView[];
  opts?: Partial<DockerProviderOptions>;
  /** every route, in container order */
  routes?: Used[];
  /** the snapshot's definitions, exactly */
  defs?: Record<string, MiddlewareDef>;
  /** [container, pattern]: each must match one problem, and there must be as many problems */
  problems?: Array<[string, RegExp]>;
}

function run(containers: ContainerView[], opts: Partial<DockerProviderOptions> = {}) {
  const each = containers.map((c) => ({ container: c, ...routesForContainer(c, { ...OPTS, ...opts }) }));
  return resolveMiddlewares(each);
}

function used(r: ReturnType<typeof run>['routes'][number]): Used {
  const u: Used = { container: r.container.name, service: r.service };
  if (r.middlewares !== undefined) u.middlewares = r.middlewares;
  if (r.routes !== undefined) {
    u.routes = r.routes.map((x) => (x.middlewares === undefined ? { name: x.name! } : { name: x.name!, middlewares: x.middlewares }));
  }
  return u;
}

function check(t: Test, rows: Row[]): void {
  for (const row of rows) {
    const got = run(row.containers, row.opts);
    t.strictSame(got.routes.map(used), row.routes ?? [], `${row.name}: routes`);
    if (row.defs !== undefined) t.strictSame(got.middlewares, row.defs, `${row.name}: definitions`);
    const problems = got.problems.map((p) => `${p.container}: ${p.message}`);
    const want = row.problems ?? [];
    t.equal(problems.length, want.length, `${row.name}: ${want.length} problem(s), got ${JSON.stringify(problems)}`);
    for (const [c, re] of want) {
      const hit = got.problems.some((p) => p.container === c && re.test(p.message));
      t.ok(hit, `${row.name}: a problem of ${c} matches ${re} in ${JSON.stringify(problems)}`);
    }
  }
}

t.test('definitions from real compose files', async (t) => {
  check(t, [
    {
      name: 'redirectscheme on the HTTP router, TLS router without it',
      containers: [
        ctr('whoami', {
          ...ON,
          'traefik.http.routers.whoami.rule': 'Host(`whoami.example.com`)',
          'traefik.http.routers.whoami.entrypoints': 'web',
          'traefik.http.routers.whoami.middlewares': 'redirect-to-https',
          'traefik.http.middlewares.redirect-to-https.redirectscheme.scheme': 'https',
          'traefik.http.middlewares.redirect-to-https.redirectscheme.permanent': 'true',
          'traefik.http.routers.whoami-secure.rule': 'Host(`whoami.example.com`)',
          'traefik.http.routers.whoami-secure.entrypoints': 'websecure',
          'traefik.http.routers.whoami-secure.tls.certresolver': 'le',
        }),
      ],
      routes: [
        {
          // no service-level middlewares: the TLS route (without its own) must not get the redirect
          container: 'whoami',
          service: 'whoami',
          routes: [{ name: 'whoami', middlewares: ['redirect-to-https'] }, { name: 'whoami-secure' }],
        },
      ],
      defs: { 'redirect-to-https': { type: 'redirectscheme', options: { scheme: 'https', permanent: 'true' } } },
    },
    {
      name: 'basicauth with bcrypt and apr1 hashes, as compose hands them over (single $)',
      containers: [
        ctr('admin', {
          ...ON,
          'traefik.http.routers.admin.rule': 'Host(`admin.example.com`)',
          'traefik.http.routers.admin.middlewares': 'admin-auth@docker',
          'traefik.http.middlewares.admin-auth.basicauth.users': `admin:${BCRYPT},test:${APR1}`,
          'traefik.http.middlewares.admin-auth.basicauth.realm': 'Admin area',
          'traefik.http.middlewares.admin-auth.basicauth.removeheader': 'true',
        }),
      ],
      routes: [{ container: 'admin', service: 'admin', middlewares: ['admin-auth@docker'] }],
      defs: {
        'admin-auth': {
          type: 'basicauth',
          options: { users: `admin:${BCRYPT},test:${APR1}`, realm: 'Admin area', removeheader: 'true' },
        },
      },
    },
    {
      name: 'stripprefix for an API, option names as written',
      containers: [
        ctr('api', {
          ...ON,
          'traefik.http.routers.api.rule': 'Host(`example.com`) && PathPrefix(`/api`)',
          'traefik.http.routers.api.middlewares': 'api-strip',
          'traefik.http.middlewares.api-strip.stripprefix.prefixes': '/api,/v1',
          'traefik.http.middlewares.api-strip.stripPrefix.forceSlash': 'false',
        }),
      ],
      routes: [{ container: 'api', service: 'api', middlewares: ['api-strip'] }],
      // the first spelling in sorted key order, as Traefik merges them ('P' < 'p')
      defs: { 'api-strip': { type: 'stripPrefix', options: { prefixes: '/api,/v1', forceSlash: 'false' } } },
    },
    {
      name: 'headers: header names keep their case, an empty value (removal) is kept, option groups merge',
      containers: [
        ctr('web', {
          ...ON,
          'traefik.http.routers.web.middlewares': 'secure-headers',
          'traefik.http.middlewares.secure-headers.headers.customrequestheaders.X-Forwarded-Proto': 'https',
          'traefik.http.middlewares.secure-headers.headers.customRequestHeaders.X-Foo': 'bar',
          'traefik.http.middlewares.secure-headers.headers.customresponseheaders.X-Powered-By': '',
          'traefik.http.middlewares.secure-headers.headers.customresponseheaders.Server': '',
          'traefik.http.middlewares.secure-headers.headers.framedeny': 'true',
          'traefik.http.middlewares.secure-headers.headers.stsSeconds': '31536000',
        }),
      ],
      routes: [{ container: 'web', service: 'web', middlewares: ['secure-headers'] }],
      defs: {
        'secure-headers': {
          type: 'headers',
          options: {
            customRequestHeaders: { 'X-Foo': 'bar', 'X-Forwarded-Proto': 'https' },
            customresponseheaders: { 'X-Powered-By': '', Server: '' },
            framedeny: 'true',
            stsSeconds: '31536000',
          },
        },
      },
    },
    {
      name: "chain (Traefik's documentation example)",
      containers: [
        ctr('svc', {
          ...ON,
          'traefik.http.routers.router1.service': 'service1',
          'traefik.http.routers.router1.middlewares': 'secured',
          'traefik.http.routers.router1.rule': 'Host(`mydomain`)',
          'traefik.http.middlewares.secured.chain.middlewares': 'https-only,known-ips,auth-users',
          'traefik.http.middlewares.auth-users.basicauth.users': `test:${APR1}`,
          'traefik.http.middlewares.https-only.redirectscheme.scheme': 'https',
          'traefik.http.middlewares.known-ips.ipallowlist.sourceRange': '192.168.1.7,127.0.0.1/32',
          'traefik.http.services.service1.loadbalancer.server.port': '80',
        }),
      ],
      routes: [{ container: 'svc', service: 'service1', middlewares: ['secured'] }],
      defs: {
        'auth-users': { type: 'basicauth', options: { users: `test:${APR1}` } },
        'https-only': { type: 'redirectscheme', options: { scheme: 'https' } },
        'known-ips': { type: 'ipallowlist', options: { sourceRange: '192.168.1.7,127.0.0.1/32' } },
        secured: { type: 'chain', options: { middlewares: 'https-only,known-ips,auth-users' } },
      },
    },
    {
      name: 'ratelimit with sourcecriterion.ipstrategy.depth',
      containers: [
        ctr('api', {
          ...ON,
          'traefik.http.routers.api.middlewares': 'api-ratelimit',
          'traefik.http.middlewares.api-ratelimit.ratelimit.average': '100',
          'traefik.http.middlewares.api-ratelimit.ratelimit.burst': '50',
          'traefik.http.middlewares.api-ratelimit.ratelimit.period': '1m',
          'traefik.http.middlewares.api-ratelimit.ratelimit.sourcecriterion.ipstrategy.depth': '1',
        }),
      ],
      routes: [{ container: 'api', service: 'api', middlewares: ['api-ratelimit'] }],
      defs: {
        'api-ratelimit': {
          type: 'ratelimit',
          options: { average: '100', burst: '50', period: '1m', sourcecriterion: { ipstrategy: { depth: '1' } } },
        },
      },
    },
    {
      name: 'errors with a status range, a service and a query',
      containers: [
        ctr('app', {
          ...ON,
          'traefik.http.routers.app.middlewares': 'error-pages',
          'traefik.http.middlewares.error-pages.errors.status': '500-599',
          'traefik.http.middlewares.error-pages.errors.service': 'error-pages-svc',
          'traefik.http.middlewares.error-pages.errors.query': '/{status}.html',
        }),
      ],
      routes: [{ container: 'app', service: 'app', middlewares: ['error-pages'] }],
      defs: {
        'error-pages': { type: 'errors', options: { status: '500-599', service: 'error-pages-svc', query: '/{status}.html' } },
      },
    },
    {
      name: 'compress=true (the type with its defaults), and "true" next to options',
      containers: [
        ctr('app', {
          ...ON,
          'traefik.http.routers.app.middlewares': 'gz,gz2,ips',
          'traefik.http.middlewares.gz.compress': 'true',
          'traefik.http.middlewares.gz2.compress': 'TRUE',
          'traefik.http.middlewares.gz2.compress.excludedcontenttypes': 'text/event-stream',
          'traefik.http.middlewares.ips.ipallowlist.sourcerange': '10.0.0.0/8',
          'traefik.http.middlewares.ips.ipallowlist.ipstrategy': 'true',
          'traefik.http.middlewares.ips.ipallowlist.ipstrategy.depth': '2',
        }),
      ],
      routes: [{ container: 'app', service: 'app', middlewares: ['gz', 'gz2', 'ips'] }],
      defs: {
        gz: { type: 'compress', options: {} },
        gz2: { type: 'compress', options: { excludedcontenttypes: 'text/event-stream' } },
        ips: { type: 'ipallowlist', options: { sourcerange: '10.0.0.0/8', ipstrategy: { depth: '2' } } },
      },
    },
    {
      name: "baton's own labels: baton.middlewares.<name> replaces traefik.http.middlewares.<name>",
      containers: [
        ctr('app', {
          'baton.enable': 'true',
          'baton.rule': 'Host(`app.test`)',
          'baton.middlewares': 'strip, gz',
          'baton.middlewares.strip.stripprefix.prefixes': '/b',
          'traefik.http.middlewares.Strip.stripprefix.prefixes': '/a',
          'traefik.http.middlewares.Strip.stripprefix.forceslash': 'false',
          'traefik.http.middlewares.gz.compress': 'true',
        }),
      ],
      routes: [{ container: 'app', service: 'app', middlewares: ['strip', 'gz'] }],
      defs: {
        gz: { type: 'compress', options: {} },
        strip: { type: 'stripprefix', options: { prefixes: '/b' } },
      },
    },
    {
      name: 'a name spelt two ways is one middleware (its first spelling), as in Traefik',
      containers: [
        ctr('app', {
          ...ON,
          'traefik.http.routers.app.middlewares': 'Auth',
          'traefik.http.middlewares.auth.basicauth.realm': 'r',
          'traefik.http.middlewares.Auth.basicauth.users': `a:${BCRYPT}`,
        }),
      ],
      routes: [{ container: 'app', service: 'app', middlewares: ['Auth'] }],
      defs: { Auth: { type: 'basicauth', options: { users: `a:${BCRYPT}`, realm: 'r' } } },
    },
    {
      name: 'references to the config file (name@file), with and without its list',
      containers: [
        ctr('app', {
          ...ON,
          'traefik.http.routers.app.middlewares': 'geo@file,secured',
          'traefik.http.middlewares.secured.chain.middlewares': 'auth@file',
        }),
      ],
      opts: { fileMiddlewares: ['auth', 'geo'] },
      routes: [{ container: 'app', service: 'app', middlewares: ['geo@file', 'secured'] }],
      defs: { secured: { type: 'chain', options: { middlewares: 'auth@file' } } },
    },
    {
      name: 'no middleware labels: no definitions, no references',
      containers: [ctr('app', ON)],
      routes: [{ container: 'app', service: 'app' }],
      defs: {},
    },
    {
      name: 'Traefik v1 labels have no middlewares',
      containers: [ctr('old', { ...ON, 'traefik.frontend.rule': 'Host:old.test' })],
      routes: [{ container: 'old', service: 'old' }],
      defs: {},
    },
  ]);
});

t.test('problems with a definition: the label, and the container is not routed', async (t) => {
  const R = { ...ON, 'traefik.http.routers.app.rule': 'Host(`app.test`)' };
  check(t, [
    {
      name: 'unknown type',
      containers: [ctr('app', { ...R, 'traefik.http.middlewares.x.stripprefixx.prefixes': '/a' })],
      problems: [['app', /^traefik\.http\.middlewares\.x\.stripprefixx: unknown middleware type stripprefixx$/]],
      defs: {},
    },
    {
      name: 'unknown option, at its label (unused by the container: still refused, never half-read)',
      containers: [ctr('app', { ...R, 'traefik.http.middlewares.x.stripPrefix.prefixs': '/a' })],
      problems: [['app', /^traefik\.http\.middlewares\.x\.stripPrefix\.prefixs: unknown option \(known: prefixes, forceSlash\)$/]],
      defs: {},
    },
    {
      name: 'bad option value, at its label (nested)',
      containers: [ctr('app', { ...R, 'traefik.http.middlewares.rl.ratelimit.sourcecriterion.ipstrategy.depth': '-1' })],
      problems: [['app', /^traefik\.http\.middlewares\.rl\.ratelimit\.sourcecriterion\.ipstrategy\.depth: expected a whole number from 0/]],
    },
    {
      name: "a type's own check, at the type (no label for the missing option)",
      containers: [ctr('app', { ...R, 'traefik.http.middlewares.r.redirectscheme.permanent': 'true' })],
      problems: [['app', /^traefik\.http\.middlewares\.r\.redirectscheme: scheme: required$/]],
    },
    {
      name: 'two types under one name',
      containers: [
        ctr('app', {
          ...R,
          'traefik.http.middlewares.x.headers.framedeny': 'true',
          'traefik.http.middlewares.x.stripprefix.prefixes': '/a',
        }),
      ],
      problems: [['app', /^traefik\.http\.middlewares\.x\.stripprefix\.prefixes: middleware x is a headers already \(traefik\.http\.middlewares\.x\.headers\); a middleware has one type$/]],
    },
    {
      name: 'no type',
      containers: [ctr('app', { ...R, 'traefik.http.middlewares.x': 'stripprefix' })],
      problems: [['app', /^traefik\.http\.middlewares\.x: no middleware type \(traefik\.http\.middlewares\.x\.<type>\.<option>=<value>\)$/]],
    },
    {
      name: 'an empty part in the key',
      containers: [ctr('app', { ...R, 'traefik.http.middlewares.x.stripprefix..prefixes': '/a' })],
      problems: [['app', /^traefik\.http\.middlewares\.x\.stripprefix\.\.prefixes: empty part in the key/]],
    },
    {
      name: 'a bad name',
      containers: [ctr('app', { ...R, 'traefik.http.middlewares.a+b.compress': 'true' })],
      problems: [['app', /^traefik\.http\.middlewares\.a\+b\.compress: middleware names are letters, digits, '-' and '_', got "a\+b"$/]],
    },
    {
      name: 'compress=false',
      containers: [ctr('app', { ...R, 'traefik.http.middlewares.gz.compress': 'false' })],
      problems: [['app', /^traefik\.http\.middlewares\.gz\.compress: expected "true" \(the type with its defaults\) or options/]],
    },
    {
      name: 'a value other than "true" next to options',
      containers: [
        ctr('app', {
          ...R,
          'traefik.http.middlewares.ips.ipallowlist.ipstrategy': 'yes',
          'traefik.http.middlewares.ips.ipallowlist.ipstrategy.depth': '1',
        }),
      ],
      problems: [['app', /^traefik\.http\.middlewares\.ips\.ipallowlist\.ipstrategy: has options under it, so its own value can only be "true", got "yes"$/]],
    },
    {
      name: "a Traefik plugin",
      containers: [ctr('app', { ...R, 'traefik.http.middlewares.p.plugin.blockpath.regex': '^/admin' })],
      problems: [['app', /^traefik\.http\.middlewares\.p\.plugin: Traefik's plugins do not run in baton/]],
    },
    {
      name: 'a chain member of another provider',
      containers: [ctr('app', { ...R, 'traefik.http.middlewares.c.chain.middlewares': 'a,b@kubernetescrd' })],
      problems: [['app', /^traefik\.http\.middlewares\.c\.chain\.middlewares: middleware "b@kubernetescrd": baton has no such provider/]],
    },
    {
      name: 'a chain member the config file does not define',
      containers: [ctr('app', { ...R, 'traefik.http.middlewares.c.chain.middlewares': 'auth@file' })],
      opts: { fileMiddlewares: ['geo'] },
      problems: [['app', /^traefik\.http\.middlewares\.c\.chain\.middlewares: middleware auth@file is not defined in the config file/]],
    },
    {
      name: 'a chain of nothing',
      containers: [ctr('app', { ...R, 'traefik.http.middlewares.c.chain.middlewares': ' , ' })],
      problems: [['app', /^traefik\.http\.middlewares\.c\.chain\.middlewares: a chain lists at least one middleware$/]],
    },
    {
      name: 'a baton definition with a problem',
      containers: [ctr('app', { 'baton.enable': 'true', 'baton.middlewares.s.stripprefix.prefix': '/a' })],
      problems: [['app', /^baton\.middlewares\.s\.stripprefix\.prefix: unknown option/]],
    },
    {
      name: 'a definition on a disabled container is not read',
      containers: [ctr('app', { 'traefik.enable': 'false', 'traefik.http.middlewares.x.nosuchtype': 'true' })],
      defs: {},
    },
  ]);
});

t.test('across containers', async (t) => {
  const shared = (labels: Record<string, string> = {}) =>
    ctr('shared', {
      ...ON,
      'traefik.http.middlewares.secure-headers.headers.framedeny': 'true',
      'traefik.http.middlewares.auth.basicauth.users': `admin:${BCRYPT}`,
      ...labels,
    });
  const user = (name: string, refs: string, over: Partial<ContainerView> = {}, labels: Record<string, string> = {}) =>
    ctr(name, { ...ON, [`traefik.http.routers.${name}.middlewares`]: refs, ...labels }, over);
  const HDR = { type: 'headers', options: { framedeny: 'true' } };
  const AUTH = { type: 'basicauth', options: { users: `admin:${BCRYPT}` } };
  check(t, [
    {
      name: 'a container uses what another defines (name and name@docker)',
      containers: [shared(), user('app', 'secure-headers@docker,auth')],
      routes: [
        { container: 'shared', service: 'shared' },
        { container: 'app', service: 'app', middlewares: ['secure-headers@docker', 'auth'] },
      ],
      defs: { auth: AUTH, 'secure-headers': HDR },
    },
    {
      name: 'a middleware no container defines',
      containers: [shared(), user('app', 'auth,nope'), user('other', 'auth')],
      routes: [
        { container: 'shared', service: 'shared' },
        { container: 'other', service: 'other', middlewares: ['auth'] },
      ],
      problems: [['app', /^service app: middleware nope@docker does not exist: no running container's labels define it$/]],
    },
    {
      name: 'names are case-sensitive (with a hint)',
      containers: [shared(), user('app', 'Auth')],
      routes: [{ container: 'shared', service: 'shared' }],
      problems: [['app', /^service app: middleware Auth@docker does not exist: .*; auth@docker does \(names are case-sensitive\)$/]],
    },
    {
      name: 'a middleware invalid where it is defined',
      containers: [shared({ 'traefik.http.middlewares.gz.compress.level': '9' }), user('app', 'gz')],
      problems: [
        ['shared', /^traefik\.http\.middlewares\.gz\.compress\.level: unknown option/],
        ['app', /^service app: middleware gz@docker is invalid \(see the labels of shared\)$/],
      ],
      defs: { auth: AUTH, 'secure-headers': HDR },
    },
    {
      name: 'defined differently on two containers: left out, a problem for each user only',
      containers: [
        ctr('a', { ...ON, 'traefik.http.middlewares.hdr.headers.customrequestheaders.X-Env': 'a' }),
        ctr('c', { ...ON, 'traefik.http.middlewares.hdr.headers.customrequestheaders.X-Env': 'c' }),
        user('b', 'hdr'),
      ],
      routes: [
        { container: 'a', service: 'a' },
        { container: 'c', service: 'c' },
      ],
      defs: {},
      problems: [['b', /^service b: middleware hdr@docker is defined differently on containers a, c; Traefik refuses that too$/]],
    },
    {
      name: 'defined the same way on two containers (option names in any case)',
      containers: [
        ctr('a', { ...ON, 'traefik.http.middlewares.hdr.headers.customRequestHeaders.X-Env': 'prod' }),
        ctr('c', { ...ON, 'traefik.http.middlewares.hdr.headers.customrequestheaders.X-Env': 'prod' }),
        user('b', 'hdr'),
      ],
      routes: [
        { container: 'a', service: 'a' },
        { container: 'c', service: 'c' },
        { container: 'b', service: 'b', middlewares: ['hdr'] },
      ],
      defs: { hdr: { type: 'headers', options: { customRequestHeaders: { 'X-Env': 'prod' } } } },
    },
    {
      name: "replicas of one service (a rolling deploy that changes it): the oldest container's",
      containers: [
        user('web-2', 'auth', { created: '2024-06-01T00:00:00Z' }, {
          'traefik.http.routers.web-2.service': 'web',
          'traefik.http.middlewares.auth.basicauth.users': `new:${BCRYPT}`,
        }),
        user('web-1', 'auth', { created: '2024-05-01T00:00:00Z' }, {
          'traefik.http.routers.web-1.service': 'web',
          'traefik.http.middlewares.auth.basicauth.users': `old:${BCRYPT}`,
        }),
      ],
      routes: [
        { container: 'web-2', service: 'web', middlewares: ['auth'] },
        { container: 'web-1', service: 'web', middlewares: ['auth'] },
      ],
      defs: { auth: { type: 'basicauth', options: { users: `old:${BCRYPT}` } } },
    },
    {
      name: 'a broken new version (label problem) does not unsettle the running one',
      containers: [
        user('web-1', 'auth', {}, {
          'traefik.http.routers.web-1.service': 'web',
          'traefik.http.middlewares.auth.basicauth.users': `old:${BCRYPT}`,
        }),
        user('web-2', 'auth', { created: '2024-06-01T00:00:00Z' }, {
          'traefik.http.routers.web-2.service': 'web',
          'traefik.http.routers.web-2.rule': 'Host(oops)',
          'traefik.http.middlewares.auth.basicauth.users': `new:${BCRYPT}`,
        }),
      ],
      routes: [{ container: 'web-1', service: 'web', middlewares: ['auth'] }],
      defs: { auth: { type: 'basicauth', options: { users: `old:${BCRYPT}` } } },
      problems: [['web-2', /^traefik\.http\.routers\.web-2\.rule: invalid rule/]],
    },
    {
      name: "a container not routed for a label problem still defines middlewares (where no routed one does)",
      containers: [shared({ 'traefik.http.routers.shared.rule': 'Host(oops)' }), user('app', 'auth')],
      routes: [{ container: 'app', service: 'app', middlewares: ['auth'] }],
      defs: { auth: AUTH, 'secure-headers': HDR },
      problems: [['shared', /^traefik\.http\.routers\.shared\.rule: invalid rule/]],
    },
    {
      name: 'an unhealthy or stopped container defines nothing (as in Traefik)',
      containers: [
        ctr('sick', { ...ON, 'traefik.http.middlewares.auth.basicauth.users': `a:${BCRYPT}` }, { health: 'unhealthy' }),
        ctr('gone', { ...ON, 'traefik.http.middlewares.gz.compress': 'true' }, { running: false }),
        user('app', 'auth'),
        user('api', 'gz'),
      ],
      defs: {},
      problems: [
        ['app', /^service app: middleware auth@docker does not exist/],
        ['api', /^service api: middleware gz@docker does not exist/],
      ],
    },
    {
      name: "a chain's member no container defines",
      containers: [
        shared({ 'traefik.http.middlewares.secured.chain.middlewares': 'secure-headers,missing' }),
        user('app', 'secured'),
      ],
      routes: [{ container: 'shared', service: 'shared' }],
      problems: [['app', /^service app: middleware missing@docker does not exist: .* \(in chain secured@docker\)$/]],
    },
    {
      name: 'a chain that loops',
      containers: [
        ctr('a', { ...ON, 'traefik.http.middlewares.one.chain.middlewares': 'two' }),
        ctr('b', { ...ON, 'traefik.http.middlewares.two.chain.middlewares': 'auth@file,one@docker' }),
        user('app', 'one'),
      ],
      routes: [
        { container: 'a', service: 'a' },
        { container: 'b', service: 'b' },
      ],
      problems: [['app', /^service app: middleware chain loops: one@docker → two@docker → one@docker$/]],
    },
    {
      name: 'a sub-route (one router of several) using a missing middleware refuses the container',
      containers: [
        ctr('app', {
          ...ON,
          'traefik.http.routers.a.rule': 'Host(`a.test`)',
          'traefik.http.routers.b.rule': 'Host(`b.test`)',
          'traefik.http.routers.b.middlewares': 'nope',
        }),
      ],
      problems: [['app', /^service app: middleware nope@docker does not exist/]],
    },
  ]);
});

t.test('chains that fan out are checked once each (bounded)', async (t) => {
  // c0 → c1,c1 → c2,c2 → ... : 2^40 paths if each were followed
  const labels: Record<string, string> = { ...ON, 'traefik.http.routers.app.middlewares': 'c0' };
  for (let i = 0; i < 40; i++) labels[`traefik.http.middlewares.c${i}.chain.middlewares`] = `c${i + 1},c${i + 1}`;
  labels['traefik.http.middlewares.c40.compress'] = 'true';
  const started = performance.now();
  const got = run([ctr('app', labels)]);
  t.ok(performance.now() - started < 2000, 'checked in well under 2 s');
  t.strictSame(got.problems, []);
  t.equal(got.routes.length, 1);
  t.equal(Object.keys(got.middlewares).length, 41);
});

t.test('hostile names: "__proto__" stays a plain own key', async (t) => {
  const got = run([
    ctr('app', {
      ...ON,
      'traefik.http.routers.app.middlewares': '__proto__,h',
      'traefik.http.middlewares.__proto__.compress': 'true',
      'traefik.http.middlewares.h.headers.customrequestheaders.__proto__': 'x',
    }),
  ]);
  t.strictSame(got.problems, []);
  t.equal(Object.getPrototypeOf(got.middlewares), Object.prototype, 'the definitions keep their prototype');
  t.ok(Object.hasOwn(got.middlewares, '__proto__'), 'an own "__proto__" definition');
  const h = got.middlewares.h.options.customrequestheaders as Record<string, unknown>;
  t.ok(Object.hasOwn(h, '__proto__'), 'an own "__proto__" header');
  t.equal(Object.getPrototypeOf(h), Object.prototype);
});

t.test('dockerSnapshot carries the references and the definitions', async (t) => {
  const labels = {
    ...ON,
    'traefik.http.routers.shop.rule': 'Host(`shop.test`)',
    'traefik.http.routers.shop.entrypoints': 'web',
    'traefik.http.routers.shop.middlewares': 'to-https',
    'traefik.http.routers.shop-secure.rule': 'Host(`shop.test`)',
    'traefik.http.routers.shop-secure.entrypoints': 'websecure',
    'traefik.http.routers.shop-secure.middlewares': 'hdr,geo@file',
    'traefik.http.routers.shop-plain.rule': 'Host(`plain.test`)',
    'traefik.http.middlewares.to-https.redirectscheme.scheme': 'https',
    'traefik.http.middlewares.hdr.headers.framedeny': 'true',
  };
  const got = run([ctr('shop', labels), ctr('blog', { 'baton.enable': 'true', 'baton.middlewares': 'hdr' })]);
  t.strictSame(got.problems, []);
  const snap = dockerSnapshot(got.routes, got.middlewares);
  t.strictSame(snap.middlewares, {
    hdr: { type: 'headers', options: { framedeny: 'true' } },
    'to-https': { type: 'redirectscheme', options: { scheme: 'https' } },
  });
  const shop = snap.services.find((s) => s.name === 'shop')!;
  t.equal(shop.middlewares, undefined, "not the first route's: a route without its own would inherit them");
  t.strictSame(
    shop.routes!.map((r) => [r.name, r.middlewares]),
    [
      ['shop', ['to-https']],
      ['shop-plain', undefined],
      ['shop-secure', ['hdr', 'geo@file']],
    ],
  );
  const blog = snap.services.find((s) => s.name === 'blog')!;
  t.strictSame(blog.middlewares, ['hdr']);
  t.equal(blog.routes, undefined);
  t.notOk('middlewares' in dockerSnapshot(got.routes), 'no definitions: no middlewares key');
});

t.test("with baton's built-in types (whatever they are), an unknown type is refused", async (t) => {
  const c = ctr('app', {
    ...ON,
    'traefik.http.routers.app.middlewares': 'x',
    'traefik.http.middlewares.x.nosuchtype.option': '1',
  });
  const { middlewareFactories: _f, ...builtin } = OPTS;
  const got = resolveMiddlewares([{ container: c, ...routesForContainer(c, builtin) }]);
  t.strictSame(got.routes, []);
  t.strictSame(got.middlewares, {});
  // the container is refused for its own definition (so no second problem about its route)
  t.strictSame(got.problems.map((p) => p.message), ['traefik.http.middlewares.x.nosuchtype: unknown middleware type nosuchtype']);
});
