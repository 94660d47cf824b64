// Middlewares from real Docker labels, as a new user brings them: a docker-compose project taken from a Traefik
// setup (HTTP→HTTPS redirect, basicAuth on an admin path, stripPrefix for an API, security headers, compression),
// started with docker-compose and routed by baton with no label changed; every other type from Traefik labels on one
// real container; then a deploy whose postHealthy smoke test
// fails, under load: the old version keeps serving, zero failed requests. Skipped, with the reason, without an
// engine (or without docker-compose for the first part).
import t, { type Test } from 'tap';
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { gunzipSync, brotliDecompressSync } from 'node:zlib';
import { Agent } from 'undici';
import { createServer } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { makeCa, makeLeaf } from './fixtures/certs.ts';
import { batonLabels, dockerConfig, finished, startContainer, testImages, testRuns, versions, waitHealthy, whenDockerAnswers } from './fixtures/docker.ts';
import { admin, http, send, startBaton, type TestBaton } from './fixtures/harness.ts';
import { describeLoad, runLoad } from './fixtures/load.ts';

await whenDockerAnswers(t, 240_000, run);

function composeAvailable(): string | null {
  const r = spawnSync('docker-compose', ['version'], { encoding: 'utf8' });
  return r.status === 0 ? null : 'docker-compose is not installed (Debian package docker-compose)';
}

