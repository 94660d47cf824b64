// WebSocket tunnelling: docs/reliability.md items 19–21, plus the basics and drains. Real `ws` clients and servers
// (and raw sockets where a well-behaved library would hide the fault) against a real baton App.
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import t from 'tap';
import { WebSocket, WebSocketServer } from 'ws';
import { admin, closedPort, raw, startBaton, waitFor } from './fixtures/harness.ts';

type Tap = { teardown: (fn: () => unknown) => void };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

interface WsUpstream {
  port: number;
  url: string;
  server: Server;
  /** upgrade requests received (before any decision) */
  upgrades: IncomingMessage[];
  /** plain requests received */
  requests: IncomingMessage[];
  /** server-side WebSocket of each accepted tunnel */
  clients: WebSocket[];
  /** open TCP connections */
  sockets: Set<Socket>;
}

/** A real `ws` echo server. `onUpgrade` may answer the upgrade itself (return true) instead of accepting it. */
async function wsUpstream(t: Tap, onUpgrade?: (req: IncomingMessage, socket: Socket) => boolean): Promise<WsUpstream> {
  const upgrades: IncomingMessage[] = [];
  const requests: IncomingMessage[] = [];
  const clients: WebSocket[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    requests.push(req);
    res.end('plain');
  });
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    upgrades.push(req);
    socket.on('error', () => {});
    if (onUpgrade?.(req, socket)) return;
    wss.handleUpgrade(req, socket, head, (ws) => {
      clients.push(ws);
      ws.on('error', () => {});
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  t.teardown(async () => {
    for (const c of wss.clients) c.terminate();
    for (const s of sockets) s.destroy();
    wss.close();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return { port, url: `http://127.0.0.1:${port}`, server, upgrades, requests, clients, sockets };
}

async function wsClient(t: Tap, port: number, path = '/', host = 'app.test'): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, { headers: { host } });
  ws.on('error', () => {});
  t.teardown(() => ws.terminate());
  await once(ws, 'open');
  return ws;
}

function nextMessage(ws: WebSocket): Promise<{ data: Buffer; binary: boolean }> {
  return new Promise((resolve) => ws.once('message', (data: Buffer, binary: boolean) => resolve({ data, binary })));
}

function upgradeRequest(extra = '', opts: { method?: string; path?: string; version?: string } = {}): string {
  return (
    `${opts.method ?? 'GET'} ${opts.path ?? '/ws'} HTTP/${opts.version ?? '1.1'}\r\nHost: app.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
    `Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`
  );
}

function upgradeOnly(lines: string, method = 'GET'): string {
  return `${method} /ws HTTP/1.1\r\nHost: app.test\r\n${lines}\r\n`;
}

function idOf(up: { port: number }, service = 'app'): string {
  return `${service}@127.0.0.1:${up.port}`;
}

/** A raw-TCP client that performs the handshake and then does whatever the test says (e.g. ignore FIN). */
async function rawTunnel(port: number): Promise<{ s: Socket; head: string; state: { ended: boolean; closed: boolean } }> {
  const s = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  const state = { ended: false, closed: false };
  s.on('error', () => {});
  s.on('end', () => (state.ended = true));
  s.on('close', () => (state.closed = true));
  let data = '';
  const onData = (d: Buffer) => (data += d.toString('latin1'));
  s.on('data', onData);
  s.write(upgradeRequest());
  await waitFor(() => data.includes('\r\n\r\n') || state.closed, 3000, 'handshake answer');
  s.off('data', onData);
  s.resume();
  return { s, head: data, state };
}

// ── basics ──────────────────────────────────────────────────────────────────────────────────────────────────

t.test('echo through baton: text and binary, several messages; the upstream sees a clean handshake', async (t) => {
  const up = await wsUpstream(t);
  const { port } = await startBaton(t, { services: { app: { rule: 'Host(`app.test`)', upstreams: [up.url] } } });
  const ws = await wsClient(t, port, '/chat/%2e%2e/room?x=1');
  for (let i = 0; i < 5; i++) {
    const m = nextMessage(ws);
    ws.send(`hello ${i}`);
    const got = await m;
    t.equal(got.data.toString(), `hello ${i}`);
    t.equal(got.binary, false, 'text stays text');
  }
  const bin = Buffer.from([0, 1, 2, 255, 254, 0x0d, 0x0a]);
  for (let i = 0; i < 3; i++) {
    const m = nextMessage(ws);
    ws.send(Buffer.concat([bin, Buffer.from([i])]));
    const got = await m;
    t.same([...got.data], [...bin, i]);
    t.equal(got.binary, true, 'binary stays binary');
  }
  const large = Buffer.alloc(256 * 1024, 7);
  const m = nextMessage(ws);
  ws.send(large);
  t.equal((await m).data.length, large.length, 'a 256 KiB message crosses intact');
  t.equal(up.upgrades.length, 1);
  const req = up.upgrades[0];
  t.equal(req.url, '/room?x=1', 'the path is normalised as for plain requests; query kept');
  t.equal(req.headers.host, 'app.test');
  t.equal(req.headers['x-forwarded-for'], '127.0.0.1');
  t.equal(req.headers['x-forwarded-proto'], 'http');
  ws.close();
  await once(ws, 'close');
});

t.test('the upgrade request gets the same header hygiene as plain requests', async (t) => {
  const up = await wsUpstream(t);
  const { port } = await startBaton(t, { services: { app: { rule: 'Host(`app.test`)', upstreams: [up.url] } } });
  const r = await rawTunnel(port);
  t.teardown(() => r.s.destroy());
  t.match(r.head, /^HTTP\/1\.1 101 /);
  r.s.destroy();
  const raw = await (async () => {
    const c = connect(port, '127.0.0.1');
    c.on('error', () => {});
    c.write(
      upgradeRequest('X-Secret: s\r\nProxy-Authorization: Basic eA==\r\nKeep-Alive: 1\r\nTE: trailers\r\nX-Forwarded-For: 6.6.6.6\r\nX-Real-IP: 6.6.6.6\r\n').replace(
        'Connection: Upgrade',
        'Connection: Upgrade, X-Secret',
      ),
    );
    await waitFor(() => up.upgrades.length === 2, 3000, 'second upgrade reached the upstream');
    c.destroy();
    return up.upgrades[1];
  })();
  const h = raw.headers;
  t.equal(h['x-secret'], undefined, 'Connection-named header dropped');
  t.equal(h['proxy-authorization'], undefined);
  t.equal(h['keep-alive'], undefined);
  t.equal(h.te, undefined);
  t.equal(h['x-forwarded-for'], '127.0.0.1', 'spoofed XFF replaced');
  t.equal(h['x-real-ip'], '127.0.0.1');
  t.match(String(h.connection), /^upgrade$/i, 'Connection is exactly "Upgrade"');
  t.equal(h.upgrade, 'websocket');
  t.equal(h['sec-websocket-key'], KEY);
});

// ── 19. invalid upgrades ────────────────────────────────────────────────────────────────────────────────────

t.test('19. invalid upgrade requests → 400 from baton; the upstream never sees an upgrade', async (t) => {
  const up = await wsUpstream(t);
  const { port } = await startBaton(t, { services: { app: { rule: 'Host(`app.test`)', upstreams: [up.url] } } });
  const cases: Record<string, string> = {
    'no Sec-WebSocket-Key': upgradeOnly('Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n'),
    'short key': upgradeOnly('Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: c2hvcnQ=\r\nSec-WebSocket-Version: 13\r\n'),
    'key not base64 of 16 bytes': upgradeOnly('Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!==\r\nSec-WebSocket-Version: 13\r\n'),
    'two keys': upgradeOnly(`Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n`),
    'no version': upgradeOnly(`Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: ${KEY}\r\n`),
    'version 8': upgradeOnly(`Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 8\r\n`),
    'version "13, 8"': upgradeOnly(`Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13, 8\r\n`),
    'Upgrade: h2c': upgradeOnly('Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n'),
    'Upgrade: websocket, h2c': upgradeOnly(`Connection: Upgrade\r\nUpgrade: websocket, h2c\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n`),
    'POST': upgradeRequest('Content-Length: 0\r\n', { method: 'POST' }),
    'HTTP/1.0': upgradeRequest('', { version: '1.0' }),
  };
  for (const [name, bytes] of Object.entries(cases)) {
    const r = await raw(port, bytes, 3000);
    t.match(r.data, /^HTTP\/1\.1 400 /, `${name}: 400`);
    t.notMatch(r.data, /101 Switching/, `${name}: not switched`);
    t.ok(r.closed, `${name}: closed`);
  }
  await sleep(100);
  t.equal(up.upgrades.length, 0, 'the upstream never saw an upgrade request');
  t.equal(up.requests.length, 0, 'nor a plain request');
});

t.test('19. "Upgrade: websocket" without "Connection: upgrade" is a plain request: never tunnelled', async (t) => {
  const up = await wsUpstream(t);
  const { port } = await startBaton(t, { services: { app: { rule: 'Host(`app.test`)', upstreams: [up.url] } } });
  const r = await raw(port, upgradeOnly(`Connection: close\r\nUpgrade: websocket\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n`), 3000);
  t.notMatch(r.data, /^HTTP\/1\.1 101 /);
  t.equal(up.upgrades.length, 0, 'the upstream never saw an upgrade');
  for (const req of up.requests) t.equal(req.headers.upgrade, undefined, 'Upgrade stripped from a plain request');
});

// ── 20. upstream refuses the upgrade ────────────────────────────────────────────────────────────────────────

t.test('20. upstream answers the upgrade with a 403 → relayed to the client, not tunnelled', async (t) => {
  let afterRefusal = '';
  const up = await wsUpstream(t, (_req, socket) => {
    socket.on('data', (d: Buffer) => (afterRefusal += d.toString('latin1')));
    socket.write(
      'HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 9\r\nX-Reason: nope\r\n' +
        'Connection: X-Internal\r\nX-Internal: secret\r\nKeep-Alive: timeout=99\r\nProxy-Connection: keep-alive\r\nUpgrade: h2c\r\n\r\nforbidden',
    );
    return true;
  });
  const { app, port } = await startBaton(t, { services: { app: { rule: 'Host(`app.test`)', upstreams: [up.url] } } });
  const c = connect(port, '127.0.0.1');
  t.teardown(() => c.destroy());
  let data = '';
  let closed = false;
  c.on('error', () => {});
  c.on('data', (d) => (data += d.toString('latin1')));
  c.on('close', () => (closed = true));
  c.write(upgradeRequest());
  await waitFor(() => data.includes('forbidden') || closed, 3000, 'the refusal');
  const head = data.split('\r\n\r\n')[0];
  t.match(head, /^HTTP\/1\.1 403 /, 'the upstream\'s status is relayed');
  t.match(data, /\r\n\r\nforbidden$/, 'with its body');
  t.match(head, /x-reason: nope/i, 'and its end-to-end headers');
  t.notMatch(head, /101/, 'never switched');
  // whatever the client sends next must not be tunnelled to the upstream
  if (!closed) c.write('\x81\x05hello');
  await waitFor(() => closed, 3000, 'baton closes the refused connection');
  await sleep(100);
  t.equal(afterRefusal, '', 'nothing after the refused handshake reached the upstream');
  await waitFor(() => app.registry.upstreams.get(idOf(up))!.inflight === 0, 2000, 'in-flight back to 0');
});

t.test('20/8. hop-by-hop headers of a refused upgrade are not relayed', async (t) => {
  const up = await wsUpstream(t, (_req, socket) => {
    socket.write(
      'HTTP/1.1 403 Forbidden\r\nContent-Length: 9\r\nConnection: X-Internal\r\nX-Internal: secret\r\nKeep-Alive: timeout=99\r\n' +
        'Proxy-Connection: keep-alive\r\nTrailer: X-T\r\nUpgrade: h2c\r\nX-Kept: yes\r\n\r\nforbidden',
    );
    return true;
  });
  const { port } = await startBaton(t, { services: { app: { rule: 'Host(`app.test`)', upstreams: [up.url] } } });
  const r = await raw(port, upgradeRequest(), 3000);
  const head = r.data.split('\r\n\r\n')[0].toLowerCase();
  t.match(head, /^http\/1\.1 403 /);
  t.match(head, /x-kept: yes/);
  t.notMatch(head, /x-internal/, 'header named in the upstream\'s Connection dropped');
  t.notMatch(head, /keep-alive: timeout=99/);
  t.notMatch(head, /proxy-connection/);
  t.notMatch(head, /trailer:/);
  t.notMatch(head, /upgrade:/, 'no Upgrade on a response that does not switch');
  t.notMatch(head, /connection: (keep-alive|upgrade)/, 'the connection is not advertised as reusable or upgraded');
});

t.test('8. hop-by-hop headers of a 101 are not relayed (except Connection/Upgrade themselves)', async (t) => {
  const up = await wsUpstream(t, (req, socket) => {
    const accept = createHash('sha1').update(String(req.headers['sec-websocket-key']) + GUID).digest('base64');
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade, X-Internal\r\nSec-WebSocket-Accept: ${accept}\r\n` +
        'X-Internal: secret\r\nKeep-Alive: timeout=99\r\nProxy-Connection: keep-alive\r\nTrailer: X-T\r\nX-Kept: yes\r\n\r\n',
    );
    return true;
  });
  const { port } = await startBaton(t, { services: { app: { rule: 'Host(`app.test`)', upstreams: [up.url] } } });
  const r = await rawTunnel(port);
  t.teardown(() => r.s.destroy());
  const head = r.head.split('\r\n\r\n')[0].toLowerCase();
  t.match(head, /^http\/1\.1 101 /);
  t.match(head, /\r\nupgrade: websocket/);
  t.match(head, /\r\nconnection: upgrade(\r|$)/, 'Connection is exactly "Upgrade"');
  t.match(head, /sec-websocket-accept: /);
  t.match(head, /x-kept: yes/);
  t.notMatch(head, /x-internal/);
  t.notMatch(head, /keep-alive/);
  t.notMatch(head, /proxy-connection/);
  t.notMatch(head, /trailer:/);
});

