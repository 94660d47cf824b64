// The rewrite middlewares end to end, configured through the YAML config with a real upstream and real requests:
// what the upstream sees (path, query, X-Forwarded-Prefix, X-Replaced-Path), redirect statuses and Location, the
// loop guards, an entrypoint-wide redirectScheme over plain HTTP and TLS on one port, and bad options refused at
// start.
import t from 'tap';
import { http, startBaton, startUpstream } from './fixtures/harness.ts';
import { refusesToStart, startBehind } from './fixtures/middleware.ts';
import { https, startTlsBaton } from './fixtures/tls-baton.ts';

const rule = 'Host(`app.test`)';

t.test('redirectScheme: status and Location by method, port and permanence; the upstream never asked', async (t) => {
  const up = await startUpstream(t, 'up');
  const { port } = await startBaton(t, {
    middlewares: {
      toHttps: { redirectScheme: { scheme: 'https' } },
      toPort: { redirectScheme: { scheme: 'https', port: '8443', permanent: true } },
    },
    services: {
      app: { rule, upstreams: [up.url], middlewares: ['toHttps'] },
      other: { rule: 'Host(`other.test`)', upstreams: [up.url], middlewares: ['toPort'] },
    },
  });
  const get = await http(port, { path: '/a/b?c=d&e' });
  t.equal(get.status, 302);
  t.equal(get.headers.location, 'https://app.test/a/b?c=d&e');
  t.equal(get.body, 'Found');
  const withPort = await http(port, { path: '/x', host: 'app.test:8080' });
  t.equal(withPort.headers.location, 'https://app.test/x', 'the port of the Host is dropped');
  const post = await http(port, { method: 'POST', path: '/buy', body: 'x=1' });
  t.equal(post.status, 307, 'a POST keeps its method');
  t.equal(post.headers.location, 'https://app.test/buy');
  const head = await http(port, { method: 'HEAD', path: '/h' });
  t.equal(head.status, 307, 'HEAD is not GET for Traefik');
  const perm = await http(port, { host: 'other.test', path: '/p' });
  t.equal(perm.status, 301);
  t.equal(perm.headers.location, 'https://other.test:8443/p');
  t.equal((await http(port, { host: 'other.test', method: 'PUT', path: '/p' })).status, 308);
  const spoofed = await http(port, { path: '/s', headers: { 'x-forwarded-proto': 'https' } });
  t.equal(spoofed.status, 302, "an untrusted client's X-Forwarded-Proto does not stop the redirect");
  t.equal(up.seen.length, 0, 'no request reached the upstream');
});

t.test('redirectScheme behind a trusted proxy: its X-Forwarded-Proto says the request is already https', async (t) => {
  const up = await startUpstream(t, 'up');
  const { port } = await startBehind(
    t,
    up,
    { toHttps: { redirectScheme: { scheme: 'https', permanent: true } } },
    { entrypoints: { web: { address: '127.0.0.1:0', forwardedHeaders: { trustedIPs: ['127.0.0.1/32'] } } } },
  );
  const ok = await http(port, { path: '/in', headers: { 'x-forwarded-proto': 'https' } });
  t.equal(ok.status, 200, 'passed on');
  t.equal(up.seen[0].url, '/in');
  const ws = await http(port, { path: '/ws', headers: { 'x-forwarded-proto': 'wss' } });
  t.equal(ws.status, 200, 'wss counts as https');
  const plain = await http(port, { path: '/plain', headers: { 'x-forwarded-proto': 'http' } });
  t.equal(plain.status, 301);
  t.equal(plain.headers.location, 'https://app.test/plain');
  t.equal(up.seen.length, 2);
});

t.test('entrypoint-wide redirectScheme: plain HTTP redirected, TLS on the same port served', async (t) => {
  const up = await startUpstream(t, 'up');
  const b = await startTlsBaton(
    t,
    {
      secure: { rule, upstreams: [up.url] },
      plain: { rule, upstreams: [up.url], tls: false },
    },
    { middlewares: { toHttps: { redirectScheme: { scheme: 'https', permanent: true } } } },
    { http: { middlewares: ['toHttps'] } },
  );
  const r = await http(b.port, { path: '/login?next=/home' });
  t.equal(r.status, 301);
  t.equal(r.headers.location, 'https://app.test/login?next=/home');
  t.equal(up.seen.length, 0);
  const s = await https(b.port, b.ca, { path: '/login?next=/home' });
  t.equal(s.status, 200, 'already https: passed on');
  t.equal(up.seen.length, 1);
  t.equal(up.seen[0].url, '/login?next=/home');
  t.equal(up.seen[0].headers['x-forwarded-proto'], 'https');
});

