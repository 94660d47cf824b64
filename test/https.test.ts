// HTTPS end to end: TLS termination with certificate files picked by SNI, HTTP/1.1 and HTTP/2 (curl and Node's
// clients), TLS routes only over TLS and plain ones only in plain HTTP, entrypoint redirections, and the hostile
// edges of the first bytes (garbage, stalls).
import { execFile } from 'node:child_process';
import { connect as h2connect } from 'node:http2';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { promisify } from 'node:util';
import t, { type Test } from 'tap';
import { makeCa, makeLeaf } from './fixtures/certs.ts';
import { http, raw, startBaton, startUpstream, tempDir } from './fixtures/harness.ts';

const run = promisify(execFile);

async function setup(t: Test, extra: Record<string, unknown> = {}) {
  const dir = tempDir(t);
  const ca = makeCa(dir);
  const shop = makeLeaf(ca, dir, ['shop.test', 'www.shop.test']);
  const wild = makeLeaf(ca, dir, ['*.apps.test']);
  const up = await startUpstream(t, 'app');
  const plain = await startUpstream(t, 'plain');
  const baton = await startBaton(t, {
    entrypoints: {
      web: { address: '127.0.0.1:0' },
      websecure: { address: '127.0.0.1:0', http: { tls: {} } },
    },
    tls: { certificates: [shop, wild].map((c) => ({ certFile: c.certFile, keyFile: c.keyFile })) },
    services: {
      shop: { rule: 'Host(`shop.test`) || HostRegexp(`^.+\\.apps\\.test$`)', upstreams: [up.url], entrypoints: ['websecure'] },
      plain: { rule: 'Host(`plain.test`)', upstreams: [plain.url], entrypoints: ['web'] },
    },
    ...extra,
  });
  const securePort = baton.app.entrypointAddress('websecure').port;
  return { ca, up, plain, baton, securePort };
}

async function curl(args: string[]): Promise<{ status: number; version: string; body: string }> {
  const { stdout } = await run('curl', ['-sS', '-m', '5', '-w', '\n%{http_code} %{http_version}', ...args], {
    timeout: 10_000,
  });
  const lines = stdout.trimEnd().split('\n');
  const [status, version] = lines.pop()!.split(' ');
  return { status: Number(status), version, body: lines.join('\n') };
}

t.test('HTTPS over HTTP/1.1 and HTTP/2 with curl: SNI picks the certificate, the upstream sees https', async (t) => {
  const { ca, up, securePort } = await setup(t);
  const resolve = [`--resolve`, `shop.test:${securePort}:127.0.0.1`, '--cacert', ca.certFile];
  const h1 = await curl([...resolve, '--http1.1', `https://shop.test:${securePort}/a?b=1`]);
  t.equal(h1.status, 200, 'HTTP/1.1 over TLS answers');
  t.equal(h1.version, '1.1');
  const h2 = await curl([...resolve, '--http2', `https://shop.test:${securePort}/h2`]);
  t.equal(h2.status, 200, 'HTTP/2 answers');
  t.equal(h2.version, '2', 'negotiated h2 by ALPN');
  const seen = up.seen.map((s) => [s.url, s.headers['x-forwarded-proto'], s.headers.host]);
  t.same(seen, [
    ['/a?b=1', 'https', `shop.test:${securePort}`],
    ['/h2', 'https', `shop.test:${securePort}`],
  ]);
  const wild = await curl([
    '--resolve',
    `x.apps.test:${securePort}:127.0.0.1`,
    '--cacert',
    ca.certFile,
    `https://x.apps.test:${securePort}/w`,
  ]);
  t.equal(wild.status, 200, 'the wildcard certificate verifies for a name under it');
});

t.test('HTTP/2 with Node: :authority is the Host, cookies are joined, bodies stream both ways', async (t) => {
  const { ca, up, securePort } = await setup(t);
  const session = h2connect(`https://127.0.0.1:${securePort}`, { ca: ca.pem, servername: 'shop.test' });
  t.teardown(() => session.close());
  const authority = `shop.test:${securePort}`;
  const post = await h2request(
    session,
    { ':method': 'POST', ':path': '/post', ':authority': authority, cookie: ['a=1', 'b=2'] },
    'hello h2',
  );
  t.equal(post.status, 200);
  const echo = JSON.parse(post.body);
  t.equal(echo.body, 'hello h2', 'the request body reached the upstream');
  t.equal(echo.headers.cookie, 'a=1; b=2', 'cookies joined for the HTTP/1.1 upstream');
  t.equal(echo.headers.host, `shop.test:${securePort}`);
  t.notOk(Object.keys(echo.headers).some((h) => h.startsWith(':')), 'no pseudo-header upstream');
  const parallel = await Promise.all(
    Array.from({ length: 20 }, (_, i) => h2request(session, { ':path': `/p${i}`, ':authority': authority })),
  );
  t.same(
    parallel.map((r) => r.status),
    parallel.map(() => 200),
    '20 streams on one session',
  );
  t.equal(up.seen.length, 21);
});

