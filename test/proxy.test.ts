import { connect, type Socket } from 'node:net';
import t from 'tap';
import { Agent } from 'undici';
import { http, raw, startBaton, startUpstream } from './fixtures/harness.ts';

t.test('round-robin spreads requests across upstreams', async (t) => {
  const a = await startUpstream(t, 'a');
  const b = await startUpstream(t, 'b');
  const c = await startUpstream(t, 'c');
  const { port } = await startBaton(t, { services: { app: { rule: 'Host(`app.test`)', upstreams: [a.url, b.url, c.url] } } });
  const agent = new Agent({ connections: 4 });
  const counts: Record<string, number> = {};
  for (let i = 0; i < 30; i++) {
    const r = await http(port, { agent });
    t.equal(r.status, 200);
    const who = r.headers['x-upstream'] as string;
    counts[who] = (counts[who] ?? 0) + 1;
  }
  await agent.close();
  t.same(counts, { a: 10, b: 10, c: 10 });
});

t.test('unknown host gets 404 from baton, never an upstream', async (t) => {
  const a = await startUpstream(t, 'a');
  const { port } = await startBaton(t, { services: { app: { rule: 'Host(`app.test`)', upstreams: [a.url] } } });
  const r = await http(port, { host: 'other.test' });
  t.equal(r.status, 404);
  t.equal(r.headers['x-baton-error'], 'no_route');
  t.equal(a.seen.length, 0);
});

t.test('most specific rule wins', async (t) => {
  const a = await startUpstream(t, 'a');
  const b = await startUpstream(t, 'b');
  const { port } = await startBaton(t, {
    services: {
      site: { rule: 'Host(`app.test`)', upstreams: [a.url] },
      api: { rule: 'Host(`app.test`) && PathPrefix(`/api`)', upstreams: [b.url] },
    },
  });
  t.equal((await http(port, { path: '/api/x' })).headers['x-upstream'], 'b');
  t.equal((await http(port, { path: '/index.html' })).headers['x-upstream'], 'a');
});

t.test('least-connections prefers the idle upstream', async (t) => {
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => (release = r));
  const slow = await startUpstream(t, 'slow', (req, res) => {
    void gate.then(() => res.end('slow'));
  });
  const fast = await startUpstream(t, 'fast');
  const { port } = await startBaton(t, {
    services: { app: { rule: 'Host(`app.test`)', upstreams: [slow.url, fast.url], loadBalancer: 'least-connections' } },
  });
  const pending = http(port, { path: '/first' }); // goes to slow (first in order) and stays in flight
  await new Promise((r) => setTimeout(r, 100));
  for (let i = 0; i < 5; i++) t.equal((await http(port)).headers['x-upstream'], 'fast');
  release();
  t.equal((await pending).body, 'slow');
});

t.test('bodies stream both ways and the request body reaches the upstream intact', async (t) => {
  const a = await startUpstream(t, 'a', (req, res, body) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    // answer with a large streamed body: 4 MiB in 64 KiB chunks
    const chunk = Buffer.alloc(64 * 1024, 'x');
    let left = 64;
    const write = () => {
      while (left > 0) {
        left--;
        if (!res.write(chunk)) return void res.once('drain', write);
      }
      res.end(`|${body.length}`);
    };
    write();
  });
  const { port } = await startBaton(t, { services: { app: { rule: 'Host(`app.test`)', upstreams: [a.url] } } });
  const big = Buffer.alloc(3 * 1024 * 1024, 'y');
  const r = await http(port, { method: 'POST', body: big });
  t.equal(r.status, 200);
  t.equal(r.body.length, 64 * 64 * 1024 + `|${big.length}`.length);
  t.ok(r.body.endsWith(`|${big.length}`));
});