t.test('redirectRegex: www to apex, Go replacement syntax, loops passed on, a bad target 502', async (t) => {
  const up = await startUpstream(t, 'up');
  const { port } = await startBaton(t, {
    middlewares: {
      apex: {
        redirectRegex: {
          regex: '^(https?)://www\\.app\\.test(:[0-9]+)?/(.*)',
          replacement: '${1}://app.test${2}/${3}',
          permanent: true,
        },
      },
      same: { redirectRegex: { regex: '^(.*)$', replacement: '$1' } },
      selfish: { redirectRegex: { regex: '^http://self\\.test/', replacement: 'HTTP://SELF.TEST:80/' } },
      broken: { redirectRegex: { regex: '.*', replacement: 'http://192.168.0.%31/' } },
    },
    services: {
      www: { rule: 'Host(`www.app.test`)', upstreams: [up.url], middlewares: ['apex'] },
      same: { rule: 'Host(`same.test`)', upstreams: [up.url], middlewares: ['same'] },
      self: { rule: 'Host(`self.test`)', upstreams: [up.url], middlewares: ['selfish'] },
      broken: { rule: 'Host(`broken.test`)', upstreams: [up.url], middlewares: ['broken'] },
    },
  });
  const r = await http(port, { host: 'www.app.test:8080', path: '/p/q?x=1' });
  t.equal(r.status, 301);
  t.equal(r.headers.location, 'http://app.test:8080/p/q?x=1');
  const post = await http(port, { host: 'www.app.test', method: 'POST', path: '/form' });
  t.equal(post.status, 308);
  t.equal(post.headers.location, 'http://app.test/form');
  t.equal(up.seen.length, 0);
  const same = await http(port, { host: 'same.test', path: '/x' });
  t.equal(same.status, 200, 'a redirect to the very same URL is not made');
  t.equal(up.seen.at(-1)?.url, '/x');
  const self = await http(port, { host: 'self.test', path: '/y' });
  t.equal(self.status, 200, 'nor one to the same URL spelled otherwise');
  t.equal(up.seen.at(-1)?.url, '/y');
  const bad = await http(port, { host: 'broken.test' });
  t.equal(bad.status, 502, 'as Traefik, for a target that does not parse');
  t.equal(bad.headers['x-baton-error'], 'bad_redirect');
  t.equal(bad.headers.location, undefined);
  t.equal(up.seen.length, 2);
});

t.test('stripPrefix and stripPrefixRegex: the path and X-Forwarded-Prefix the upstream sees', async (t) => {
  const up = await startUpstream(t, 'up');
  const { port } = await startBaton(t, {
    middlewares: {
      strip: { stripPrefix: { prefixes: ['/api', '/v1'] } },
      stripRe: { stripPrefixRegex: { regex: ['/tenant/[a-z0-9]+'] } },
    },
    services: {
      app: { rule, upstreams: [up.url], middlewares: ['strip'] },
      re: { rule: 'Host(`re.test`)', upstreams: [up.url], middlewares: ['stripRe'] },
    },
  });
  t.equal((await http(port, { path: '/api/users?id=7' })).status, 200);
  t.equal(up.seen[0].url, '/users?id=7');
  t.equal(up.seen[0].headers['x-forwarded-prefix'], '/api');
  await http(port, { path: '/api' });
  t.equal(up.seen[1].url, '/', 'the whole path stripped: "/"');
  await http(port, { path: '/v1/x' });
  t.equal(up.seen[2].url, '/x');
  t.equal(up.seen[2].headers['x-forwarded-prefix'], '/v1');
  await http(port, { path: '/other' });
  t.equal(up.seen[3].url, '/other');
  t.equal(up.seen[3].headers['x-forwarded-prefix'], undefined, 'no prefix stripped: no header');
  const dots = await http(port, { path: '/api../etc/passwd' });
  t.equal(dots.status, 400, 'a stripped path that cleaning would change is refused, as Traefik');
  t.equal(dots.headers['x-baton-error'], 'bad_path');
  const slashes = await http(port, { path: '/api//x' });
  t.equal(slashes.status, 400);
  t.equal(up.seen.length, 4, 'the refused requests never reached the upstream');
  await http(port, { host: 're.test', path: '/tenant/acme42/dash?tab=2' });
  t.equal(up.seen[4].url, '/dash?tab=2');
  t.equal(up.seen[4].headers['x-forwarded-prefix'], '/tenant/acme42');
  const spoof = await http(port, { path: '/api/x', headers: { 'x-forwarded-prefix': '/evil' } });
  t.equal(spoof.status, 200);
  const prefixes = String(up.seen[5].headers['x-forwarded-prefix']).split(/,\s*/);
  t.equal(prefixes.at(-1), '/api', "the stripped prefix is the last value (Header.Add), after any client's");
});