t.test('TLS routes only over TLS, plain routes only in plain HTTP', async (t) => {
  const { ca, baton, securePort } = await setup(t);
  t.equal((await http(baton.port, { host: 'shop.test' })).status, 404, 'a TLS route is not served in plain HTTP');
  t.equal((await http(baton.port, { host: 'plain.test' })).status, 200, 'a plain route is');
  const overTls = await curl([
    '--resolve',
    `plain.test:${securePort}:127.0.0.1`,
    '-k',
    `https://plain.test:${securePort}/`,
  ]);
  t.equal(overTls.status, 404, 'a plain route is not served over TLS');
  void ca;
});

t.test('an unknown SNI name gets the default certificate; garbage and stalls before ClientHello are closed', async (t) => {
  const { securePort, baton } = await setup(t, { timeouts: { header: '1s' } });
  const peer = await new Promise<string>((resolve, reject) => {
    const s = tlsConnect({ port: securePort, host: '127.0.0.1', servername: 'nope.test', rejectUnauthorized: false });
    s.once('secureConnect', () => {
      resolve(String(s.getPeerCertificate().subject.CN));
      s.destroy();
    });
    s.once('error', reject);
  });
  t.equal(peer, 'baton default certificate');
  const garbage = await raw(securePort, Buffer.from([0x16, 0x03, 0x01, 0xff, 0xff, 1, 2, 3, 4, 5]), 2000);
  t.ok(garbage.closed, 'a malformed ClientHello is closed');
  const started = Date.now();
  const silent = await new Promise<string>((resolve) => {
    const s = netConnect(securePort, '127.0.0.1');
    let data = '';
    s.on('data', (d) => (data += d.toString('latin1')));
    s.on('close', () => resolve(data));
    s.on('error', () => {});
  });
  t.match(silent, /^HTTP\/1\.1 408 /, 'a silent connection gets a 408 at the header timeout');
  t.ok(Date.now() - started < 3000, `closed in ${Date.now() - started} ms`);
  const stalled = Date.now();
  const partial = await raw(securePort, Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]), 5000);
  t.ok(partial.closed && Date.now() - stalled < 3000, 'a ClientHello that stalls is closed at the timeout');
  t.equal((await http(baton.port, { host: 'plain.test' })).status, 200, 'baton still serves');
});

t.test('entrypoint redirections: 301 / 308 to the TLS entrypoint, same host, path and query', async (t) => {
  const up = await startUpstream(t, 'app');
  const baton = await startBaton(t, {
    entrypoints: {
      web: { address: '127.0.0.1:0', http: { redirections: { entryPoint: { to: 'websecure' } } } },
      websecure: { address: '127.0.0.1:0', http: { tls: {} } },
    },
    services: { shop: { rule: 'Host(`shop.test`)', upstreams: [up.url] } },
  });
  const securePort = baton.app.entrypointAddress('websecure').port;
  const get = await http(baton.port, { host: 'shop.test', path: '/cart?x=1' });
  t.equal(get.status, 301);
  t.equal(get.headers.location, `https://shop.test:${securePort}/cart?x=1`);
  const post = await http(baton.port, { host: 'shop.test:8080', path: '/buy', method: 'POST', body: 'x' });
  t.equal(post.status, 308, 'non-GET keeps its method');
  t.equal(post.headers.location, `https://shop.test:${securePort}/buy`, 'the port of the Host is replaced');
  t.equal(up.seen.length, 0, 'nothing was forwarded');
});

function h2request(
  session: ReturnType<typeof h2connect>,
  headers: Record<string, string | string[]>,
  body?: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = session.request(headers, { endStream: body === undefined });
    let status = 0;
    let text = '';
    req.on('response', (h) => (status = Number(h[':status'])));
    req.setEncoding('utf8');
    req.on('data', (d: string) => (text += d));
    req.on('end', () => resolve({ status, body: text }));
    req.on('error', reject);
    if (body !== undefined) req.end(body);
  });
}

t.test('an HTTP/2 client that vanishes mid-request: its streams end at once, upstream requests are cancelled', async (t) => {
  const dir = tempDir(t);
  const ca = makeCa(dir);
  const cert = makeLeaf(ca, dir, ['slow.test']);
  const slow = await startUpstream(t, 'slow', (_req, res) => setTimeout(() => res.end('late'), 3000));
  const baton = await startBaton(t, {
    tls: { certificates: [{ certFile: cert.certFile, keyFile: cert.keyFile }] },
    services: { slow: { rule: 'Host(`slow.test`)', upstreams: [slow.url], tls: true } },
  });
  const session = h2connect(`https://127.0.0.1:${baton.port}`, { ca: ca.pem, servername: 'slow.test' });
  session.on('error', () => {});
  for (let i = 0; i < 3; i++) session.request({ ':path': `/s${i}`, ':authority': 'slow.test' }).on('error', () => {});
  const ep = baton.app.entrypoints.get('web')!;
  const deadline = Date.now() + 2000;
  while (baton.app.registry.inflight() < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.equal(baton.app.registry.inflight(), 3, 'three requests in flight upstream');
  session.destroy();
  const gone = Date.now() + 1000;
  while ((ep.active > 0 || baton.app.registry.inflight() > 0) && Date.now() < gone) await new Promise((r) => setTimeout(r, 20));
  t.same([ep.active, baton.app.registry.inflight()], [0, 0], 'every stream ended, nothing in flight, well before the upstream answers');
  const started = Date.now();
  await baton.app.close(5000);
  t.ok(Date.now() - started < 1000, `baton stops promptly (${Date.now() - started} ms)`);
});
