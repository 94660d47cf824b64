// The headers middleware end to end, configured through the YAML config with a real upstream and real requests:
// the request headers the upstream sees, the response headers the client sees, preflights answered without reaching
// the upstream, allowedHosts, HSTS only over HTTPS (unless forceSTSHeader), and hostile values refused at load.
import t from 'tap';
import { closedPort, http, startBaton, startUpstream } from './fixtures/harness.ts';
import { startBehind } from './fixtures/middleware.ts';
import { https, startTlsBaton } from './fixtures/tls-baton.ts';

const rule = 'Host(`app.test`)';

t.test('custom request and response headers, security headers, CORS on responses', async (t) => {
  const up = await startUpstream(t, 'up', (req, res) => {
    res.writeHead(200, {
      'content-type': 'text/plain',
      server: 'upstream/1',
      'x-frame-options': 'ALLOWALL',
      vary: 'Accept',
    });
    res.end(JSON.stringify(req.headers));
  });
  const { port } = await startBehind(t, up, {
    hdr: {
      headers: {
        customRequestHeaders: { 'X-Script-Name': 'test', 'X-Drop-Me': '', 'X-Forwarded-For': '' },
        customResponseHeaders: { 'X-Custom-Response-Header': 'value', Server: '' },
        frameDeny: true,
        contentTypeNosniff: true,
        browserXssFilter: true,
        referrerPolicy: 'no-referrer',
        contentSecurityPolicy: "default-src 'self'",
        permissionsPolicy: 'camera=()',
        stsSeconds: 31536000,
        accessControlAllowOriginList: ['https://foo.bar.org'],
        addVaryHeader: true,
      },
    },
  });
  const r = await http(port, { headers: { 'x-drop-me': 'secret', origin: 'https://foo.bar.org' } });
  t.equal(r.status, 200);
  const seen = up.seen[0].headers;
  t.equal(seen['x-script-name'], 'test', 'set on the upstream request');
  t.equal(seen['x-drop-me'], undefined, '"" removed it');
  t.equal(seen['x-forwarded-for'], undefined, 'even a header baton sets can be removed');
  t.equal(r.headers['x-custom-response-header'], 'value');
  t.equal(r.headers.server, undefined, 'the upstream Server header removed');
  t.equal(r.headers['x-frame-options'], 'DENY', "replaces the upstream's");
  t.equal(r.headers['x-content-type-options'], 'nosniff');
  t.equal(r.headers['x-xss-protection'], '1; mode=block');
  t.equal(r.headers['referrer-policy'], 'no-referrer');
  t.equal(r.headers['content-security-policy'], "default-src 'self'");
  t.equal(r.headers['permissions-policy'], 'camera=()');
  t.equal(r.headers['strict-transport-security'], undefined, 'no HSTS over plain HTTP');
  t.equal(r.headers['access-control-allow-origin'], 'https://foo.bar.org');
  t.equal(r.headers.vary, 'Accept,Origin');
  const other = await http(port, { headers: { origin: 'https://evil.org' } });
  t.equal(other.headers['access-control-allow-origin'], undefined, 'an origin not listed gets none');
});

t.test("baton's own error page gets the response headers too (as Traefik's do)", async (t) => {
  const { port } = await startBaton(t, {
    middlewares: { sec: { headers: { frameDeny: true, customResponseHeaders: { 'X-Custom': 'v' } } } },
    services: { app: { rule, upstreams: [`http://127.0.0.1:${await closedPort()}`], middlewares: ['sec'] } },
  });
  const r = await http(port);
  t.equal(r.status, 502);
  t.equal(r.headers['x-frame-options'], 'DENY');
  t.equal(r.headers['x-custom'], 'v');
});

t.test('preflight answered by the middleware, never reaching the upstream', async (t) => {
  const up = await startUpstream(t, 'up');
  const { port } = await startBehind(t, up, {
    cors: {
      headers: {
        accessControlAllowMethods: ['GET', 'OPTIONS', 'PUT'],
        accessControlAllowHeaders: ['*'],
        accessControlAllowOriginListRegex: ['^https://[a-z]+\\.example\\.org$'],
        accessControlAllowCredentials: true,
        accessControlExposeHeaders: ['X-Total'],
        accessControlMaxAge: 100,
        frameDeny: true,
      },
    },
  });
  const pre = await http(port, {
    method: 'OPTIONS',
    path: '/api',
    headers: {
      origin: 'https://shop.example.org',
      'access-control-request-method': 'PUT',
      'access-control-request-headers': 'x-token,content-type',
    },
  });
  t.equal(pre.status, 200);
  t.equal(pre.body, '');
  t.equal(pre.headers['content-length'], '0');
  t.equal(pre.headers['access-control-allow-credentials'], 'true');
  t.equal(pre.headers['access-control-allow-headers'], 'x-token,content-type', '"*" with credentials echoes');
  t.equal(pre.headers['access-control-allow-methods'], 'GET,OPTIONS,PUT');
  t.equal(pre.headers['access-control-allow-origin'], 'https://shop.example.org');
  t.equal(pre.headers['access-control-max-age'], '100');
  t.equal(pre.headers['access-control-expose-headers'], 'X-Total');
  t.equal(pre.headers['x-frame-options'], undefined, 'a preflight answer carries the CORS headers only, as Traefik');
  t.equal(up.seen.length, 0, 'the upstream saw nothing');
  const disallowed = await http(port, {
    method: 'OPTIONS',
    headers: { origin: 'https://evil.org', 'access-control-request-method': 'GET' },
  });
  t.equal(disallowed.status, 200);
  t.equal(disallowed.headers['access-control-allow-origin'], undefined, 'answered, without allowing the origin');
  t.equal(up.seen.length, 0);
  const plain = await http(port, { method: 'OPTIONS', headers: { origin: 'https://shop.example.org' } });
  t.equal(plain.headers['x-upstream'], 'up', 'OPTIONS without Access-Control-Request-Method goes upstream');
  t.equal(plain.headers['access-control-allow-origin'], 'https://shop.example.org');
  t.equal(plain.headers['x-frame-options'], 'DENY');
  t.equal(up.seen.length, 1);
});