t.test('upstream unreachable → 502 to the upgrading client, nothing held', async (t) => {
  const port0 = await closedPort();
  const { app, port } = await startBaton(t, { services: { app: { rule: 'Host(`app.test`)', upstreams: [`http://127.0.0.1:${port0}`] } } });
  const r = await raw(port, upgradeRequest(), 3000);
  t.match(r.data, /^HTTP\/1\.1 502 /);
  t.match(r.data, /x-baton-error: upstream_unreachable/);
  t.ok(r.closed);
  const u = app.registry.upstreams.get(idOf({ port: port0 }))!;
  await waitFor(() => u.inflight === 0, 2000, 'in-flight back to 0');
  await waitFor(() => app.entrypoints.get('web')!.connections === 0, 2000, 'client connection released');
});

// ── 21. abrupt close on either side ─────────────────────────────────────────────────────────────────────────

t.test('21. client vanishes (socket destroyed) → upstream side closed; counts back to baseline', async (t) => {
  const up = await wsUpstream(t);
  const { app, port } = await startBaton(t, { services: { app: { rule: 'Host(`app.test`)', upstreams: [up.url] } } });
  const u = app.registry.upstreams.get(idOf(up))!;
  const ep = app.entrypoints.get('web')!;
  const baseline = up.sockets.size;
  for (let i = 0; i < 3; i++) {
    const ws = await wsClient(t, port, '/a');
    const m = nextMessage(ws);
    ws.send('ping');
    await m;
    t.equal(u.inflight, 1, 'an open tunnel counts as in flight');
    t.equal(up.sockets.size, baseline + 1);
    const serverSide = up.clients.at(-1)!;
    const serverClosed = once(serverSide, 'close');
    const started = Date.now();
    (ws as unknown as { _socket: Socket })._socket.destroy();
    await serverClosed;
    t.ok(Date.now() - started < 2000, 'the upstream side learns promptly');
    await waitFor(() => u.inflight === 0, 2000, 'in-flight back to 0');
    await waitFor(() => up.sockets.size === baseline, 2000, 'upstream socket count back to baseline');
    await waitFor(() => ep.connections === 0, 2000, 'baton client connections back to 0');
  }
});

