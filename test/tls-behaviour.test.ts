// The proxy's behaviours once more, over HTTPS/1.1 and over HTTP/2: retries (docs/reliability.md 22–24), drains
// (32–33), header hygiene (7–9), body limits (17), WebSockets over TLS (wss), passive ejection (27), and a client
// that goes away mid-request. Real clients (undici over TLS, node:http2, raw h2 frames over TLS, `ws`) against a
// real baton App whose routes are TLS routes.
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { constants as h2c } from 'node:http2';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import t, { type Test } from 'tap';
import { WebSocket, WebSocketServer, type ClientOptions } from 'ws';
import { admin, closedPort, startUpstream, upstreamState, waitFor } from './fixtures/harness.ts';
import {
  FLAG,
  frame,
  FRAME,
  H2_ERROR,
  h2request,
  h2session,
  HOST,
  hpackLiteral,
  hpackRequest,
  https,
  httpsAgent,
  rawH2,
  responseStreams,
  startTlsBaton,
} from './fixtures/tls-baton.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const route = (upstreams: string[], extra: Record<string, unknown> = {}) => ({
  app: { rule: 'Host(`app.test`)', upstreams, ...extra },
});
const idOf = (port: number) => `app@127.0.0.1:${port}`;

/** HTTP/1.1 bytes over TLS (ALPN http/1.1); everything read until the peer closes or `timeoutMs`. */
function tlsExchange(port: number, bytes: string, timeoutMs = 3000): Promise<{ data: string; closed: boolean }> {
  return new Promise((resolve) => {
    const s = tlsConnect({ port, host: '127.0.0.1', servername: HOST, ALPNProtocols: ['http/1.1'], rejectUnauthorized: false });
    let data = '';
    let closed = false;
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ data, closed });
    }, timeoutMs);
    s.on('error', () => {});
    s.on('data', (d: Buffer) => (data += d.toString('latin1')));
    s.on('close', () => {
      closed = true;
      clearTimeout(timer);
      resolve({ data, closed });
    });
    s.once('secureConnect', () => s.write(bytes));
  });
}

/** A raw TCP upstream that reads each request head (and its Content-Length body) and hands it to `onRequest`. */
async function rawUpstream(t: Test, onRequest: (s: Socket, head: string) => void) {
  const heads: string[] = [];
  const sockets = new Set<Socket>();
  const server = createNetServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    let buf = '';
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end === -1) return;
        const head = buf.slice(0, end);
        const m = /content-length: *(\d+)/i.exec(head);
        const len = m ? Number(m[1]) : 0;
        if (buf.length < end + 4 + len) return;
        buf = buf.slice(end + 4 + len);
        heads.push(head);
        onRequest(s, head);
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  const port = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}`, port, heads };
}

// ── retries ─────────────────────────────────────────────────────────────────────────────────────────────────

t.test('22. an upstream whose port is closed: GETs and POSTs go to another, each POST processed exactly once (h1 over TLS, h2)', async (t) => {
  const dead = await closedPort();
  const b = await startUpstream(t, 'b');
  const baton = await startTlsBaton(t, route([`http://127.0.0.1:${dead}`, b.url], { passive: { failures: 0 } }));
  const agent = httpsAgent(baton.ca);
  t.teardown(() => agent.close());
  const session = await h2session(t, baton.port, baton.ca);
  for (let i = 0; i < 3; i++) {
    const g1 = await https(baton.port, baton.ca, { agent, path: `/h1/get/${i}` });
    t.same([g1.status, g1.headers['x-upstream']], [200, 'b'], `HTTPS/1.1 GET ${i}`);
    const p1 = await https(baton.port, baton.ca, { agent, method: 'POST', path: `/h1/orders/${i}`, body: `{"id":"h1-${i}"}` });
    t.same([p1.status, p1.headers['x-upstream']], [200, 'b'], `HTTPS/1.1 POST ${i}`);
    const g2 = await h2request(session, { ':path': `/h2/get/${i}` });
    t.same([g2.status, g2.headers['x-upstream']], [200, 'b'], `h2 GET ${i}`);
    const p2 = await h2request(session, { ':method': 'POST', ':path': `/h2/orders/${i}`, 'content-type': 'application/json' }, `{"id":"h2-${i}"}`);
    t.same([p2.status, p2.headers['x-upstream']], [200, 'b'], `h2 POST ${i}`);
  }
  const posts = b.seen.filter((s) => s.method === 'POST').map((s) => [s.url, s.body]);
  t.same(
    posts,
    [0, 1, 2].flatMap((i) => [
      [`/h1/orders/${i}`, `{"id":"h1-${i}"}`],
      [`/h2/orders/${i}`, `{"id":"h2-${i}"}`],
    ]),
    'every POST reached b exactly once, body intact',
  );
  t.ok(baton.app.registry.services.get('app')!.retries >= 6, `the dead upstream's turns were retried (${baton.app.registry.services.get('app')!.retries} retries)`);
});

