// Hostile input on the public entrypoint: docs/reliability.md items 1–14 (parsing and smuggling, header hygiene,
// Host and path). Every test sends the real bytes over a raw TCP socket to a real baton App; where the exact bytes
// the upstream received matter, the upstream is a raw `node:net` server that records them.
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import t from 'tap';
import { http, raw, startBaton, startUpstream, waitFor } from './fixtures/harness.ts';

type Tap = { teardown: (fn: () => unknown) => void };

// ── a raw upstream: records every byte and every request it parsed ────────────────────────────────────────────

interface RawRequest {
  head: string;
  requestLine: string;
  /** header lines as received: [name lower-cased, value trimmed] */
  headers: Array<[string, string]>;
  body: Buffer;
}

interface RawUpstream {
  port: number;
  url: string;
  requests: RawRequest[];
  /** every byte received on every connection, in order of arrival (latin1) */
  received(): string;
  /** TCP connections accepted so far */
  connections: number;
  sockets: Set<Socket>;
}

type Responder = (req: RawRequest, socket: Socket) => void;

const okResponder: Responder = (req, s) => {
  const body = req.requestLine;
  s.write(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
};

/** Parses one request (head + Content-Length or chunked body) from the front of `buf`; null if incomplete. */
function parseRequest(buf: Buffer): { req: RawRequest; rest: Buffer } | null {
  const end = buf.indexOf('\r\n\r\n');
  if (end === -1) return null;
  const head = buf.subarray(0, end).toString('latin1');
  const lines = head.split('\r\n');
  const headers = lines.slice(1).map((l): [string, string] => {
    const i = l.indexOf(':');
    return [l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim()];
  });
  let pos = end + 4;
  let body: Buffer = Buffer.alloc(0);
  const te = headers.find((h) => h[0] === 'transfer-encoding');
  const cl = headers.find((h) => h[0] === 'content-length');
  if (te !== undefined && /chunked/i.test(te[1])) {
    const parts: Buffer[] = [];
    for (;;) {
      const le = buf.indexOf('\r\n', pos);
      if (le === -1) return null;
      const size = parseInt(buf.subarray(pos, le).toString('latin1').split(';')[0], 16);
      if (size === 0) {
        const tend = buf.indexOf('\r\n\r\n', le);
        if (tend === -1) return null;
        pos = tend + 4;
        break;
      }
      if (buf.length < le + 2 + size + 2) return null;
      parts.push(buf.subarray(le + 2, le + 2 + size));
      pos = le + 2 + size + 2;
    }
    body = Buffer.concat(parts);
  } else if (cl !== undefined) {
    const n = Number(cl[1]);
    if (buf.length < pos + n) return null;
    body = buf.subarray(pos, pos + n);
    pos += n;
  }
  return { req: { head, requestLine: lines[0], headers, body: Buffer.from(body) }, rest: buf.subarray(pos) };
}

async function rawUpstream(t: Tap, respond: Responder = okResponder): Promise<RawUpstream> {
  const requests: RawRequest[] = [];
  const all: Buffer[] = [];
  const sockets = new Set<Socket>();
  const up = { connections: 0 } as RawUpstream;
  const server = createServer((s) => {
    up.connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    let buf: Buffer = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      all.push(d);
      buf = Buffer.concat([buf, d]);
      for (let p = parseRequest(buf); p !== null; p = parseRequest(buf)) {
        buf = p.rest;
        requests.push(p.req);
        respond(p.req, s);
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  t.teardown(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return Object.assign(up, { port, url: `http://127.0.0.1:${port}`, requests, sockets, received: () => Buffer.concat(all).toString('latin1') });
}

// ── a raw client that understands responses (for pipelining and keep-alive) ───────────────────────────────────

interface RawResponse {
  status: number;
  head: string;
  headers: Array<[string, string]>;
  body: string;
}

function parseResponse(buf: Buffer): { res: RawResponse; rest: Buffer } | null {
  const end = buf.indexOf('\r\n\r\n');
  if (end === -1) return null;
  const head = buf.subarray(0, end).toString('latin1');
  const lines = head.split('\r\n');
  const headers = lines.slice(1).map((l): [string, string] => {
    const i = l.indexOf(':');
    return [l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim()];
  });
  const status = Number(lines[0].split(' ')[1]);
  let pos = end + 4;
  let body = '';
  const te = headers.find((h) => h[0] === 'transfer-encoding');
  const cl = headers.find((h) => h[0] === 'content-length');
  if (te !== undefined) {
    for (;;) {
      const le = buf.indexOf('\r\n', pos);
      if (le === -1) return null;
      const size = parseInt(buf.subarray(pos, le).toString('latin1'), 16);
      if (size === 0) {
        if (buf.length < le + 4) return null;
        pos = le + 4;
        break;
      }
      if (buf.length < le + 2 + size + 2) return null;
      body += buf.subarray(le + 2, le + 2 + size).toString('latin1');
      pos = le + 2 + size + 2;
    }
  } else if (cl !== undefined) {
    const n = Number(cl[1]);
    if (buf.length < pos + n) return null;
    body = buf.subarray(pos, pos + n).toString('latin1');
    pos += n;
  }
  return { res: { status, head, headers, body }, rest: buf.subarray(pos) };
}

/** Writes `bytes` on one connection; resolves once `responses` complete responses arrived and, with `untilClose`,
 *  once the peer closed too (or at `timeoutMs`). */
function exchange(
  port: number,
  bytes: string | Buffer,
  opts: { responses?: number; untilClose?: boolean; timeoutMs?: number } = {},
): Promise<{ responses: RawResponse[]; closed: boolean; data: string }> {
  const want = opts.responses ?? 1;
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let buf: Buffer = Buffer.alloc(0);
    const responses: RawResponse[] = [];
    let closed = false;
    const finish = () => {
      clearTimeout(timer);
      s.destroy();
      resolve({ responses, closed, data: Buffer.concat(chunks).toString('latin1') });
    };
    const timer = setTimeout(finish, opts.timeoutMs ?? 3000);
    s.on('error', () => {});
    s.on('data', (d: Buffer) => {
      chunks.push(d);
      buf = Buffer.concat([buf, d]);
      for (let p = parseResponse(buf); p !== null; p = parseResponse(buf)) {
        buf = p.rest;
        responses.push(p.res);
      }
      if (responses.length >= want && !opts.untilClose) finish();
    });
    s.on('close', () => {
      closed = true;
      finish();
    });
    s.write(bytes);
  });
}

function header(r: RawResponse | RawRequest, name: string): string[] {
  return r.headers.filter((h) => h[0] === name).map((h) => h[1]);
}

const HOST = 'Host: app.test\r\n';

// ── 1. CL+TE, duplicate/malformed Content-Length, odd Transfer-Encoding ───────────────────────────────────────

t.test('1. ambiguous framing → 400, connection closed, upstream never contacted', async (t) => {
  const up = await rawUpstream(t);
  const { port } = await startBaton(t, { services: { app: { rule: 'Host(`app.test`)', upstreams: [up.url] } } });
  const cases: Record<string, string> = {
    'CL then TE': `POST /x HTTP/1.1\r\n${HOST}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    'TE then CL': `POST /x HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n`,
    'duplicate CL, same value': `POST /x HTTP/1.1\r\n${HOST}Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello`,
    'duplicate CL, different values': `POST /x HTTP/1.1\r\n${HOST}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!`,
    'CL list "5, 5"': `POST /x HTTP/1.1\r\n${HOST}Content-Length: 5, 5\r\n\r\nhello`,
    'CL "abc"': `POST /x HTTP/1.1\r\n${HOST}Content-Length: abc\r\n\r\n`,
    'CL "-1"': `POST /x HTTP/1.1\r\n${HOST}Content-Length: -1\r\n\r\n`,
    'CL "1 2"': `POST /x HTTP/1.1\r\n${HOST}Content-Length: 1 2\r\n\r\nx`,
    'CL "+5"': `POST /x HTTP/1.1\r\n${HOST}Content-Length: +5\r\n\r\nhello`,
    'TE "chunked, identity"': `POST /x HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n`,
    'TE "gzip" alone': `POST /x HTTP/1.1\r\n${HOST}Transfer-Encoding: gzip\r\n\r\n0\r\n\r\n`,
    'TE "xchunked"': `POST /x HTTP/1.1\r\n${HOST}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n`,
    // chunked last, but a coding baton does not decode: forwarding it without its Transfer-Encoding would hand the
    // upstream gzip bytes as if they were the body
    'TE "gzip, chunked"': `POST /x HTTP/1.1\r\n${HOST}Transfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
    'TE twice': `POST /x HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
  };
  for (const [name, bytes] of Object.entries(cases)) {
    const before = up.connections;
    const r = await raw(port, bytes, 3000);
    t.match(r.data, /^HTTP\/1\.1 400 /, `${name}: 400`);
    t.ok(r.closed, `${name}: connection closed by baton`);
    t.notMatch(r.data, /^HTTP\/1\.1 400 [^]*HTTP\/1\.1 /, `${name}: nothing after the 400`);
    await new Promise((r) => setTimeout(r, 50)); // a connect baton started would show up by now
    t.equal(up.connections - before, 0, `${name}: the upstream was never even connected to`);
  }
  t.equal(up.requests.length, 0, 'no request reached the upstream');
  t.notMatch(up.received(), /./, 'not a single byte reached the upstream');
});

// ── 2. odd-but-accepted framing: the upstream only sees framing baton generated ───────────────────────────────

t.test('2. "Transfer-Encoding: ,chunked" → rejected, or re-framed by baton', async (t) => {
  const up = await rawUpstream(t);
  const { port } = await startBaton(t, { services: { app: { rule: 'Host(`app.test`)', upstreams: [up.url] } } });
  const r = await exchange(port, `POST /x HTTP/1.1\r\n${HOST}Transfer-Encoding: ,chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, { timeoutMs: 3000 });
  t.equal(r.responses.length, 1, 'one response');
  const status = r.responses[0]?.status;
  if (status === 400) {
    t.equal(up.requests.length, 0, 'rejected: never forwarded');
  } else {
    t.equal(status, 200);
    t.equal(up.requests.length, 1);
    const req = up.requests[0];
    t.notMatch(up.received(), /,\s*chunked/i, 'the odd Transfer-Encoding value never reaches the upstream');
    const te = header(req, 'transfer-encoding');
    const cl = header(req, 'content-length');
    t.ok((te.length === 1 && te[0] === 'chunked' && cl.length === 0) || (te.length === 0 && cl.length === 1 && cl[0] === '5'), `one clean framing header (te=${te} cl=${cl})`);
    t.equal(req.body.toString(), 'hello');
  }
});

t.test('2. chunk extensions and trailers are not passed through', async (t) => {
  const up = await rawUpstream(t);
  const { port } = await startBaton(t, { services: { app: { rule: 'Host(`app.test`)', upstreams: [up.url] } } });
  const r = await exchange(
    port,
    `POST /x HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\n\r\n5;evil=1\r\nhello\r\n0\r\nX-Smuggled: yes\r\n\r\n`,
    { timeoutMs: 3000 },
  );
  t.equal(r.responses[0]?.status, 200);
  t.equal(up.requests.length, 1);
  t.equal(up.requests[0].body.toString(), 'hello');
  t.notMatch(up.received(), /evil=1/, 'chunk extension not forwarded');
  t.notMatch(up.received(), /x-smuggled/i, 'request trailer not forwarded');
});

t.test('2. "Content-Length: 010" → the upstream gets one normal Content-Length: 10', async (t) => {
  const up = await rawUpstream(t);
  const { port } = await startBaton(t, { services: { app: { rule: 'Host(`app.test`)', upstreams: [up.url] } } });
  const r = await exchange(port, `POST /x HTTP/1.1\r\n${HOST}Content-Length: 010\r\n\r\n0123456789`, { timeoutMs: 3000 });
  t.equal(r.responses[0]?.status, 200);
  t.equal(up.requests.length, 1);
  const req = up.requests[0];
  t.same(header(req, 'content-length'), ['10'], 'exactly one content-length, normalised');
  t.same(header(req, 'transfer-encoding'), []);
  t.notMatch(up.received(), /content-length:\s*010/i);
  t.equal(req.body.toString(), '0123456789');
});

// ── 3. bare LF / CR, NUL, space before colon, no colon, obs-fold ──────────────────────────────────────────────

t.test('3. malformed header lines → 400, never forwarded', async (t) => {
  const up = await rawUpstream(t);
  const { port } = await startBaton(t, { services: { app: { rule: 'Host(`app.test`)', upstreams: [up.url] } } });
  const cases: Record<string, string> = {
    'bare LF after the request line': `GET / HTTP/1.1\n${HOST}\r\n`,
    'bare LF between headers': `GET / HTTP/1.1\r\nHost: app.test\nX-A: b\r\n\r\n`,
    'bare LF ending the head': `GET / HTTP/1.1\r\n${HOST}\n`,
    'bare LF everywhere': `GET / HTTP/1.1\nHost: app.test\n\n`,
    'bare CR': `GET / HTTP/1.1\r\nHost: app.test\rX-A: b\r\n\r\n`,
    'NUL in a header value': `GET / HTTP/1.1\r\n${HOST}X-A: a\0b\r\n\r\n`,
    'NUL in a header name': `GET / HTTP/1.1\r\n${HOST}X-\0A: b\r\n\r\n`,
    'space before colon': `GET / HTTP/1.1\r\n${HOST}X-A : b\r\n\r\n`,
    'space before colon on Host': `GET / HTTP/1.1\r\nHost : app.test\r\n\r\n`,
    'space inside a header name': `GET / HTTP/1.1\r\n${HOST}X A: b\r\n\r\n`,
    'header line without colon': `GET / HTTP/1.1\r\n${HOST}XAb\r\n\r\n`,
    'obs-fold': `GET / HTTP/1.1\r\n${HOST}X-A: b\r\n c\r\n\r\n`,
    'obs-fold with tab': `GET / HTTP/1.1\r\n${HOST}X-A: b\r\n\tc\r\n\r\n`,
  };
  for (const [name, bytes] of Object.entries(cases)) {
    const r = await raw(port, bytes, 3000);
    t.match(r.data, /^HTTP\/1\.1 400 /, `${name}: 400`);
    t.ok(r.closed, `${name}: closed`);
  }
  t.equal(up.connections, 0, 'upstream never contacted');
});

// ── 4. pipelining ──────────────────────────────────────────────────────────────────────────────────────────

t.test('4. three pipelined requests → three independent responses, in order', async (t) => {
  // The first request is the slowest to answer: responses must still come back in request order.
  const delays: Record<string, number> = { '/1': 150, '/2': 50, '/3': 0 };
  const a = await startUpstream(t, 'a', (req, res, body) => {
    setTimeout(() => res.end(`${req.method} ${req.url} ${body}`), delays[req.url!] ?? 0);
  });
  const { port } = await startBaton(t, { services: { app: { rule: 'Host(`app.test`)', upstreams: [a.url] } } });
  const r = await exchange(
    port,
    `GET /1 HTTP/1.1\r\n${HOST}\r\n` + `POST /2 HTTP/1.1\r\n${HOST}Content-Length: 3\r\n\r\nabc` + `GET /3 HTTP/1.1\r\n${HOST}\r\n`,
    { responses: 3, timeoutMs: 3000 },
  );
  t.same(
    r.responses.map((x) => [x.status, x.body]),
    [
      [200, 'GET /1 '],
      [200, 'POST /2 abc'],
      [200, 'GET /3 '],
    ],
  );
  t.same(a.seen.map((s) => s.url).sort(), ['/1', '/2', '/3'], 'each forwarded exactly once');
  t.notOk(r.closed, 'connection kept alive');
});

t.test('4. pipelined: a request baton rejects does not disturb its neighbours', async (t) => {
  const a = await startUpstream(t, 'a', (req, res) => res.end(req.url));
  const { port } = await startBaton(t, { services: { app: { rule: 'Host(`app.test`)', upstreams: [a.url] } } });
  const r = await exchange(
    port,
    `GET /1 HTTP/1.1\r\n${HOST}\r\n` + `GET /2 HTTP/1.1\r\nHost: unknown.test\r\n\r\n` + `GET /3 HTTP/1.1\r\n${HOST}\r\n`,
    { responses: 3, timeoutMs: 3000 },
  );
  t.same(r.responses.map((x) => [x.status, x.body.split('\n')[0]]), [
    [200, '/1'],
    [404, '404 Not Found'],
    [200, '/3'],
  ]);
  t.same(a.seen.map((s) => s.url).sort(), ['/1', '/3']);
});

t.test('4. pipelined: nothing after "Connection: close" is forwarded; what came before is answered', async (t) => {
  const a = await startUpstream(t, 'a', (req, res) => setTimeout(() => res.end(req.url), 30));
  const { port } = await startBaton(t, { services: { app: { rule: 'Host(`app.test`)', upstreams: [a.url] } } });
  const r = await exchange(
    port,
    `GET /1 HTTP/1.1\r\n${HOST}\r\n` + `GET /2 HTTP/1.1\r\n${HOST}Connection: close\r\n\r\n` + `GET /3 HTTP/1.1\r\n${HOST}\r\n`,
    { untilClose: true, timeoutMs: 3000 },
  );
  t.ok(r.closed, 'baton closes the connection after answering the "Connection: close" request');
  t.same(
    r.responses.map((x) => [x.status, x.body]),
    [
      [200, '/1'],
      [200, '/2'],
    ],
    'the two requests before and with "Connection: close" are answered, in order; nothing else',
  );
  // give a stray third request time to show up
  await new Promise((r) => setTimeout(r, 200));
  t.same(a.seen.map((s) => s.url).sort(), ['/1', '/2'], 'the upstream saw exactly two requests, never /3');
});

// ── 5. malformed upstream responses ──────────────────────────────────────────────────────────────────────────

const MALFORMED: Record<string, string> = {
  'CL+TE': 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  'duplicate different CL': 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!',
  'garbage status line': 'HTPP/9.9 abc\r\n\r\n',
  'not HTTP at all': 'hello world\r\n\r\n',
  'bad header line': 'HTTP/1.1 200 OK\r\nX-A : b\r\nContent-Length: 2\r\n\r\nok',
};

t.test('5. malformed upstream response → 502, socket discarded, baton keeps serving', async (t) => {
  let mode = '';
  const bad = await rawUpstream(t, (_req, s) => {
    s.write(mode === 'good' ? 'HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ngood' : MALFORMED[mode]);
  });
  const other = await startUpstream(t, 'other');
  const { port } = await startBaton(t, {
    services: {
      app: { rule: 'Host(`app.test`)', upstreams: [bad.url] },
      other: { rule: 'Host(`other.test`)', upstreams: [other.url] },
    },
  });
  for (const name of Object.keys(MALFORMED)) {
    mode = name;
    const before = bad.requests.length;
    const r = await exchange(port, `GET /x HTTP/1.1\r\n${HOST}\r\n`, { timeoutMs: 3000 });
    t.equal(r.responses[0]?.status, 502, `${name}: 502`);
    t.equal(bad.requests.length - before, 1, `${name}: not retried (the upstream answered)`);
    await waitFor(() => bad.sockets.size === 0, 2000, `${name}: the upstream socket is discarded`);
    t.equal((await http(port, { host: 'other.test' })).status, 200, `${name}: baton still serves other services`);
    mode = 'good';
    const g = await http(port);
    t.equal(g.status, 200, `${name}: the same upstream works again on a fresh socket`);
    t.equal(g.body, 'good');
  }
});

t.test('5. a malformed upstream response is reported as such (x-baton-error)', async (t) => {
  let mode = '';
  const bad = await rawUpstream(t, (_req, s) => void s.write(MALFORMED[mode]));
  const { port } = await startBaton(t, { services: { app: { rule: 'Host(`app.test`)', upstreams: [bad.url] } } });
  for (const name of Object.keys(MALFORMED)) {
    mode = name;
    const r = await exchange(port, `GET /x HTTP/1.1\r\n${HOST}\r\n`, { timeoutMs: 3000 });
    t.equal(r.responses[0]?.status, 502, `${name}: 502`);
    t.same(header(r.responses[0], 'x-baton-error'), ['upstream_bad_response'], `${name}: classified as a bad response, not a reset`);
  }
});

// ── 6. CRLF injection ───────────────────────────────────────────────────────────────────────────────────────

t.test('6. %0d%0a in path, query or header value never becomes a new line upstream', async (t) => {
  const up = await rawUpstream(t);
  const { port } = await startBaton(t, { services: { app: { rule: 'Host(`app.test`)', upstreams: [up.url] } } });
  const targets = [
    '/a%0d%0aX-Injected:%20yes',
    '/a%0D%0AX-Injected:%20yes%0D%0A%0D%0AGET%20/smuggled%20HTTP/1.1',
    '/a?q=%0d%0aX-Injected:%20yes',
    '/a%0aX-Injected:%20yes',
    '/a%0dX-Injected:%20yes',
  ];
  let forwarded = 0;
  for (const target of targets) {
    const r = await exchange(port, `GET ${target} HTTP/1.1\r\n${HOST}\r\n`, { timeoutMs: 3000 });
    const status = r.responses[0]?.status;
    t.ok(status === 200 || status === 400, `${target}: answered (${status})`);
    if (status === 200) forwarded++;
  }
  const r = await exchange(port, `GET /h HTTP/1.1\r\n${HOST}X-A: a%0d%0aX-Injected: yes\r\n\r\n`, { timeoutMs: 3000 });
  t.equal(r.responses[0]?.status, 200);
  t.same(header(up.requests.at(-1)!, 'x-a'), ['a%0d%0aX-Injected: yes'], 'the header value is passed as the same single line');
  forwarded++;
  t.equal(up.requests.length, forwarded, 'the upstream parsed exactly one request per forwarded request');
  const text = up.received();
  const requestLines = text.split('\r\n').filter((l) => /^[A-Z]+ \S+ HTTP\/1\.1$/.test(l));
  t.equal(requestLines.length, up.requests.length, 'every request line upstream is one baton sent');
  t.notMatch(text, /(^|\n)x-injected/im, 'no injected header line');
  t.notMatch(text, /(^|\n)GET \/smuggled/m, 'no injected request');
});

// ── 7. Connection-named headers ─────────────────────────────────────────────────────────────────────────────

t.test('7. Connection: X-Secret, X-Forwarded-For → dropped; baton\'s own X-Forwarded-* still sent', async (t) => {
  const a = await startUpstream(t, 'a');
  const { port } = await startBaton(t, { services: { app: { rule: 'Host(`app.test`)', upstreams: [a.url] } } });
  const r = await raw(
    port,
    `GET / HTTP/1.1\r\n${HOST}Connection: X-Secret, X-Forwarded-For, X-Forwarded-Host, X-Real-IP, close\r\nX-Secret: hidden\r\n` +
      'X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Host: evil.test\r\nX-Real-IP: 6.6.6.6\r\n\r\n',
  );
  t.match(r.data, /^HTTP\/1\.1 200 /);
  const h = a.seen[0].headers;
  t.equal(h['x-secret'], undefined);
  t.equal(h['x-forwarded-for'], '127.0.0.1');
  t.equal(h['x-forwarded-host'], 'app.test');
  t.equal(h['x-real-ip'], '127.0.0.1');
  t.equal(h['x-forwarded-proto'], 'http');
  t.equal(h['x-forwarded-port'], String(port));
});

t.test('7. Connection naming Host, Content-Length, Authorization', async (t) => {
  const up = await rawUpstream(t);
  const { port } = await startBaton(t, { services: { app: { rule: 'Host(`app.test`)', upstreams: [up.url] } } });
  const r = await exchange(
    port,
    `POST /p HTTP/1.1\r\n${HOST}Connection: Host, Content-Length, Authorization\r\nAuthorization: Bearer abc\r\nContent-Length: 5\r\n\r\nhello`,
    { timeoutMs: 3000 },
  );
  t.equal(r.responses[0]?.status, 200);
  t.equal(up.requests.length, 1);
  const req = up.requests[0];
  t.same(header(req, 'host'), ['app.test'], 'the routed Host is still sent, exactly once');
  t.same(header(req, 'content-length'), ['5'], 'framing is baton\'s own, still correct');
  t.equal(req.body.toString(), 'hello', 'body intact');
  t.same(header(req, 'authorization'), [], 'a Connection-named Authorization is hop-by-hop: dropped');
  t.same(header(req, 'connection').filter((v) => /host|authorization|content-length/i.test(v)), [], 'the client\'s Connection list is not forwarded');
  // the same request without the Connection header keeps Authorization
  const r2 = await exchange(port, `GET /q HTTP/1.1\r\n${HOST}Authorization: Bearer abc\r\n\r\n`, { timeoutMs: 3000 });
  t.equal(r2.responses[0]?.status, 200);
  t.same(header(up.requests[1], 'authorization'), ['Bearer abc']);
});

// ── 8. hop-by-hop headers, both directions ──────────────────────────────────────────────────────────────────

t.test('8. hop-by-hop request headers are stripped', async (t) => {
  const up = await rawUpstream(t);
  const { port } = await startBaton(t, { services: { app: { rule: 'Host(`app.test`)', upstreams: [up.url] } } });
  const r = await exchange(
    port,
    `GET / HTTP/1.1\r\n${HOST}Keep-Alive: timeout=100\r\nProxy-Connection: keep-alive\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\n` +
      'TE: trailers\r\nTrailer: X-T\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nX-Normal: kept\r\n\r\n',
    { timeoutMs: 3000 },
  );
  t.equal(r.responses[0]?.status, 200);
  const req = up.requests[0];
  for (const name of ['keep-alive', 'proxy-connection', 'proxy-authorization', 'te', 'trailer', 'upgrade', 'http2-settings']) {
    t.same(header(req, name), [], `${name} not forwarded`);
  }
  t.same(header(req, 'x-normal'), ['kept']);
});

t.test('8. hop-by-hop response headers are stripped, and those named in the upstream\'s Connection', async (t) => {
  const up = await rawUpstream(t, (_req, s) => {
    s.write(
      'HTTP/1.1 200 OK\r\nConnection: X-Internal, keep-alive\r\nX-Internal: secret\r\nKeep-Alive: timeout=99, max=7\r\n' +
        'Proxy-Connection: keep-alive\r\nTE: trailers\r\nTrailer: X-T\r\nUpgrade: h2c\r\nProxy-Authenticate: Basic realm="x"\r\n' +
        'X-Kept: yes\r\nContent-Length: 2\r\n\r\nok',
    );
  });
  const { port } = await startBaton(t, { services: { app: { rule: 'Host(`app.test`)', upstreams: [up.url] } } });
  const r = await exchange(port, `GET / HTTP/1.1\r\n${HOST}\r\n`, { timeoutMs: 3000 });
  const res = r.responses[0];
  t.equal(res?.status, 200);
  t.equal(res.body, 'ok');
  t.same(header(res, 'x-internal'), [], 'Connection-named header dropped');
  t.same(header(res, 'proxy-connection'), []);
  t.same(header(res, 'te'), []);
  t.same(header(res, 'trailer'), []);
  t.same(header(res, 'upgrade'), []);
  t.same(header(res, 'proxy-authenticate'), []);
  t.notMatch(res.head, /timeout=99|max=7/, 'the upstream\'s Keep-Alive is not relayed (baton may send its own)');
  t.notMatch(res.head, /x-internal/i, 'not even inside baton\'s own Connection header');
  t.same(header(res, 'x-kept'), ['yes']);
});

// ── 9. X-Forwarded-* trust ──────────────────────────────────────────────────────────────────────────────────

const SPOOF =
  'X-Forwarded-For: 203.0.113.9\r\nX-Forwarded-For: 198.51.100.1\r\nX-Forwarded-Host: evil.test\r\nX-Forwarded-Proto: https\r\n' +
  'X-Forwarded-Port: 443\r\nX-Real-IP: 203.0.113.9\r\nForwarded: for=203.0.113.9\r\n';

t.test('9. spoofed X-Forwarded-* from an untrusted peer → replaced by baton\'s', async (t) => {
  for (const trustedIPs of [[], ['10.0.0.0/8', '192.168.1.1', '::1']]) {
    const up = await rawUpstream(t);
    const { port } = await startBaton(t, {
      entrypoints: { web: { address: '127.0.0.1:0', forwardedHeaders: { trustedIPs } } },
      services: { app: { rule: 'Host(`app.test`)', upstreams: [up.url] } },
    });
    const r = await exchange(port, `GET / HTTP/1.1\r\n${HOST}${SPOOF}\r\n`, { timeoutMs: 3000 });
    t.equal(r.responses[0]?.status, 200);
    const req = up.requests[0];
    const label = `trustedIPs=${JSON.stringify(trustedIPs)}`;
    t.same(header(req, 'x-forwarded-for'), ['127.0.0.1'], `${label}: XFF replaced`);
    t.same(header(req, 'x-forwarded-host'), ['app.test'], `${label}: XFH set by baton`);
    t.same(header(req, 'x-forwarded-proto'), ['http'], `${label}: XFP set by baton`);
    t.same(header(req, 'x-forwarded-port'), [String(port)], `${label}: X-Forwarded-Port set by baton`);
    t.same(header(req, 'x-real-ip'), ['127.0.0.1'], `${label}: X-Real-IP set by baton`);
    t.same(header(req, 'forwarded'), [], `${label}: Forwarded from an untrusted peer dropped`);
  }
});

t.test('9. X-Forwarded-For from a trusted CIDR → appended to', async (t) => {
  for (const trustedIPs of [['127.0.0.0/8'], ['127.0.0.1'], ['10.0.0.0/8', '127.0.0.1/32']]) {
    const up = await rawUpstream(t);
    const { port } = await startBaton(t, {
      entrypoints: { web: { address: '127.0.0.1:0', forwardedHeaders: { trustedIPs } } },
      services: { app: { rule: 'Host(`app.test`)', upstreams: [up.url] } },
    });
    const r = await exchange(port, `GET / HTTP/1.1\r\n${HOST}${SPOOF}\r\n`, { timeoutMs: 3000 });
    t.equal(r.responses[0]?.status, 200);
    const req = up.requests[0];
    const label = `trustedIPs=${JSON.stringify(trustedIPs)}`;
    t.same(header(req, 'x-forwarded-for'), ['203.0.113.9, 198.51.100.1, 127.0.0.1'], `${label}: appended, one header`);
    t.same(header(req, 'x-forwarded-proto'), ['https'], `${label}: the trusted proxy's proto kept`);
    t.same(header(req, 'x-forwarded-host'), ['evil.test'], `${label}: the trusted proxy's host kept`);
  }
  // without any forwarded header from the trusted peer, baton's own values
  const up = await rawUpstream(t);
  const { port } = await startBaton(t, {
    entrypoints: { web: { address: '127.0.0.1:0', forwardedHeaders: { trustedIPs: ['127.0.0.0/8'] } } },
    services: { app: { rule: 'Host(`app.test`)', upstreams: [up.url] } },
  });
  await exchange(port, `GET / HTTP/1.1\r\n${HOST}\r\n`, { timeoutMs: 3000 });
  t.same(header(up.requests[0], 'x-forwarded-for'), ['127.0.0.1']);
  t.same(header(up.requests[0], 'x-real-ip'), ['127.0.0.1']);
});

// ── 10. header size limit ───────────────────────────────────────────────────────────────────────────────────

t.test('10. headers over limits.maxHeaderSize → 431, never forwarded', async (t) => {
  const up = await rawUpstream(t);
  const { port } = await startBaton(t, { limits: { maxHeaderSize: '2kb' }, services: { app: { rule: 'Host(`app.test`)', upstreams: [up.url] } } });
  const small = await exchange(port, `GET / HTTP/1.1\r\n${HOST}X-Pad: ${'a'.repeat(1000)}\r\n\r\n`, { timeoutMs: 3000 });
  t.equal(small.responses[0]?.status, 200, 'under the limit: forwarded');
  const oneBig = await raw(port, `GET / HTTP/1.1\r\n${HOST}X-Pad: ${'a'.repeat(4000)}\r\n\r\n`, 3000);
  t.match(oneBig.data, /^HTTP\/1\.1 431 /, 'one large header → 431');
  t.ok(oneBig.closed);
  let many = `GET / HTTP/1.1\r\n${HOST}`;
  for (let i = 0; i < 100; i++) many += `X-H${i}: ${'b'.repeat(30)}\r\n`;
  const manySmall = await raw(port, many + '\r\n', 3000);
  t.match(manySmall.data, /^HTTP\/1\.1 431 /, 'many small headers over the limit → 431');
  const longTarget = await raw(port, `GET /${'p'.repeat(4000)} HTTP/1.1\r\n${HOST}\r\n`, 3000);
  t.match(longTarget.data, /^HTTP\/1\.1 (431|414) /, 'an oversized request line is refused too');
  t.equal(up.requests.length, 1, 'only the small request reached the upstream');
});

// ── 11. Host ────────────────────────────────────────────────────────────────────────────────────────────────

t.test('11. missing, duplicate or malformed Host → 400, never forwarded', async (t) => {
  const up = await rawUpstream(t);
  const { port } = await startBaton(t, { services: { app: { rule: 'Host(`app.test`)', upstreams: [up.url] } } });
  const cases: Record<string, string> = {
    'missing Host (HTTP/1.1)': 'GET / HTTP/1.1\r\n\r\n',
    'duplicate Host': `GET / HTTP/1.1\r\n${HOST}${HOST}\r\n`,
    'duplicate Host, different values and case': 'GET / HTTP/1.1\r\nHost: app.test\r\nHOST: other.test\r\n\r\n',
    'Host "a b"': 'GET / HTTP/1.1\r\nHost: a b\r\n\r\n',
    'Host "app.test extra"': 'GET / HTTP/1.1\r\nHost: app.test extra\r\n\r\n',
    'Host "a/b"': 'GET / HTTP/1.1\r\nHost: a/b\r\n\r\n',
    'Host "[::1"': 'GET / HTTP/1.1\r\nHost: [::1\r\n\r\n',
    'Host port 99999': 'GET / HTTP/1.1\r\nHost: app.test:99999\r\n\r\n',
    'Host empty port': 'GET / HTTP/1.1\r\nHost: app.test:\r\n\r\n',
    'Host with userinfo': 'GET / HTTP/1.1\r\nHost: user@app.test\r\n\r\n',
    'Host empty': 'GET / HTTP/1.1\r\nHost: \r\n\r\n',
    'Host with comma': 'GET / HTTP/1.1\r\nHost: app.test,other.test\r\n\r\n',
  };
  for (const [name, bytes] of Object.entries(cases)) {
    const r = await exchange(port, bytes, { timeoutMs: 3000 });
    t.equal(r.responses[0]?.status, 400, `${name}: 400`);
  }
  t.equal(up.connections, 0, 'upstream never contacted');
});

t.test('11. HTTP/1.0 without Host → 404 from baton (no route matches without a host)', async (t) => {
  const up = await rawUpstream(t);
  const { port } = await startBaton(t, { services: { app: { rule: 'Host(`app.test`)', upstreams: [up.url] } } });
  const r = await exchange(port, 'GET / HTTP/1.0\r\n\r\n', { untilClose: true, timeoutMs: 3000 });
  t.equal(r.responses[0]?.status, 404);
  t.same(header(r.responses[0], 'x-baton-error'), ['no_route']);
  t.ok(r.closed, 'HTTP/1.0 without keep-alive: closed');
  t.equal(up.connections, 0);
  // with a Host header, HTTP/1.0 routes normally
  const ok = await exchange(port, `GET /ten HTTP/1.0\r\n${HOST}\r\n`, { untilClose: true, timeoutMs: 3000 });
  t.equal(ok.responses[0]?.status, 200);
  t.equal(up.requests[0]?.requestLine, 'GET /ten HTTP/1.1');
});

// ── 12. unknown Host ────────────────────────────────────────────────────────────────────────────────────────

t.test('12. unknown Host → 404 from baton itself, never a default upstream', async (t) => {
  const a = await rawUpstream(t);
  const b = await rawUpstream(t);
  const { port } = await startBaton(t, {
    services: {
      a: { rule: 'Host(`app.test`)', upstreams: [a.url] },
      b: { rule: 'Host(`b.test`) && PathPrefix(`/`)', upstreams: [b.url] },
    },
  });
  for (const host of ['other.test', 'app.test.evil', 'evil.app.test', 'app.tes', '127.0.0.1', `127.0.0.1:${port}`]) {
    const r = await exchange(port, `GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`, { timeoutMs: 3000 });
    t.equal(r.responses[0]?.status, 404, `${host}: 404`);
    t.same(header(r.responses[0], 'x-baton-error'), ['no_route'], `${host}: answered by baton`);
  }
  t.equal(a.connections + b.connections, 0, 'no upstream contacted');
  const ok = await exchange(port, 'GET / HTTP/1.1\r\nHost: APP.test:8080\r\n\r\n', { timeoutMs: 3000 });
  t.equal(ok.responses[0]?.status, 200, 'host match is case-insensitive and ignores the port');
});

// ── 13. absolute-form targets ───────────────────────────────────────────────────────────────────────────────

t.test('13. absolute-form target: disagreeing with Host → 400; agreeing → routed, origin-form upstream', async (t) => {
  const a = await rawUpstream(t);
  const o = await rawUpstream(t);
  const { port } = await startBaton(t, {
    services: {
      app: { rule: 'Host(`app.test`)', upstreams: [a.url] },
      other: { rule: 'Host(`other.test`)', upstreams: [o.url] },
    },
  });
  const bad = {
    'other host in target': `GET http://other.test/x HTTP/1.1\r\n${HOST}\r\n`,
    'other host in Host': 'GET http://app.test/x HTTP/1.1\r\nHost: other.test\r\n\r\n',
    'userinfo in target': `GET http://evil@app.test/x HTTP/1.1\r\n${HOST}\r\n`,
    'different port': `GET http://app.test:81/x HTTP/1.1\r\n${HOST}\r\n`,
  };
  for (const [name, bytes] of Object.entries(bad)) {
    const r = await exchange(port, bytes, { timeoutMs: 3000 });
    t.equal(r.responses[0]?.status, 400, `${name}: 400`);
  }
  t.equal(a.connections + o.connections, 0, 'nothing forwarded');

  const r = await exchange(port, `GET http://app.test/x/y?q=1 HTTP/1.1\r\n${HOST}\r\n`, { timeoutMs: 3000 });
  t.equal(r.responses[0]?.status, 200);
  t.equal(a.requests[0]?.requestLine, 'GET /x/y?q=1 HTTP/1.1', 'the upstream gets origin-form');
  t.same(header(a.requests[0], 'host'), ['app.test']);
  const r2 = await exchange(port, `GET HTTP://App.Test HTTP/1.1\r\nHost: app.test\r\n\r\n`, { timeoutMs: 3000 });
  t.equal(r2.responses[0]?.status, 200, 'scheme and host compared case-insensitively');
  t.equal(a.requests[1]?.requestLine, 'GET / HTTP/1.1', 'empty path becomes "/"');
  t.equal(o.connections, 0, 'the other service was never reached');
});

// ── 14. path normalisation and prefix-route escapes ─────────────────────────────────────────────────────────

t.test('14. dot segments and encoded separators cannot escape a prefix route', async (t) => {
  const pub = await rawUpstream(t);
  const adm = await rawUpstream(t);
  const { port } = await startBaton(t, {
    services: {
      pub: { rule: 'Host(`app.test`) && PathPrefix(`/public`)', upstreams: [pub.url] },
      adm: { rule: 'Host(`app.test`) && PathPrefix(`/admin`)', upstreams: [adm.url] },
    },
  });
  const toAdmin = [
    '/public/../admin/x',
    '/public/%2e%2e/admin/x',
    '/public/%2E%2E/admin/x',
    '/public/.%2e/admin/x',
    '/public/./../admin/./x',
    '/public/a/../../admin/x',
    '/../admin/x',
  ];
  for (const path of toAdmin) {
    const before = adm.requests.length;
    const r = await exchange(port, `GET ${path} HTTP/1.1\r\n${HOST}\r\n`, { timeoutMs: 3000 });
    t.equal(r.responses[0]?.status, 200, `${path}: 200`);
    t.equal(adm.requests.length, before + 1, `${path}: routed to the /admin service`);
    t.equal(adm.requests.at(-1)?.requestLine, 'GET /admin/x HTTP/1.1', `${path}: forwarded as the path it was routed by`);
  }
  const r = await exchange(port, `GET /admin/%2e%2e/public/y?a=../b HTTP/1.1\r\n${HOST}\r\n`, { timeoutMs: 3000 });
  t.equal(r.responses[0]?.status, 200);
  t.equal(pub.requests.at(-1)?.requestLine, 'GET /public/y?a=../b HTTP/1.1', 'query is not path-normalised');

  const rejected = [
    '/public/..%2Fadmin/x',
    '/public/..%2fadmin/x',
    '/public%2F..%2Fadmin/x',
    '/public/..%5Cadmin/x',
    '/public/..%5cadmin/x',
    '/public/..\\admin/x',
    '/public/%00',
    '/public/x%00.html',
    '/public/%zz',
    '/public/%2',
  ];
  for (const path of rejected) {
    const r = await exchange(port, `GET ${path} HTTP/1.1\r\n${HOST}\r\n`, { timeoutMs: 3000 });
    t.equal(r.responses[0]?.status, 400, `${path}: 400`);
  }
  for (const req of [...pub.requests, ...adm.requests]) {
    const target = req.requestLine.split(' ')[1].split('?')[0];
    t.notMatch(target, /\/\.\.?(\/|$)|%2e|%2f|%5c|%00|\\/i, `${req.requestLine}: no dot segment or encoded separator upstream`);
  }
  t.equal(pub.requests.length, 1, 'the /public upstream only ever saw the one request that normalised into /public');
});