t.test('addPrefix, replacePath, replacePathRegex: path, query and X-Replaced-Path', async (t) => {
  const up = await startUpstream(t, 'up');
  const { port } = await startBaton(t, {
    middlewares: {
      add: { addPrefix: { prefix: '/backend' } },
      replace: { replacePath: { path: '/fixed/path' } },
      replaceRe: { replacePathRegex: { regex: '^/old/(.*)', replacement: '/new/$1' } },
      toEmpty: { replacePathRegex: { regex: '^/x(.*)', replacement: '$1' } },
    },
    services: {
      add: { rule: 'Host(`add.test`)', upstreams: [up.url], middlewares: ['add'] },
      replace: { rule: 'Host(`replace.test`)', upstreams: [up.url], middlewares: ['replace'] },
      re: { rule: 'Host(`re.test`)', upstreams: [up.url], middlewares: ['replaceRe'] },
      empty: { rule: 'Host(`empty.test`)', upstreams: [up.url], middlewares: ['toEmpty'] },
    },
  });
  await http(port, { host: 'add.test', path: '/users?a=1' });
  t.equal(up.seen[0].url, '/backend/users?a=1');
  await http(port, { host: 'replace.test', path: '/anything/at/all?q=2' });
  t.equal(up.seen[1].url, '/fixed/path?q=2');
  t.equal(up.seen[1].headers['x-replaced-path'], '/anything/at/all');
  await http(port, { host: 're.test', path: '/old/thing/7?z' });
  t.equal(up.seen[2].url, '/new/thing/7?z');
  t.equal(up.seen[2].headers['x-replaced-path'], '/old/thing/7');
  await http(port, { host: 're.test', path: '/unrelated' });
  t.equal(up.seen[3].url, '/unrelated');
  t.equal(up.seen[3].headers['x-replaced-path'], undefined, 'no match: no header');
  const bad = await http(port, { host: 'empty.test', path: '/xyz' });
  t.equal(bad.status, 400, 'a rewrite without a leading "/" is refused, never forwarded');
  t.equal(up.seen.length, 4);
});

t.test('a chain: stripPrefix then addPrefix then redirectScheme sees the rewritten path', async (t) => {
  const up = await startUpstream(t, 'up');
  const { port } = await startBaton(t, {
    middlewares: {
      strip: { stripPrefix: { prefixes: ['/public'] } },
      add: { addPrefix: { prefix: '/internal' } },
      both: { chain: { middlewares: ['strip', 'add'] } },
      toHttps: { redirectScheme: { scheme: 'https' } },
    },
    services: {
      app: { rule, upstreams: [up.url], middlewares: ['both'] },
      r: { rule: 'Host(`r.test`)', upstreams: [up.url], middlewares: ['strip', 'toHttps'] },
    },
  });
  await http(port, { path: '/public/page' });
  t.equal(up.seen[0].url, '/internal/page');
  t.equal(up.seen[0].headers['x-forwarded-prefix'], '/public');
  const r = await http(port, { host: 'r.test', path: '/public/page' });
  t.equal(r.headers.location, 'https://r.test/page', 'as in Traefik, where stripPrefix updates RequestURI');
});

t.test('bad options stop baton from starting, each by its middleware and option', async (t) => {
  await refusesToStart(t, [
    [{ r: { redirectScheme: {} } }, /middlewares\.r.*scheme: required/],
    [{ r: { redirectScheme: { scheme: 'https', port: 'x' } } }, /middlewares\.r.*port: expected a port number/],
    [{ r: { redirectRegex: { regex: '(a)\\1', replacement: 'x' } } }, /middlewares\.r.*regex: .*backtracking/],
    [{ r: { redirectRegex: { regex: '.*', replacement: 'https://a/\r\nSet-Cookie: x=1' } } }, /replacement: .*control/],
    [{ r: { stripPrefixRegex: { regex: ['(?=x)'] } } }, /middlewares\.r.*regex\[0\]: .*backtracking/],
    [{ r: { replacePath: { path: '/a\r\nb' } } }, /middlewares\.r.*path: .*control/],
    [{ r: { replacePathRegex: { regex: '^(.*', replacement: '/x' } } }, /regex: invalid regular expression/],
    [{ r: { addPrefix: {} } }, /middlewares\.r.*prefix: required/],
  ]);
});