t.test('24. over h2: an upstream that reads the request and closes → POST 502, seen once, not retried; GET retried', async (t) => {
  const a = await rawUpstream(t, (s) => s.end());
  const b = await startUpstream(t, 'b');
  const baton = await startTlsBaton(t, route([a.url, b.url], { passive: { failures: 0 } }));
  const session = await h2session(t, baton.port, baton.ca);
  const p = await h2request(session, { ':method': 'POST', ':path': '/once' }, 'x'.repeat(100));
  t.equal(p.status, 502, 'POST written, then the upstream closed → 502');
  t.equal(a.heads.filter((h) => h.startsWith('POST /once')).length, 1, 'a saw the POST exactly once');
  t.equal(b.seen.filter((s) => s.url === '/once').length, 0, 'never re-sent to b');
  for (let i = 0; i < 4; i++) {
    const g = await h2request(session, { ':path': `/get${i}` });
    t.same([g.status, g.headers['x-upstream']], [200, 'b'], `GET ${i}: answered by b (retried when a closed on it)`);
  }
  t.ok(a.heads.some((h) => h.startsWith('GET /get')), 'some GET did go to a first');
  const h1 = await https(baton.port, baton.ca, { method: 'POST', path: '/h1-once', body: 'y' });
  const h1b = await https(baton.port, baton.ca, { method: 'POST', path: '/h1-once', body: 'y' });
  t.same([h1.status, h1b.status].sort(), [200, 502], 'HTTPS/1.1: of two POSTs, the one that reached a gets 502, the other b answers');
  t.equal(a.heads.filter((h) => h.startsWith('POST /h1-once')).length + b.seen.filter((s) => s.url === '/h1-once').length, 2, 'two POSTs, two deliveries: none repeated');
});

// ── drain ───────────────────────────────────────────────────────────────────────────────────────────────────

t.test('drain: an h2 stream in flight on a draining upstream completes; new streams on the same session go elsewhere', async (t) => {
  const a = await startUpstream(t, 'a', (req, res) => {
    res.setHeader('x-upstream', 'a');
    if (req.url === '/slow') setTimeout(() => res.end('slow done'), 800);
    else res.end('a');
  });
  const b = await startUpstream(t, 'b');
  const baton = await startTlsBaton(t, route([a.url, b.url]));
  const u = baton.app.registry.upstreams.get(idOf(a.port))!;
  const session = await h2session(t, baton.port, baton.ca);
  const slow = h2request(session, { ':path': '/slow' }); // round-robin: the first goes to a
  await waitFor(() => u.inflight === 1, 2000, 'the slow stream in flight on a');
  const started = Date.now();
  const drain = admin(baton.adminPort, 'POST', `/api/upstreams/${encodeURIComponent(idOf(a.port))}/drain`, { timeout: '5s' });
  await waitFor(() => upstreamState(baton.app, idOf(a.port)) === 'draining', 1000, 'draining');
  const aBefore = a.seen.length;
  for (let i = 0; i < 8; i++) t.equal((await h2request(session, { ':path': `/n${i}` })).headers['x-upstream'], 'b', `stream ${i} → b`);
  t.equal((await https(baton.port, baton.ca, { path: '/h1' })).headers['x-upstream'], 'b', 'HTTPS/1.1 → b too');
  const r = await slow;
  t.same([r.status, r.body], [200, 'slow done'], 'the in-flight h2 stream finished normally');
  const d = await drain;
  t.same([d.json.state, d.json.timedOut], ['drained', false], 'drained, not timed out');
  t.ok(Date.now() - started >= 500, 'the drain waited for the stream');
  t.equal(a.seen.length - aBefore, 0, 'nothing new reached a after the drain began');
  await waitFor(() => a.sockets.size === 0, 2000, "a's pooled sockets closed");
  t.equal((await h2request(session, { ':path': '/after' })).status, 200, 'the client session is still usable');
});