async function run(): Promise<void> {
  const images = await testImages(t);
  const unique = testRuns('mw', { dirPrefix: 'baton-docker-mw-' });

  t.test('a Traefik docker-compose project is routed with its middlewares, labels unchanged', async (t: Test) => {
    const noCompose = composeAvailable();
    if (noCompose !== null) {
      t.comment(`SKIPPED: ${noCompose}`);
      return;
    }
    const u = unique(t);
    const host = `shop-${u.i}.test`;
    const svc = `shop${process.pid}x${u.i}`;
    // htpasswd -nbm admin s3cret, with every $ doubled as compose files need
    const users = 'admin:$$apr1$$BFCBVjcD$$ZfV2PcIZZRpkBz6fStass0';
    const compose = `version: "3.8"
services:
  app:
    image: ${images.v1}
    labels:
      - baton.test=1
      - baton.test.run=${u.run}
      - traefik.enable=true
      - traefik.http.services.${svc}.loadbalancer.server.port=8080
      - traefik.http.routers.${svc}-http.rule=Host(\`${host}\`)
      - traefik.http.routers.${svc}-http.entrypoints=web
      - traefik.http.routers.${svc}-http.middlewares=redirect-to-https
      - traefik.http.middlewares.redirect-to-https.redirectscheme.scheme=https
      - traefik.http.middlewares.redirect-to-https.redirectscheme.permanent=true
      - traefik.http.routers.${svc}.rule=Host(\`${host}\`)
      - traefik.http.routers.${svc}.entrypoints=websecure
      - traefik.http.routers.${svc}.tls=true
      - traefik.http.routers.${svc}.middlewares=secure-headers,gzip
      - traefik.http.routers.${svc}-admin.rule=Host(\`${host}\`) && PathPrefix(\`/admin\`)
      - traefik.http.routers.${svc}-admin.entrypoints=websecure
      - traefik.http.routers.${svc}-admin.tls=true
      - traefik.http.routers.${svc}-admin.middlewares=admin-auth,secure-headers
      - "traefik.http.middlewares.admin-auth.basicauth.users=${users}"
      - traefik.http.routers.${svc}-api.rule=Host(\`${host}\`) && PathPrefix(\`/api\`)
      - traefik.http.routers.${svc}-api.entrypoints=websecure
      - traefik.http.routers.${svc}-api.tls=true
      - traefik.http.routers.${svc}-api.middlewares=api-strip@docker,secure-headers,gzip
      - traefik.http.middlewares.api-strip.stripprefix.prefixes=/api
      - traefik.http.middlewares.secure-headers.headers.stsSeconds=31536000
      - traefik.http.middlewares.secure-headers.headers.stsIncludeSubdomains=true
      - traefik.http.middlewares.secure-headers.headers.frameDeny=true
      - traefik.http.middlewares.secure-headers.headers.contentTypeNosniff=true
      - traefik.http.middlewares.secure-headers.headers.browserXssFilter=true
      - traefik.http.middlewares.secure-headers.headers.referrerPolicy=same-origin
      - traefik.http.middlewares.secure-headers.headers.customResponseHeaders.X-Powered-By=
      - traefik.http.middlewares.gzip.compress=true
`;
    const file = join(u.dir, 'docker-compose.yml');
    writeFileSync(file, compose);
    const project = `bt${u.run.replace(/[^a-z0-9]/g, '')}`.slice(0, 60);
    t.teardown(() => {
      spawnSync('docker-compose', ['-p', project, '-f', file, 'down', '-t', '1'], { stdio: 'ignore' });
    });
    execFileSync('docker-compose', ['-p', project, '-f', file, 'up', '-d'], { stdio: 'pipe' });

    const ca = makeCa(u.dir);
    const leaf = makeLeaf(ca, u.dir, [host]);
    const b = await startBaton(t, {
      ...dockerConfig(),
      entrypoints: {
        web: { address: '127.0.0.1:0' },
        websecure: { address: '127.0.0.1:0', http: { tls: {} } },
      },
      tls: { certificates: [{ certFile: leaf.certFile, keyFile: leaf.keyFile }] },
    });
    await waitHealthy(b, svc, 1, 20_000);
    const securePort = b.app.entrypointAddress('websecure').port;
    const agent = new Agent({ connect: { ca: ca.pem, servername: host } });
    t.teardown(() => agent.close());
    const https = (path: string, headers: Record<string, string> = {}) =>
      send(`https://127.0.0.1:${securePort}`, host, () => agent, { path, host, headers, agent });

    // HTTP → HTTPS, permanently, before any upstream is asked
    const redirect = await http(b.app.entrypointAddress('web').port, { host, path: '/cart?id=7' });
    t.equal(redirect.status, 301, 'redirectScheme permanent: 301 for GET');
    t.equal(redirect.headers.location, `https://${host}/cart?id=7`);

    // the site over HTTPS: security headers, X-Powered-By removed, compression when asked for
    const page = await https('/echo?pad=4000', { 'accept-encoding': 'gzip' });
    t.equal(page.status, 200);
    t.equal(page.headers['strict-transport-security'], 'max-age=31536000; includeSubDomains');
    t.equal(page.headers['x-frame-options'], 'DENY');
    t.equal(page.headers['x-content-type-options'], 'nosniff');
    t.equal(page.headers['x-xss-protection'], '1; mode=block');
    t.equal(page.headers['referrer-policy'], 'same-origin');
    t.equal(page.headers['content-encoding'], 'gzip', 'compressed');
    const raw = await undiciRaw(securePort, host, agent, '/echo?pad=4000', 'br');
    t.equal(raw.encoding, 'br');
    t.equal(JSON.parse(brotliDecompressSync(raw.body).toString()).version, 'v1', 'brotli decodes');
    const gz = await undiciRaw(securePort, host, agent, '/echo?pad=4000', 'gzip');
    t.match(JSON.parse(gunzipSync(gz.body).toString()), { url: '/echo?pad=4000' });
    // (asynchronously: baton runs in this process, and must answer curl meanwhile)
    const curl = await promisify(execFile)('curl', ['-sS', '--compressed', '--cacert', ca.certFile, '--resolve', `${host}:${securePort}:127.0.0.1`, `https://${host}:${securePort}/echo?pad=3000`], { encoding: 'utf8', timeout: 10_000 });
    t.equal(JSON.parse(curl.stdout).pad.length, 3000, 'curl --compressed decodes what baton compressed');

    // the API: prefix stripped, X-Forwarded-Prefix set
    const api = JSON.parse((await https('/api/echo/orders')).body);
    t.equal(api.url, '/echo/orders', 'stripPrefix: the app sees the path without /api');
    t.equal(api.headers['x-forwarded-prefix'], '/api');

    // the admin path: basicAuth with the apr1 hash from htpasswd
    const noAuth = await https('/admin/echo');
    t.equal(noAuth.status, 401);
    t.match(noAuth.headers['www-authenticate'], /^Basic realm="traefik"/);
    t.equal(noAuth.headers['x-frame-options'], undefined, 'as in Traefik, the middlewares after the answering one do not run');
    const wrong = await https('/admin/echo', { authorization: `Basic ${Buffer.from('admin:nope').toString('base64')}` });
    t.equal(wrong.status, 401);
    const good = await https('/admin?echo=1', { authorization: `Basic ${Buffer.from('admin:s3cret').toString('base64')}` });
    t.equal(good.status, 200, 'the right password passes');
    t.equal(JSON.parse(good.body).url, '/admin?echo=1', `the app sees the path as sent: ${good.body.slice(0, 200)}`);
  });

  t.test('every other middleware type from Traefik labels on a real container', async (t: Test) => {
    const u = unique(t);
    const host = `all-${u.i}.test`;
    const svc = `all${process.pid}x${u.i}`;
    const auth = createServer((req, res) => {
      if (req.headers.authorization === 'Bearer ok') res.writeHead(200, { 'X-User': 'ada' }).end();
      else res.writeHead(401, { 'content-type': 'text/plain' }).end('who are you?\n');
    });
    auth.listen(0, '127.0.0.1');
    await once(auth, 'listening');
    t.teardown(() => new Promise<void>((r) => auth.close(() => r())));
    const authPort = (auth.address() as AddressInfo).port;
    const r = (name: string, rule: string, middlewares: string) => ({
      [`traefik.http.routers.${svc}-${name}.rule`]: `Host(\`${host}\`) && ${rule}`,
      [`traefik.http.routers.${svc}-${name}.middlewares`]: middlewares,
    });
    const m = `traefik.http.middlewares.${svc}`;
    const labels: Record<string, string> = {
      'traefik.enable': 'true',
      [`traefik.http.services.${svc}.loadbalancer.server.port`]: '8080',
      ...r('rr', 'PathPrefix(`/rr`)', `${svc}-rr`),
      [`${m}-rr.redirectregex.regex`]: '^http://([^/:]+)(:\\d+)?/rr/(.*)',
      [`${m}-rr.redirectregex.replacement`]: 'https://${1}/new/${3}',
      ...r('spr', 'PathPrefix(`/spr`)', `${svc}-spr`),
      [`${m}-spr.stripprefixregex.regex`]: '/spr/[0-9]+',
      ...r('ap', 'PathPrefix(`/ap`)', `${svc}-ap`),
      [`${m}-ap.addprefix.prefix`]: '/echo',
      ...r('rp', 'PathPrefix(`/rp`)', `${svc}-rp`),
      [`${m}-rp.replacepath.path`]: '/echo/replaced',
      ...r('rpr', 'PathPrefix(`/rpr`)', `${svc}-rpr`),
      [`${m}-rpr.replacepathregex.regex`]: '^/rpr/(.*)',
      [`${m}-rpr.replacepathregex.replacement`]: '/echo/$1',
      ...r('fa', 'PathPrefix(`/fa`)', `${svc}-fa,${svc}-ap`),
      [`${m}-fa.forwardauth.address`]: `http://127.0.0.1:${authPort}/check`,
      [`${m}-fa.forwardauth.authresponseheaders`]: 'X-User',
      ...r('ip', 'PathPrefix(`/ip`)', `${svc}-ip`),
      [`${m}-ip.ipallowlist.sourcerange`]: '10.0.0.0/8,192.168.0.0/16',
      ...r('rl', 'PathPrefix(`/rl`)', `${svc}-rl`),
      [`${m}-rl.ratelimit.average`]: '1',
      [`${m}-rl.ratelimit.period`]: '1m',
      [`${m}-rl.ratelimit.burst`]: '2',
      ...r('ifr', 'PathPrefix(`/slow`)', `${svc}-ifr`),
      [`${m}-ifr.inflightreq.amount`]: '1',
      ...r('err', 'PathPrefix(`/smoke`)', `${svc}-err`),
      [`${m}-err.errors.status`]: '500-599',
      [`${m}-err.errors.service`]: `${svc}@docker`,
      [`${m}-err.errors.query`]: '/echo/error/{status}',
      ...r('cb', 'PathPrefix(`/cb`)', `${svc}-cb`),
      [`${m}-cb.chain.middlewares`]: `${svc}-breaker,${svc}-to-smoke`,
      [`${m}-breaker.circuitbreaker.expression`]: 'ResponseCodeRatio(500, 600, 0, 600) > 0.5',
      [`${m}-breaker.circuitbreaker.fallbackduration`]: '30s',
      [`${m}-to-smoke.replacepath.path`]: '/smoke',
      ...r('buf', 'PathPrefix(`/buf`)', `${svc}-retry,${svc}-buf`),
      [`${m}-retry.retry.attempts`]: '3',
      [`${m}-buf.buffering.maxrequestbodybytes`]: '10',
    };
    await startContainer(`${u.name}-0`, images.smokefail, u.run, labels);
    const b = await startBaton(t, dockerConfig());
    await waitHealthy(b, svc, 1, 20_000);
    const get = (path: string, headers: Record<string, string> = {}) => http(b.port, { host, path, headers });
    const echo = async (path: string, headers: Record<string, string> = {}) => JSON.parse((await get(path, headers)).body);

    const rr = await get('/rr/a/b?c=1');
    t.equal(rr.status, 302, 'redirectRegex');
    t.equal(rr.headers.location, `https://${host}/new/a/b?c=1`);
    t.equal((await echo('/spr/42/echo/x')).url, '/echo/x', 'stripPrefixRegex');
    t.equal((await echo('/ap')).url, '/echo/ap', 'addPrefix');
    const rp = await echo('/rp/x');
    t.equal(rp.url, '/echo/replaced', 'replacePath');
    t.equal(rp.headers['x-replaced-path'], '/rp/x');
    t.equal((await echo('/rpr/a/b')).url, '/echo/a/b', 'replacePathRegex');
    const denied = await get('/fa');
    t.equal(denied.status, 401, "forwardAuth: the auth server's answer");
    t.equal(denied.body, 'who are you?\n');
    t.equal((await echo('/fa', { authorization: 'Bearer ok' })).headers['x-user'], 'ada', 'forwardAuth: its header passed on');
    t.equal((await get('/ip')).status, 403, 'ipAllowList');
    t.same([(await get('/rl')).status, (await get('/rl')).status, (await get('/rl')).status], [200, 200, 429], 'rateLimit');
    const both = await Promise.all([get('/slow?ms=400'), (async () => (await sleep(100), get('/slow?ms=10')))()]);
    t.same(both.map((x) => x.status), [200, 429], 'inFlightReq');
    const page = await get('/smoke');
    t.equal(page.status, 500, 'errors: the status stays');
    t.match(JSON.parse(page.body), { url: '/echo/error/500' }, 'errors: the page from the service');
    const statuses: number[] = [];
    for (let i = 0; i < 30 && !statuses.includes(503); i++) {
      statuses.push((await get('/cb')).status);
      await sleep(20);
    }
    t.ok(statuses.includes(503), `circuitBreaker trips on the 5xx (${statuses.join(',')})`);
    t.equal((await http(b.port, { host, path: '/buf', method: 'POST', body: 'x'.repeat(100) })).status, 413, 'buffering');
    t.equal((await http(b.port, { host, path: '/buf/echo', method: 'POST', body: 'small' })).status, 201, 'retry + buffering: a small body passes');
  });

  t.test('a deploy whose postHealthy smoke test fails leaves the old version serving, zero failed requests', async (t: Test) => {
    const u = unique(t);
    for (let k = 0; k < 2; k++) await startContainer(`${u.name}-orig-${k}`, images.v1, u.run, batonLabels(u.name, u.host));
    process.env.SMOKE_PATH = '/smoke';
    t.teardown(() => void delete process.env.SMOKE_PATH);
    const b: TestBaton = await startBaton(t, {
      ...dockerConfig(),
      deploy: { hooks: { postHealthy: [{ module: resolve(import.meta.dirname, '../examples/plugins/deploy-smoke.ts'), timeout: '10s' }] } },
    });
    await waitHealthy(b, u.name, 2);
    let rec: any;
    const go = (async () => {
      await sleep(800);
      const res = await admin(b.adminPort, 'POST', `/api/services/${u.name}/deploys`, { image: images.smokefail, monitor: '1s', healthTimeout: '10s', drainTimeout: '5s' });
      t.equal(res.status, 202, 'deploy accepted');
      rec = await finished(b, res.json.id);
    })();
    const load = await runLoad({ port: b.port, host: u.host, runId: u.run, until: go, tailMs: 800, maxDurationMs: 60_000 });
    await go;
    t.comment(`smoke-failed deploy: ${rec.state}: ${rec.error}; ${describeLoad(load)}`);
    t.equal(rec.state, 'failed', 'the deploy failed');
    t.match(rec.error, /postHealthy|smoke/i, 'because of the smoke test');
    t.ok(rec.steps.some((s: { action: string; status: string }) => /hook postHealthy/.test(s.action) && s.status === 'failed'), 'the hook step failed');
    t.equal(load.versions?.smokefail ?? 0, 0, 'the new version never served a request: held until its smoke test passes');
    t.equal(load.non2xx + load.errors + load.timeouts + load.unanswered, 0, 'zero failed requests');
    t.ok(load.requests >= 100, `load ran (${load.requests})`);
    await waitHealthy(b, u.name, 2);
    t.same(await versions(b.port, u.host, 6), { v1: 6 }, 'v1 still serves; the new containers are gone');
  });
}

/** A GET whose body is kept as sent (undici does not decode), with its Content-Encoding. */
async function undiciRaw(port: number, host: string, agent: Agent, path: string, encoding: string) {
  const res = await agent.request({ origin: `https://127.0.0.1:${port}`, path, method: 'GET', headers: { host, 'accept-encoding': encoding } });
  const body = Buffer.from(await res.body.arrayBuffer());
  return { encoding: res.headers['content-encoding'], body };
}