t.test('allowedHosts: another host is answered 500 Bad Host; the Host customRequestHeaders sets', async (t) => {
  const up = await startUpstream(t, 'up');
  const { port } = await startBaton(t, {
    middlewares: {
      hosts: { headers: { allowedHosts: ['app.test'], frameDeny: true } },
      rehost: { headers: { customRequestHeaders: { Host: 'internal.test:8080' } } },
    },
    services: {
      app: { rule: 'Host(`app.test`) || Host(`other.test`)', upstreams: [up.url], middlewares: ['hosts'] },
      re: { rule: 'Host(`re.test`)', upstreams: [up.url], middlewares: ['rehost'] },
    },
  });
  const ok = await http(port, { host: 'app.test' });
  t.equal(ok.status, 200);
  const bad = await http(port, { host: 'other.test' });
  t.equal(bad.status, 500);
  t.equal(bad.body, 'Bad Host\n');
  t.equal(bad.headers['content-type'], 'text/plain; charset=utf-8');
  t.equal(bad.headers['x-frame-options'], undefined);
  t.equal(up.seen.length, 1, 'the refused host never reached the upstream');
  const re = await http(port, { host: 're.test' });
  t.equal(re.status, 200);
  t.equal(up.seen[1].headers.host, 'internal.test:8080', 'Host set on the upstream request');
});

t.test('HSTS: not over plain HTTP, unless forceSTSHeader; over HTTPS', async (t) => {
  const up = await startUpstream(t, 'up');
  const { port } = await startBaton(t, {
    middlewares: {
      sts: { headers: { stsSeconds: 63072000, stsIncludeSubdomains: true, stsPreload: true } },
      forced: { headers: { stsSeconds: 300, forceSTSHeader: true } },
      dev: { headers: { stsSeconds: 300, forceSTSHeader: true, isDevelopment: true } },
    },
    services: {
      a: { rule: 'Host(`a.test`)', upstreams: [up.url], middlewares: ['sts'] },
      f: { rule: 'Host(`f.test`)', upstreams: [up.url], middlewares: ['forced'] },
      d: { rule: 'Host(`d.test`)', upstreams: [up.url], middlewares: ['dev'] },
    },
  });
  t.equal((await http(port, { host: 'a.test' })).headers['strict-transport-security'], undefined);
  t.equal((await http(port, { host: 'f.test' })).headers['strict-transport-security'], 'max-age=300');
  t.equal((await http(port, { host: 'd.test' })).headers['strict-transport-security'], undefined, 'isDevelopment');

  const tls = await startTlsBaton(
    t,
    { app: { rule, upstreams: [up.url], middlewares: ['sts'] } },
    { middlewares: { sts: { headers: { stsSeconds: 63072000, stsIncludeSubdomains: true, stsPreload: true } } } },
  );
  const r = await https(tls.port, tls.ca);
  t.equal(r.status, 200);
  t.equal(r.headers['strict-transport-security'], 'max-age=63072000; includeSubDomains; preload');
});

t.test('hostile values are refused when the config is read, never at request time', async (t) => {
  const up = await startUpstream(t, 'up');
  const start = (headers: Record<string, unknown>) =>
    startBehind(t, up, { h: { headers } }).then(
      () => null,
      (err: unknown) => err as Error & { problems?: string[] },
    );
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    [
      'CRLF in a request value',
      { customRequestHeaders: { 'X-A': 'a\r\nX-Injected: yes' } },
      /middlewares\.h\.headers: customRequestHeaders\.X-A: the value contains CR/,
    ],
    ['NUL in a response value', { customResponseHeaders: { 'X-A': 'a\u0000' } }, /customResponseHeaders\.X-A: .*NUL/],
    ['a name that is not a token', { customResponseHeaders: { 'Bad Name': 'x' } }, /"Bad Name" is not a header name/],
    ['Content-Length', { customResponseHeaders: { 'Content-Length': '0' } }, /Content-Length frames the response/],
    ['Transfer-Encoding', { customRequestHeaders: { 'Transfer-Encoding': 'chunked' } }, /frames the request/],
    ['a bad Host', { customRequestHeaders: { Host: 'a.test/x' } }, /Host: "a.test\/x" is not a host name/],
    ['a backtracking regex', { accessControlAllowOriginListRegex: ['(a+)\\1'] }, /needs backtracking/],
    [
      'LF in a CSP',
      { contentSecurityPolicy: "default-src 'self'\nX: 1" },
      /contentSecurityPolicy: the value contains LF/,
    ],
    ['nothing set', {}, /headers configuration not valid/],
  ];
  for (const [name, headers, want] of cases) {
    const err = await start(headers);
    t.ok(err !== null, `${name}: baton does not start`);
    t.match(err?.problems?.join('\n') ?? '', want, name);
  }
  t.equal(up.seen.length, 0);
  const { port } = await startBehind(t, up, {
    h: { headers: { customRequestHeaders: { 'X-Tab': 'a\tb', 'X-Latin': 'caf\u00e9' } } },
  });
  t.equal((await http(port)).status, 200, 'tabs and Latin-1 are fine values');
  t.equal(up.seen[0].headers['x-tab'], 'a\tb');
  t.equal(up.seen[0].headers['x-latin'], 'caf\u00e9', 'sent as one Latin-1 byte');
});