t.test('a client that goes away mid-request (h2 stream cancelled, HTTPS/1.1 socket destroyed) → the upstream request is aborted', async (t) => {
  const aborted: string[] = [];
  const a = await startUpstream(t, 'a', () => {});
  a.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    res.on('close', () => {
      if (!res.writableFinished) aborted.push(req.url!);
    });
    if (!req.url!.startsWith('/hang')) res.end('ok');
  });
  const baton = await startTlsBaton(t, route([a.url]));
  const u = baton.app.registry.upstreams.get(idOf(a.port))!;
  const ep = baton.app.entrypoints.get('web')!;
  const session = await h2session(t, baton.port, baton.ca);
  const st = session.request({ ':path': '/hang-h2', ':authority': HOST });
  st.on('error', () => {});
  await waitFor(() => a.seen.some((s) => s.url === '/hang-h2'), 2000, 'the h2 request reached the upstream');
  st.close(h2c.NGHTTP2_CANCEL);
  await waitFor(() => aborted.includes('/hang-h2'), 2000, 'the upstream request aborted after the stream was cancelled');
  await waitFor(() => u.inflight === 0 && ep.active === 0, 2000, 'in-flight back to 0');
  t.pass('h2: cancelled stream → upstream aborted, in-flight 0');
  t.equal((await h2request(session, { ':path': '/ok' })).status, 200, 'the session goes on');

  const s = tlsConnect({ port: baton.port, host: '127.0.0.1', servername: HOST, ALPNProtocols: ['http/1.1'], rejectUnauthorized: false });
  s.on('error', () => {});
  await once(s, 'secureConnect');
  s.write('GET /hang-h1 HTTP/1.1\r\nHost: app.test\r\n\r\n');
  await waitFor(() => a.seen.some((x) => x.url === '/hang-h1'), 2000, 'the HTTPS/1.1 request reached the upstream');
  s.destroy();
  await waitFor(() => aborted.includes('/hang-h1'), 2000, 'the upstream request aborted after the client left');
  await waitFor(() => u.inflight === 0 && ep.active === 0, 2000, 'in-flight back to 0');
  t.pass('HTTPS/1.1: client gone → upstream aborted, in-flight 0');
});

// ── header hygiene ──────────────────────────────────────────────────────────────────────────────────────────