t.test('21. upstream terminates → client side closed; counts back to baseline', async (t) => {
  const up = await wsUpstream(t);
  const { app, port } = await startBaton(t, { services: { app: { rule: 'Host(`app.test`)', upstreams: [up.url] } } });
  const u = app.registry.upstreams.get(idOf(up))!;
  const ep = app.entrypoints.get('web')!;
  const baseline = up.sockets.size;
  for (let i = 0; i < 3; i++) {
    const ws = await wsClient(t, port, '/b');
    const m = nextMessage(ws);
    ws.send('ping');
    await m;
    const closed = once(ws, 'close');
    const started = Date.now();
    up.clients.at(-1)!.terminate();
    const [code] = await closed;
    t.equal(code, 1006, 'the client sees an abnormal closure');
    t.ok(Date.now() - started < 2000, 'promptly');
    await waitFor(() => u.inflight === 0, 2000, 'in-flight back to 0');
    await waitFor(() => up.sockets.size === baseline, 2000, 'upstream socket count back to baseline');
    await waitFor(() => ep.connections === 0, 2000, 'baton client connections back to 0');
  }
});

t.test('21. upstream goes away while the client ignores the FIN → baton still frees the tunnel', async (t) => {
  const up = await wsUpstream(t);
  const { app, port } = await startBaton(t, { services: { app: { rule: 'Host(`app.test`)', upstreams: [up.url] } } });
  const u = app.registry.upstreams.get(idOf(up))!;
  const ep = app.entrypoints.get('web')!;
  const c = await rawTunnel(port);
  t.teardown(() => c.s.destroy());
  t.match(c.head, /^HTTP\/1\.1 101 /);
  await waitFor(() => up.clients.length === 1, 2000, 'tunnel open');
  up.clients[0].terminate();
  await waitFor(() => c.state.ended, 2000, 'the client gets a FIN');
  // the client never closes its side: baton must not keep the tunnel (and the upstream's in-flight slot) forever
  await waitFor(() => u.inflight === 0, 5000, 'in-flight back to 0 although the client keeps its half open');
  await waitFor(() => ep.connections === 0, 5000, 'baton closed its client socket');
});