t.test('header hygiene on the way up and down', async (t) => {
  const a = await startUpstream(t, 'a', (req, res) => {
    res.writeHead(200, {
      connection: 'x-internal',
      'x-internal': 'secret',
      'keep-alive': 'timeout=5',
      'proxy-connection': 'keep-alive',
      'x-kept': 'yes',
    });
    res.end('ok');
  });
  const { port } = await startBaton(t, { services: { app: { rule: 'Host(`app.test`)', upstreams: [a.url] } } });
  // raw bytes: HTTP clients refuse to send some of these
  const r = await raw(
    port,
    'GET / HTTP/1.1\r\nHost: app.test\r\nConnection: X-Secret, X-Forwarded-For, close\r\nX-Secret: hidden\r\n' +
      'X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Host: evil.test\r\nX-Real-IP: 6.6.6.6\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\n' +
      'Proxy-Connection: keep-alive\r\nTE: trailers\r\nKeep-Alive: timeout=100\r\nX-Normal: kept\r\n\r\n',
  );
  t.match(r.data, /^HTTP\/1\.1 200 /);
  const h = a.seen[0].headers;
  t.equal(h['x-secret'], undefined, 'Connection-named header dropped');
  t.equal(h['x-forwarded-for'], '127.0.0.1', 'spoofed XFF replaced, baton\'s own still sent');
  t.equal(h['x-forwarded-host'], 'app.test');
  t.equal(h['x-forwarded-proto'], 'http');
  t.equal(h['x-forwarded-port'], String(port));
  t.equal(h['x-real-ip'], '127.0.0.1');
  t.equal(h['proxy-authorization'], undefined);
  t.equal(h['proxy-connection'], undefined);
  t.equal(h.te, undefined);
  t.equal(h['x-normal'], 'kept');
  t.equal(h.host, 'app.test', 'Host passed through by default');
  t.equal(h['keep-alive'], undefined);
  const head = r.data.split('\r\n\r\n')[0].toLowerCase();
  t.notMatch(head, /x-internal/, 'header named in the upstream Connection dropped');
  t.notMatch(head, /proxy-connection/);
  t.notMatch(head, /keep-alive: timeout=5/);
  t.match(head, /x-kept: yes/);
});

t.test('trusted peers get X-Forwarded-For appended to', async (t) => {
  const a = await startUpstream(t, 'a');
  const { port } = await startBaton(t, {
    entrypoints: { web: { address: '127.0.0.1:0', forwardedHeaders: { trustedIPs: ['127.0.0.0/8'] } } },
    services: { app: { rule: 'Host(`app.test`)', upstreams: [a.url] } },
  });
  await http(port, { headers: { 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'https' } });
  t.equal(a.seen[0].headers['x-forwarded-for'], '203.0.113.9, 127.0.0.1');
  t.equal(a.seen[0].headers['x-forwarded-proto'], 'https');
});

t.test('passHostHeader: false sends the upstream its own host:port', async (t) => {
  const a = await startUpstream(t, 'a');
  const { port } = await startBaton(t, { services: { app: { rule: 'Host(`app.test`)', upstreams: [a.url], passHostHeader: false } } });
  await http(port);
  t.equal(a.seen[0].headers.host, `127.0.0.1:${a.port}`);
  t.equal(a.seen[0].headers['x-forwarded-host'], 'app.test');
});

t.test('no healthy upstream → 503 from baton', async (t) => {
  const { port } = await startBaton(t, { services: { app: { rule: 'Host(`app.test`)', upstreams: [] } } });
  const r = await http(port);
  t.equal(r.status, 503);
  t.equal(r.headers['x-baton-error'], 'no_healthy_upstream');
});

t.test('a client that leaves while its request waits in the pool costs no upstream connection', async (t) => {
  let connections = 0;
  const a = await startUpstream(t, 'a', (req, res) => {
    if (req.url === '/slow') setTimeout(() => res.end('slow'), 400);
    else res.end(req.url);
  });
  a.server.on('connection', () => connections++);
  const { port, app } = await startBaton(t, {
    services: { app: { rule: 'Host(`app.test`)', upstreams: [a.url], maxConnectionsPerUpstream: 1 } },
  });
  const slow = http(port, { path: '/slow' }); // takes the pool's one connection
  const id = `app@127.0.0.1:${a.port}`;
  await new Promise((r) => setTimeout(r, 100));
  // queued behind it in the pool, then gone
  const s = await new Promise<Socket>((resolve) => {
    const c = connect(port, '127.0.0.1', () => resolve(c));
  });
  s.write('GET /queued HTTP/1.1\r\nHost: app.test\r\n\r\n');
  await new Promise((r) => setTimeout(r, 100));
  t.equal(app.registry.upstreams.get(id)!.inflight, 2, 'one request on the connection, one queued');
  s.destroy();
  t.equal((await slow).body, 'slow');
  const next = await http(port, { path: '/next' });
  t.equal(next.body, '/next');
  t.same(
    a.seen.map((x) => x.url),
    ['/slow', '/next'],
    'the queued request of the client that left was never sent',
  );
  t.equal(connections, 1, 'the pooled connection was kept: no new upstream connection');
});