t.test('7–9 over TLS: Connection-named and hop-by-hop headers dropped; X-Forwarded-Proto https, X-Forwarded-For the client', async (t) => {
  const up = await startUpstream(t, 'up');
  const baton = await startTlsBaton(t, route([up.url]));
  const r = await tlsExchange(
    baton.port,
    'GET /hyg HTTP/1.1\r\nHost: app.test\r\nConnection: close, X-Secret\r\nX-Secret: s3cret\r\nX-Forwarded-For: 6.6.6.6\r\n' +
      'X-Forwarded-Proto: http\r\nX-Real-IP: 6.6.6.6\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Authorization: Basic eA==\r\nX-Kept: yes\r\n\r\n',
  );
  t.match(r.data, /^HTTP\/1\.1 200 /, 'answered over TLS');
  const h = up.seen[0].headers;
  t.equal(h['x-secret'], undefined, 'the header named in Connection was dropped');
  t.equal(h['keep-alive'], undefined);
  t.equal(h.te, undefined);
  t.equal(h['proxy-authorization'], undefined);
  t.equal(h['x-kept'], 'yes', 'ordinary headers kept');
  t.equal(h['x-forwarded-proto'], 'https', 'X-Forwarded-Proto: https (the client value replaced)');
  t.equal(h['x-forwarded-for'], '127.0.0.1', 'X-Forwarded-For: the client (spoofed value replaced)');
  t.equal(h['x-real-ip'], '127.0.0.1');
  t.equal(h['x-forwarded-port'], String(baton.port));
  t.equal(h['x-forwarded-host'], HOST);

  // h2: te: trailers is the one TE allowed (RFC 9113 §8.2.2); it is not forwarded
  const session = await h2session(t, baton.port, baton.ca);
  const ok = await h2request(session, { ':path': '/h2-te', te: 'trailers', 'x-forwarded-for': '6.6.6.6', 'x-forwarded-proto': 'http' });
  t.equal(ok.status, 200, 'h2 with te: trailers is accepted');
  const h2seen = up.seen.find((s) => s.url === '/h2-te')!.headers;
  t.equal(h2seen.te, undefined, 'te not forwarded');
  t.equal(h2seen['x-forwarded-proto'], 'https');
  t.equal(h2seen['x-forwarded-for'], '127.0.0.1');
  t.equal(h2seen.host, HOST, ':authority became the Host');

  // node:http2 refuses to send a connection-specific header at all
  t.throws(() => session.request({ ':path': '/conn', connection: 'x-secret' }), { code: 'ERR_HTTP2_INVALID_CONNECTION_HEADERS' }, 'node:http2 will not send Connection');

  // a raw h2 client sending them anyway: a malformed request (RFC 9113 §8.2.2) → stream error, never forwarded
  const r2 = await rawH2(t, baton.port);
  r2.write(frame(FRAME.SETTINGS, FLAG.ACK, 0));
  const bad: Array<[string, string]> = [
    ['connection', 'x-secret'],
    ['te', 'gzip'],
    ['keep-alive', 'timeout=5'],
    ['transfer-encoding', 'chunked'],
    ['upgrade', 'websocket'],
    ['proxy-connection', 'keep-alive'],
  ];
  bad.forEach(([name, value], i) => {
    const block = Buffer.concat([hpackRequest('GET', `/raw-${name}`), hpackLiteral(name, value), hpackLiteral('x-secret', 's')]);
    r2.write(frame(FRAME.HEADERS, FLAG.END_STREAM | FLAG.END_HEADERS, 1 + 2 * i, block));
  });
  await sleep(500);
  const resets = new Map(r2.resets());
  bad.forEach(([name], i) => {
    const id = 1 + 2 * i;
    t.ok(resets.get(id) === H2_ERROR.PROTOCOL_ERROR || r2.closed, `raw h2 "${name}": stream ${id} reset with PROTOCOL_ERROR (${resets.get(id)})`);
  });
  t.same(responseStreams(r2), [], 'no response for any of them');
  t.same(
    up.seen.filter((s) => s.url.startsWith('/raw-')).map((s) => s.url),
    [],
    'none was forwarded',
  );
});