t.test('21. client goes away while the upstream ignores the FIN and keeps sending → baton frees the tunnel', async (t) => {
  // a raw upstream that completes the handshake, never closes on its own, and pushes a frame every 100 ms
  const upSockets = new Set<Socket>();
  let upstreamClosed = 0;
  const server = createNetServer({ allowHalfOpen: true }, (s) => {
    upSockets.add(s);
    s.on('error', () => {});
    s.on('close', () => {
      upSockets.delete(s);
      upstreamClosed++;
    });
    let head = '';
    s.on('data', (d: Buffer) => {
      if (head.includes('\r\n\r\n')) return;
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      const key = /sec-websocket-key: *(\S+)/i.exec(head)?.[1] ?? '';
      const accept = createHash('sha1').update(key + GUID).digest('base64');
      s.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
      const tick = setInterval(() => {
        if (s.writable) s.write(Buffer.from([0x81, 0x01, 0x2e]));
        else clearInterval(tick);
      }, 100);
      s.on('close', () => clearInterval(tick));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(async () => {
    for (const s of upSockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  const upPort = (server.address() as AddressInfo).port;
  const { app, port } = await startBaton(t, { services: { app: { rule: 'Host(`app.test`)', upstreams: [`http://127.0.0.1:${upPort}`] } } });
  const u = app.registry.upstreams.get(idOf({ port: upPort }))!;
  const c = await rawTunnel(port);
  t.match(c.head, /^HTTP\/1\.1 101 /);
  await waitFor(() => upSockets.size === 1, 2000, 'tunnel open');
  c.s.destroy();
  await waitFor(() => upstreamClosed === 1, 5000, 'the upstream connection is closed by baton');
  await waitFor(() => u.inflight === 0, 2000, 'in-flight back to 0');
});

t.test('21. client half-closes (FIN) and goes silent while the upstream ignores it → tunnel freed', async (t) => {
  const upSockets = new Set<Socket>();
  const server = createNetServer({ allowHalfOpen: true }, (s) => {
    upSockets.add(s);
    s.on('error', () => {});
    s.on('close', () => upSockets.delete(s));
    let head = '';
    s.on('data', (d: Buffer) => {
      if (head.includes('\r\n\r\n')) return;
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      const key = /sec-websocket-key: *(\S+)/i.exec(head)?.[1] ?? '';
      const accept = createHash('sha1').update(key + GUID).digest('base64');
      s.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(async () => {
    for (const s of upSockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  const upPort = (server.address() as AddressInfo).port;
  const { app, port } = await startBaton(t, { services: { app: { rule: 'Host(`app.test`)', upstreams: [`http://127.0.0.1:${upPort}`] } } });
  const u = app.registry.upstreams.get(idOf({ port: upPort }))!;
  const ep = app.entrypoints.get('web')!;
  const c = await rawTunnel(port);
  t.teardown(() => c.s.destroy());
  t.match(c.head, /^HTTP\/1\.1 101 /);
  c.s.end(); // FIN, then silence; the socket stays open for reading
  await waitFor(() => u.inflight === 0, 8000, 'in-flight back to 0');
  await waitFor(() => ep.connections === 0, 2000, 'baton closed its client socket');
});

t.test('21. client leaves during the handshake → the upstream handshake is abandoned, nothing leaks', async (t) => {
  let upstreamSocketClosed = false;
  // an upstream that takes the upgrade request and never answers it
  const up = await wsUpstream(t, (_req, socket) => {
    socket.on('end', () => socket.end()); // a well-behaved peer: FIN answered with FIN
    socket.on('close', () => (upstreamSocketClosed = true));
    return true;
  });
  const { app, port } = await startBaton(t, { services: { app: { rule: 'Host(`app.test`)', upstreams: [up.url] } } });
  const u = app.registry.upstreams.get(idOf(up))!;
  const ep = app.entrypoints.get('web')!;
  const c = connect(port, '127.0.0.1');
  c.on('error', () => {});
  c.write(upgradeRequest());
  await waitFor(() => up.upgrades.length === 1, 2000, 'the handshake reached the upstream');
  t.equal(u.inflight, 1);
  c.destroy();
  await waitFor(() => upstreamSocketClosed, 5000, 'the pending upstream handshake is abandoned');
  await waitFor(() => u.inflight === 0, 2000, 'in-flight back to 0');
  await waitFor(() => ep.connections === 0, 2000, 'baton closed its client socket');
  t.equal(up.sockets.size, 0, 'no upstream socket left behind');
});

// ── drain with an open tunnel ───────────────────────────────────────────────────────────────────────────────

t.test('drain: an open tunnel holds the drain until its timeout, then is closed and reported', async (t) => {
  const up = await wsUpstream(t);
  const { app, port, adminPort } = await startBaton(t, { services: { app: { rule: 'Host(`app.test`)', upstreams: [up.url] } } });
  const id = idOf(up);
  const u = app.registry.upstreams.get(id)!;
  const ws = await wsClient(t, port, '/live');
  const m = nextMessage(ws);
  ws.send('before');
  await m;
  let clientClosedAt = 0;
  ws.on('close', () => (clientClosedAt = Date.now()));

  const started = Date.now();
  const drain = admin(adminPort, 'POST', `/api/upstreams/${encodeURIComponent(id)}/drain`, { timeout: '400ms' });
  await sleep(150);
  t.equal(clientClosedAt, 0, 'the tunnel stays open while the drain waits');
  const m2 = nextMessage(ws);
  ws.send('during');
  t.equal((await m2).data.toString(), 'during', 'and keeps working');
  const r = await drain;
  t.equal(r.status, 200);
  t.equal(r.json.state, 'drained');
  t.equal(r.json.timedOut, true, 'the drain reports it timed out');
  t.equal(r.json.aborted, 1, 'with one tunnel aborted');
  t.ok(Date.now() - started >= 380, 'not before the timeout');
  await waitFor(() => clientClosedAt !== 0, 2000, 'the client tunnel is closed');
  t.ok(clientClosedAt - started < 2000, `closed at the timeout (${clientClosedAt - started} ms)`);
  await waitFor(() => u.inflight === 0, 2000, 'in-flight back to 0');
  await waitFor(() => up.sockets.size === 0, 2000, 'the upstream side is closed too');
  // a drained upstream takes no new tunnel
  const refused = await raw(port, upgradeRequest(), 3000);
  t.match(refused.data, /^HTTP\/1\.1 503 /, 'new upgrades get 503 while drained');
  t.equal(up.upgrades.length, 1);
});

t.test('shutdown: baton closes with an open tunnel, bounded by its shutdown timeout', async (t) => {
  const up = await wsUpstream(t);
  const { app, port } = await startBaton(t, { services: { app: { rule: 'Host(`app.test`)', upstreams: [up.url] } } });
  const ws = await wsClient(t, port, '/live');
  let clientClosed = false;
  ws.on('close', () => (clientClosed = true));
  const started = Date.now();
  const closing = app.close(300);
  const outcome = await Promise.race([closing.then(() => 'closed'), sleep(5000).then(() => 'hung')]);
  t.equal(outcome, 'closed', 'App.close() returns although a client keeps its tunnel open');
  t.ok(Date.now() - started < 3000, `within the shutdown timeout plus a little (${Date.now() - started} ms)`);
  await waitFor(() => clientClosed, 2000, 'the client tunnel is closed');
  await waitFor(() => up.sockets.size === 0, 2000, 'the upstream side is closed');
});

t.test('drain: a tunnel closed before the timeout lets the drain finish early', async (t) => {
  const up = await wsUpstream(t);
  const { port, adminPort } = await startBaton(t, { services: { app: { rule: 'Host(`app.test`)', upstreams: [up.url] } } });
  const id = idOf(up);
  const ws = await wsClient(t, port, '/live');
  const started = Date.now();
  const drain = admin(adminPort, 'POST', `/api/upstreams/${encodeURIComponent(id)}/drain`, { timeout: '5s' });
  await sleep(200);
  ws.close(1000, 'bye');
  const r = await drain;
  t.equal(r.json.timedOut, false);
  t.equal(r.json.aborted, 0);
  t.equal(r.json.state, 'drained');
  t.ok(Date.now() - started < 3000, `the drain finished when the tunnel closed (${Date.now() - started} ms)`);
});