t.test('8 over h2: hop-by-hop response headers and those named in the upstream Connection never reach an h2 client', async (t) => {
  const up = await startUpstream(t, 'up', (_req, res) => {
    res.writeHead(200, { connection: 'x-up-secret', 'x-up-secret': '1', 'keep-alive': 'timeout=5', 'proxy-connection': 'x', 'x-fine': 'yes' });
    res.end('body');
  });
  const baton = await startTlsBaton(t, route([up.url]));
  const session = await h2session(t, baton.port, baton.ca);
  const r = await h2request(session, { ':path': '/' });
  t.equal(r.status, 200, 'relayed (no 502 for a connection header Node would refuse to send over h2)');
  t.equal(r.body, 'body');
  for (const h of ['connection', 'x-up-secret', 'keep-alive', 'proxy-connection', 'transfer-encoding']) t.equal(r.headers[h], undefined, `${h} dropped`);
  t.equal(r.headers['x-fine'], 'yes');
  const h1 = await https(baton.port, baton.ca);
  t.equal(h1.headers['x-up-secret'], undefined, 'HTTPS/1.1: the named header dropped too');
});

// ── limits ──────────────────────────────────────────────────────────────────────────────────────────────────

t.test('17 over TLS: a body over limits.maxBodySize → 413 on h2 (declared or streamed) and on HTTPS/1.1; upstream never gets it', async (t) => {
  const bodies: Array<{ url: string; bytes: number; complete: boolean }> = [];
  const up = await startUpstream(t, 'up', () => {});
  up.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const o = { url: req.url!, bytes: 0, complete: false };
    bodies.push(o);
    req.on('data', (c: Buffer) => (o.bytes += c.length));
    req.on('end', () => {
      o.complete = true;
      res.end('ok');
    });
  });
  const baton = await startTlsBaton(t, route([up.url]), { limits: { maxBodySize: '1kb' } });
  const session = await h2session(t, baton.port, baton.ca);
  const atLimit = await h2request(session, { ':method': 'POST', ':path': '/at-limit', 'content-length': '1024' }, Buffer.alloc(1024, 'a'));
  t.equal(atLimit.status, 200, 'h2: exactly at the limit is forwarded');

  const over = await h2request(session, { ':method': 'POST', ':path': '/over', 'content-length': '2000' }, Buffer.alloc(2000, 'b')).catch(
    (e: { rstCode?: number }) => ({ status: 0, rstCode: e.rstCode, headers: {}, body: '' }),
  );
  t.equal(over.status, 413, 'h2: declared content-length over the limit → 413');

  // a huge declared length, no body at all: answered without waiting for it
  const started = Date.now();
  const huge = await new Promise<number>((resolve, reject) => {
    const st = session.request({ ':method': 'POST', ':path': '/huge', ':authority': HOST, 'content-length': '10000000000' }, { endStream: false });
    st.on('response', (h) => resolve(Number(h[':status'])));
    st.on('error', reject);
    setTimeout(() => reject(new Error('no answer')), 3000);
  });
  t.equal(huge, 413, 'h2: a 10 GB declaration → 413');
  t.ok(Date.now() - started < 1000, `at once (${Date.now() - started} ms)`);

  // no content-length, the body streamed past the limit
  const streamed = await new Promise<{ status: number; rst: number }>((resolve) => {
    const st = session.request({ ':method': 'POST', ':path': '/streamed', ':authority': HOST }, { endStream: false });
    let status = 0;
    st.on('response', (h) => (status = Number(h[':status'])));
    st.on('error', () => {});
    st.on('close', () => resolve({ status, rst: st.rstCode }));
    st.resume();
    let sent = 0;
    const pump = () => {
      if (st.destroyed || sent >= 8) return void st.end();
      sent++;
      st.write(Buffer.alloc(512, 'c'));
      setTimeout(pump, 20);
    };
    pump();
  });
  t.ok(streamed.status === 413 || streamed.rst !== 0, `h2: a streamed body over the limit → 413 or reset (status ${streamed.status}, RST ${streamed.rst})`);

  const h1 = await tlsExchange(baton.port, `POST /h1-over HTTP/1.1\r\nHost: app.test\r\nContent-Length: 1025\r\n\r\n${'d'.repeat(1025)}`);
  t.match(h1.data, /^HTTP\/1\.1 413 /, 'HTTPS/1.1: one byte over → 413');
  t.match(h1.data, /x-baton-error: body_too_large/);
  t.ok(h1.closed, 'HTTPS/1.1: connection closed (the unread body is not drained)');

  await sleep(200);
  t.same(bodies.filter((o) => o.url === '/over' || o.url === '/huge' || o.url === '/h1-over'), [], 'declared oversize bodies never reached the upstream');
  const s = bodies.find((o) => o.url === '/streamed');
  t.ok(s === undefined || (!s.complete && s.bytes <= 1024), `the streamed one never completed upstream (${s === undefined ? 'not forwarded' : `${s.bytes} bytes`})`);
  t.equal((await h2request(session, { ':method': 'POST', ':path': '/again' }, 'small')).status, 200, 'the session still serves');
});

// ── WebSockets over TLS ─────────────────────────────────────────────────────────────────────────────────────

t.test('wss: WebSocket over TLS through baton to a ws upstream — messages both ways, closes propagate', async (t) => {
  const upgrades: IncomingMessage[] = [];
  const serverSide: WebSocket[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((_req, res) => res.end('plain'));
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    upgrades.push(req);
    socket.on('error', () => {});
    wss.handleUpgrade(req, socket, head, (ws) => {
      serverSide.push(ws);
      ws.on('error', () => {});
      ws.send('welcome');
      ws.on('message', (data, isBinary) => ws.send(isBinary ? data : `echo ${data.toString()}`, { binary: isBinary }));
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(async () => {
    for (const c of wss.clients) c.terminate();
    for (const s of sockets) s.destroy();
    wss.close();
    await new Promise<void>((r) => server.close(() => r()));
  });
  const upPort = (server.address() as AddressInfo).port;
  const baton = await startTlsBaton(t, route([`http://127.0.0.1:${upPort}`]));
  const u = baton.app.registry.upstreams.get(idOf(upPort))!;
  const ep = baton.app.entrypoints.get('web')!;

  const open = async () => {
    // ws hands `servername` to tls.connect (its typings do not list it)
    const opts: ClientOptions & { servername: string } = { ca: baton.ca.pem, servername: HOST, headers: { host: HOST } };
    const ws = new WebSocket(`wss://127.0.0.1:${baton.port}/chat?room=1`, opts);
    ws.on('error', () => {});
    t.teardown(() => ws.terminate());
    const first = new Promise<string>((resolve) => ws.once('message', (d: Buffer) => resolve(d.toString())));
    await once(ws, 'open');
    return { ws, first };
  };
  const next = (ws: WebSocket) => new Promise<{ data: Buffer; binary: boolean }>((resolve) => ws.once('message', (data: Buffer, binary: boolean) => resolve({ data, binary })));

  const { ws, first } = await open();
  t.equal(await first, 'welcome', 'upstream → client');
  for (let i = 0; i < 3; i++) {
    const m = next(ws);
    ws.send(`hi ${i}`);
    t.equal((await m).data.toString(), `echo hi ${i}`, `client → upstream → client (${i})`);
  }
  const big = Buffer.alloc(200 * 1024, 7);
  const m = next(ws);
  ws.send(big);
  const got = await m;
  t.ok(got.binary && got.data.equals(big), 'a 200 KiB binary message crosses intact');
  const req = upgrades[0];
  t.equal(req.url, '/chat?room=1');
  t.equal(req.headers['x-forwarded-proto'], 'https', 'the upstream learns it was wss');
  t.equal(req.headers['x-forwarded-for'], '127.0.0.1');
  t.equal(u.inflight, 1, 'an open tunnel counts as in flight');

  // the client closes → the upstream sees the close frame, code and reason
  const upClosed = new Promise<[number, string]>((resolve) => serverSide[0].once('close', (code: number, reason: Buffer) => resolve([code, reason.toString()])));
  const selfClosed = once(ws, 'close');
  ws.close(4000, 'client bye');
  t.same(await upClosed, [4000, 'client bye'], 'client close → upstream, code and reason');
  t.equal((await selfClosed)[0], 4000, 'and the close handshake completes for the client');
  await waitFor(() => u.inflight === 0, 2000, 'in-flight back to 0');

  // the upstream closes → the client sees it
  const second = await open();
  await second.first;
  const clientClosed = new Promise<[number, string]>((resolve) => second.ws.once('close', (code: number, reason: Buffer) => resolve([code, reason.toString()])));
  serverSide[1].close(4001, 'upstream bye');
  t.same(await clientClosed, [4001, 'upstream bye'], 'upstream close → client, code and reason');

  // the upstream vanishes → the client is closed promptly
  const third = await open();
  await third.first;
  const abrupt = once(third.ws, 'close');
  const startedAt = Date.now();
  serverSide[2].terminate();
  const [code] = await abrupt;
  t.equal(code, 1006, 'abnormal closure seen by the client');
  t.ok(Date.now() - startedAt < 2000, 'promptly');
  await waitFor(() => u.inflight === 0, 2000, 'in-flight back to 0');
  await waitFor(() => ep.connections === 0, 3000, 'baton connections back to 0');
  await waitFor(() => sockets.size === 0, 3000, 'upstream sockets back to 0');
});

// ── passive ejection ────────────────────────────────────────────────────────────────────────────────────────

t.test('27 over TLS: an upstream answering 5xx (h2) or refusing connections (HTTPS/1.1) is ejected the same way', async (t) => {
  const a = await startUpstream(t, 'a', (_req, res) => {
    res.writeHead(500, { 'x-upstream': 'a' });
    res.end('broken');
  });
  const b = await startUpstream(t, 'b');
  const baton = await startTlsBaton(t, route([a.url, b.url], { passive: { failures: 3, cooldown: '10s' } }));
  const session = await h2session(t, baton.port, baton.ca);
  const statuses: number[] = [];
  for (let i = 0; i < 6; i++) statuses.push((await h2request(session, { ':path': `/e${i}` })).status);
  t.same(statuses.filter((s) => s === 500).length, 3, 'three 5xx relayed (5xx answers are not retried)');
  t.equal(upstreamState(baton.app, idOf(a.port)), 'unhealthy', 'a ejected after 3 consecutive 5xx over h2');
  const seenBefore = a.seen.length;
  for (let i = 0; i < 6; i++) t.equal((await h2request(session, { ':path': `/after${i}` })).headers['x-upstream'], 'b', `after ejection: b (${i})`);
  t.equal(a.seen.length, seenBefore, 'no traffic to a while ejected');

  const dead = await closedPort();
  const c = await startUpstream(t, 'c');
  const baton2 = await startTlsBaton(t, { app2: { rule: 'Host(`app.test`)', upstreams: [`http://127.0.0.1:${dead}`, c.url], passive: { failures: 2, cooldown: '10s' } } });
  const agent = httpsAgent(baton2.ca);
  t.teardown(() => agent.close());
  const h1: number[] = [];
  for (let i = 0; i < 6; i++) h1.push((await https(baton2.port, baton2.ca, { agent, path: `/c${i}` })).status);
  t.same(h1, Array(6).fill(200), 'HTTPS/1.1: every request answered (connect errors retried on c)');
  t.equal(upstreamState(baton2.app, `app2@127.0.0.1:${dead}`), 'unhealthy', 'the closed port ejected after 2 connect errors');
  t.equal(upstreamState(baton2.app, `app2@127.0.0.1:${c.port}`), 'healthy', 'the panic threshold keeps c in rotation');
  const retries = baton2.app.registry.services.get('app2')!.retries;
  for (let i = 0; i < 4; i++) await https(baton2.port, baton2.ca, { agent, path: `/d${i}` });
  t.equal(baton2.app.registry.services.get('app2')!.retries, retries, 'no more retries: the ejected upstream is not tried');
});
