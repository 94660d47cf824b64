// Abuse on HTTP/2 and on the TLS front door: the real bytes, from raw clients (hand-built h2 frames over TLS, raw
// TCP) and from node:http2, against a real baton App in this process (so the descriptor count read here is
// baton's too). Every loop is bounded in count and time; every client is torn down.
//
//   rapid reset (CVE-2023-44487) · CONTINUATION flood (CVE-2024-27316) · SETTINGS / PING floods · header list over
//   limits.maxHeaderSize · more streams than http2.maxConcurrentStreams · a client that stops reading ·
//   garbage and stalls before / during the ClientHello · h2c never offered
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { constants as h2c } from 'node:http2';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import t, { type Test } from 'tap';
import { raw, startUpstream, waitFor, type TestUpstream } from './fixtures/harness.ts';
import {
  captureClientHello,
  FLAG,
  fdCount,
  frame,
  FRAME,
  H2_ERROR,
  h2request,
  h2session,
  hpackLiteral,
  hpackRequest,
  https,
  httpsAgent,
  PREFACE,
  rawH2,
  responseStreams,
  settingsFrame,
  startTlsBaton,
  type RawH2,
  type TlsBaton,
} from './fixtures/tls-baton.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const tick = () => new Promise((r) => setImmediate(r));
const MB = 1024 * 1024;

interface Counting extends TestUpstream {
  /** requests that arrived (counted at the head, before any body) */
  arrived: string[];
  active: number;
  maxActive: number;
}

/** An upstream that counts requests as they arrive and how many run at once; `/slow…` answers after `slowMs`. */
async function countingUpstream(t: Test, slowMs = 300, body = 'ok'): Promise<Counting> {
  const up = (await startUpstream(t, 'a', (req, res) => {
    const delay = req.url!.startsWith('/slow') ? slowMs : 0;
    setTimeout(() => res.end(req.url!.startsWith('/big') ? 'x'.repeat(5_000_000) : body), delay);
  })) as Counting;
  up.arrived = [];
  up.active = 0;
  up.maxActive = 0;
  up.server.on('request', (req, res) => {
    up.arrived.push(req.url!);
    up.active++;
    up.maxActive = Math.max(up.maxActive, up.active);
    res.on('close', () => up.active--);
  });
  return up;
}

async function setup(t: Test, extra: Record<string, unknown> = {}, entrypoint: Record<string, unknown> = {}) {
  const up = await countingUpstream(t);
  const plain = await startUpstream(t, 'plain');
  const b = await startTlsBaton(
    t,
    {
      app: { rule: 'Host(`app.test`)', upstreams: [up.url] },
      plain: { rule: 'Host(`plain.test`)', upstreams: [plain.url], tls: false },
    },
    { timeouts: { header: '1s', upstreamKeepAlive: '200ms' }, ...extra },
    entrypoint,
  );
  const ep = b.app.entrypoints.get('web')!;
  return { up, plain, b, ep, port: b.port };
}

/** A normal request on a fresh h2 session answers 200 within a second. */
async function othersServed(t: Test, b: TlsBaton, what: string): Promise<void> {
  const started = Date.now();
  const s = await h2session(t, b.port, b.ca);
  const r = await h2request(s, { ':path': '/other' });
  const took = Date.now() - started;
  s.close();
  t.equal(r.status, 200, `${what}: another client is served`);
  t.ok(took < 1000, `${what}: promptly (${took} ms)`);
}

async function fdsBackTo(t: Test, baseline: number, what: string): Promise<void> {
  let now = fdCount();
  try {
    await waitFor(() => (now = fdCount()) <= baseline + 2, 5000, 'descriptors back to baseline');
  } catch {
    // reported below
  }
  t.ok(now <= baseline + 2, `${what}: descriptors back to baseline (${baseline} before, ${now} now)`);
}

const rstPayload = (code: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(code);
  return b;
};

function goawayOf(r: RawH2): { last: number; code: number } | null {
  const g = r.frames.find((f) => f.type === FRAME.GOAWAY);
  return g === undefined ? null : { last: g.payload.readUInt32BE(0) & 0x7fffffff, code: g.payload.readUInt32BE(4) };
}

// ── rapid reset ─────────────────────────────────────────────────────────────────────────────────────────────

t.test('rapid reset (CVE-2023-44487): HEADERS + RST_STREAM in a tight loop → session closed, upstream load bounded', { timeout: 30_000 }, async (t) => {
  const { up, b, ep, port } = await setup(t);
  const fd0 = fdCount();
  const u = [...b.app.registry.upstreams.values()][0];
  for (const acked of [false, true]) {
    const before = up.arrived.length;
    const r = await rawH2(t, port);
    if (acked) r.write(frame(FRAME.SETTINGS, FLAG.ACK, 0));
    const started = Date.now();
    let sent = 0;
    for (let i = 0; i < 5000 && !r.closed && Date.now() - started < 5000; i++) {
      const id = 1 + 2 * i;
      r.write(frame(FRAME.HEADERS, FLAG.END_STREAM | FLAG.END_HEADERS, id, hpackRequest('GET', `/rr${i}`)));
      r.write(frame(FRAME.RST_STREAM, 0, id, rstPayload(H2_ERROR.CANCEL)));
      sent++;
      if (i % 50 === 49) await tick();
    }
    await Promise.race([r.whenClosed, sleep(3000)]);
    const g = goawayOf(r);
    const label = acked ? 'settings acked' : 'settings not acked';
    t.ok(r.closed, `${label}: baton closed the session (${sent} streams written, closed after ${r.closedAt - started} ms)`);
    t.ok(g !== null, `${label}: with a GOAWAY (last stream ${g?.last}, code ${g?.code})`);
    t.ok(g !== null && g.last < 1000, `${label}: streams accepted before the GOAWAY are bounded (${g === null ? '?' : (g.last + 1) / 2})`);
    await sleep(500); // requests already dispatched reach the upstream
    const forwarded = up.arrived.length - before;
    t.ok(forwarded <= 200, `${label}: the upstream saw ${forwarded} requests, not ${sent}`);
    // every cancelled stream's upstream request is aborted or completes: nothing stays accounted for
    let inflight = u.inflight;
    await waitFor(() => (inflight = u.inflight) === 0 && ep.active === 0, 3000, 'in-flight back to 0').catch(() => {});
    t.equal(inflight, 0, `${label}: upstream in-flight back to 0 after the cancelled streams (it is ${u.inflight})`);
    t.equal(ep.active, 0, `${label}: entrypoint active requests back to 0 (it is ${ep.active})`);
    await waitFor(() => up.sockets.size <= 10, 3000, 'upstream sockets released').catch(() => {});
    t.ok(up.sockets.size <= 10, `${label}: baton does not hold upstream connections for the cancelled streams (${up.sockets.size} open)`);
    await othersServed(t, b, label).catch((e: Error) => t.fail(`${label}: another client is served (${e.message})`));
  }

  // node:http2's own client: request() then close(CANCEL), 5,000 times or 5 s
  const before = up.arrived.length;
  const s = await h2session(t, port, b.ca);
  await sleep(20);
  const started = Date.now();
  let opened = 0;
  let goaway: number | null = null;
  s.on('goaway', (code: number) => (goaway = code));
  try {
    for (let i = 0; i < 5000 && !s.closed && !s.destroyed && Date.now() - started < 5000; i++) {
      const st = s.request({ ':path': `/node-rr${i}`, ':authority': 'app.test' });
      st.on('error', () => {});
      st.close(h2c.NGHTTP2_CANCEL);
      opened++;
      if (i % 50 === 49) await tick();
    }
  } catch {
    // the session went away under the loop
  }
  await Promise.race([once(s, 'close'), sleep(1000)]);
  const forwarded = up.arrived.length - before;
  t.comment(`node:http2 client: ${opened} streams opened and cancelled in ${Date.now() - started} ms; session closed: ${s.closed || s.destroyed}; GOAWAY: ${goaway}; upstream saw ${forwarded}`);
  t.ok(forwarded < 1000, `node:http2 client: the upstream saw a bounded number of requests (${forwarded} of ${opened})`);
  s.destroy();
  await othersServed(t, b, 'node:http2 client').catch((e: Error) => t.fail(`node:http2 client: another client is served (${e.message})`));
  await waitFor(() => ep.connections === 0, 3000, 'baton connections back to 0');
  await fdsBackTo(t, fd0, 'rapid reset');
});

// ── CONTINUATION flood ──────────────────────────────────────────────────────────────────────────────────────

t.test('CONTINUATION flood (CVE-2024-27316): HEADERS without END_HEADERS, then thousands of CONTINUATION → closed', { timeout: 30_000 }, async (t) => {
  const { up, b, ep, port } = await setup(t);
  const fd0 = fdCount();
  const variants: Array<[string, (i: number) => Buffer]> = [
    ['literal header fields', (i) => hpackLiteral(`x-flood-${i}`, 'v'.repeat(40))],
    ['empty frames', () => Buffer.alloc(0)],
    ['raw bytes', () => randomBytes(64)],
  ];
  for (const [name, payload] of variants) {
    const rss0 = process.memoryUsage().rss;
    let rssMax = rss0;
    const r = await rawH2(t, port);
    r.write(frame(FRAME.SETTINGS, FLAG.ACK, 0));
    r.write(frame(FRAME.HEADERS, FLAG.END_STREAM, 1, hpackRequest('GET', '/continuation')));
    const started = Date.now();
    let sent = 0;
    for (let i = 0; i < 10_000 && !r.closed && r.socket.writable && Date.now() - started < 5000; i++) {
      if (!r.write(frame(FRAME.CONTINUATION, 0, 1, payload(i)))) await r.drain(50);
      sent++;
      if (i % 100 === 99) {
        rssMax = Math.max(rssMax, process.memoryUsage().rss);
        await tick();
      }
    }
    await Promise.race([r.whenClosed, sleep(3000)]);
    rssMax = Math.max(rssMax, process.memoryUsage().rss);
    const g = goawayOf(r);
    t.ok(r.closed, `${name}: connection closed by baton (${sent} CONTINUATION frames written, closed after ${r.closedAt - started} ms)`);
    t.ok(g !== null, `${name}: GOAWAY sent (code ${g?.code})`);
    t.ok(rssMax - rss0 < 100 * MB, `${name}: memory bounded (rss +${((rssMax - rss0) / MB).toFixed(1)} MB)`);
  }
  t.notOk(up.arrived.includes('/continuation'), 'the flooded request never reached the upstream');
  await othersServed(t, b, 'after the CONTINUATION floods');
  await waitFor(() => ep.connections === 0, 3000, 'baton connections back to 0');
  await fdsBackTo(t, fd0, 'CONTINUATION flood');
});

// ── SETTINGS and PING floods ────────────────────────────────────────────────────────────────────────────────

t.test('SETTINGS frame with more entries than maxSettings (32) → GOAWAY ENHANCE_YOUR_CALM, closed', { timeout: 30_000 }, async (t) => {
  const { b, port } = await setup(t);
  const r = await rawH2(t, port);
  r.write(settingsFrame(Array.from({ length: 100 }, (): [number, number] => [4, 65535])));
  await Promise.race([r.whenClosed, sleep(3000)]);
  t.ok(r.closed, 'closed');
  t.equal(goawayOf(r)?.code, H2_ERROR.ENHANCE_YOUR_CALM, 'GOAWAY ENHANCE_YOUR_CALM');
  await othersServed(t, b, 'after the oversized SETTINGS');
});

t.test('SETTINGS and PING floods from a client that reads: answered or closed, memory bounded, others served', { timeout: 30_000 }, async (t) => {
  const { up, b, port } = await setup(t);
  for (const [name, make] of [
    ['PING', (i: number) => frame(FRAME.PING, 0, 0, Buffer.alloc(8, i & 0xff))],
    ['SETTINGS', () => settingsFrame([[4, 65535]])],
  ] as const) {
    const rss0 = process.memoryUsage().rss;
    const r = await rawH2(t, port);
    r.write(frame(FRAME.SETTINGS, FLAG.ACK, 0));
    const started = Date.now();
    let sent = 0;
    for (let i = 0; i < 20_000 && !r.closed && r.socket.writable && Date.now() - started < 5000; i++) {
      if (!r.write(make(i))) await r.drain(50);
      sent++;
      if (i % 500 === 499) await tick();
    }
    const during = othersServed(t, b, `during the ${name} flood`);
    await Promise.race([r.whenClosed, sleep(1000)]);
    await during;
    const acks = r.frames.filter((f) => f.type === (name === 'PING' ? FRAME.PING : FRAME.SETTINGS) && (f.flags & FLAG.ACK) !== 0).length;
    const g = goawayOf(r);
    t.comment(`${name} flood: ${sent} frames in ${Date.now() - started} ms, ${acks} ACKs back, closed: ${r.closed}, GOAWAY: ${g?.code ?? 'none'}`);
    t.ok(r.closed || acks > 0, `${name} flood: absorbed (ACKed) or the session closed`);
    t.ok(process.memoryUsage().rss - rss0 < 100 * MB, `${name} flood: memory bounded (rss +${((process.memoryUsage().rss - rss0) / MB).toFixed(1)} MB)`);
    r.destroy();
  }
  t.equal(up.arrived.filter((u) => u !== '/other').length, 0, 'nothing but the other clients reached the upstream');
});

t.test('a client that stops reading is closed at timeouts.socket: PING flood, SETTINGS flood, a large response', { timeout: 30_000 }, async (t) => {
  // HTTP/1.1 frees such a connection at the socket timeout (limits.test.ts, 16. slow read); HTTP/2 must too.
  const SOCKET_MS = 1500;
  const { up, b, ep, port } = await setup(t, { timeouts: { header: '1s', socket: `${SOCKET_MS}ms`, upstreamKeepAlive: '200ms' } });
  const fd0 = fdCount();
  const wu = Buffer.alloc(4);
  wu.writeUInt32BE(0x7fff0000);
  const cases: Array<[string, (r: RawH2) => Promise<void>]> = [
    [
      'PING flood',
      async (r) => {
        const batch = Buffer.concat(Array.from({ length: 1000 }, (_, i) => frame(FRAME.PING, 0, 0, Buffer.alloc(8, i & 0xff))));
        const started = Date.now();
        for (let i = 0; i < 2000 && Date.now() - started < 2000; i++) {
          if (!r.write(batch)) await r.drain(200);
        }
      },
    ],
    [
      'SETTINGS flood',
      async (r) => {
        const batch = Buffer.concat(Array.from({ length: 1000 }, () => settingsFrame([[4, 65535]])));
        const started = Date.now();
        for (let i = 0; i < 2000 && Date.now() - started < 2000; i++) {
          if (!r.write(batch)) await r.drain(200);
        }
      },
    ],
    [
      'a 5 MB response, windows wide open',
      async (r) => {
        r.write(frame(FRAME.SETTINGS, 0, 0, Buffer.from([0, 4, 0x7f, 0xff, 0, 0]))); // INITIAL_WINDOW_SIZE 2^31-65536
        r.write(frame(FRAME.WINDOW_UPDATE, 0, 0, wu));
        r.write(frame(FRAME.SETTINGS, FLAG.ACK, 0));
        r.write(frame(FRAME.HEADERS, FLAG.END_STREAM | FLAG.END_HEADERS, 1, hpackRequest('GET', '/big')));
        await sleep(300);
      },
    ],
  ];
  for (const [name, attack] of cases) {
    const rss0 = process.memoryUsage().rss;
    const r = await rawH2(t, port, { read: false });
    await attack(r);
    const attackEnded = Date.now();
    t.ok(process.memoryUsage().rss - rss0 < 100 * MB, `${name}: memory bounded (rss +${((process.memoryUsage().rss - rss0) / MB).toFixed(1)} MB)`);
    await othersServed(t, b, `${name}, while the stalled client is held`);
    // the client is paused and cannot see a close: baton's own connection count tells
    let closedAfter = -1;
    try {
      await waitFor(() => ep.connections === 0, 3 * SOCKET_MS + 1000, 'the stalled connection closed');
      closedAfter = Date.now() - attackEnded;
    } catch {
      // reported below
    }
    t.ok(closedAfter >= 0, `${name}: baton closed the stalled connection (${closedAfter >= 0 ? `${closedAfter} ms after the client stopped` : `still open ${3 * SOCKET_MS + 1000} ms later`}, socket timeout ${SOCKET_MS} ms)`);
    r.destroy();
    await waitFor(() => ep.connections === 0, 2000, 'connection gone once the client leaves');
  }
  await waitFor(() => up.active === 0, 3000, 'no upstream request left running');
  await fdsBackTo(t, fd0, 'stalled readers');
});

t.test('a stream stalled by flow control (window never opened) is freed at timeouts.socket', { timeout: 30_000 }, async (t) => {
  const SOCKET_MS = 1500;
  const { up, ep, port } = await setup(t, { timeouts: { header: '1s', socket: `${SOCKET_MS}ms`, upstreamKeepAlive: '200ms' } });
  const r = await rawH2(t, port);
  r.write(frame(FRAME.SETTINGS, FLAG.ACK, 0));
  r.write(frame(FRAME.HEADERS, FLAG.END_STREAM | FLAG.END_HEADERS, 1, hpackRequest('GET', '/big')));
  const started = Date.now();
  await Promise.race([r.whenClosed, sleep(4 * SOCKET_MS + 1000)]);
  const data = r.frames.filter((f) => f.type === FRAME.DATA).reduce((n, f) => n + f.payload.length, 0);
  t.ok(data <= 65535, `only the initial window was sent (${data} bytes)`);
  t.ok(r.closed, `closed by baton (after ${r.closedAt - started} ms)`);
  await waitFor(() => up.active === 0, 3000, 'the upstream response was released');
  await waitFor(() => ep.connections === 0, 2000, 'baton connections back to 0');
});

t.test('an h2 client that closes its side (FIN) → baton closes the connection promptly, descriptors back', { timeout: 30_000 }, async (t) => {
  // HTTP/1.1 over TLS and node:http2's close() are released at once; a bare FIN after an h2 exchange (undici's
  // Agent.close(), or a raw client's end()) must be too, not held until timeouts.socket (120 s by default).
  const { b, ep, port } = await setup(t);
  const fd0 = fdCount();
  const cases: Array<[string, () => Promise<void>]> = [
    [
      'node:http2 session.close()',
      async () => {
        const s = await h2session(t, port, b.ca);
        await h2request(s, { ':path': '/node' });
        s.close();
      },
    ],
    [
      'HTTP/1.1 over TLS, then agent.close()',
      async () => {
        t.equal((await https(port, b.ca, { path: '/h1' })).status, 200);
      },
    ],
    [
      'undici over h2, then agent.close()',
      async () => {
        const agent = httpsAgent(b.ca, { h2: true });
        t.equal((await https(port, b.ca, { path: '/undici-h2', agent })).status, 200);
        await agent.close();
      },
    ],
    [
      'raw h2: a request, GOAWAY, then end()',
      async () => {
        const r = await rawH2(t, port);
        r.write(frame(FRAME.SETTINGS, FLAG.ACK, 0));
        r.write(frame(FRAME.HEADERS, FLAG.END_STREAM | FLAG.END_HEADERS, 1, hpackRequest('GET', '/raw')));
        await waitFor(() => r.frames.some((f) => f.type === FRAME.DATA && (f.flags & FLAG.END_STREAM) !== 0), 2000, 'the response');
        r.write(frame(FRAME.GOAWAY, 0, 0, Buffer.alloc(8)));
        r.socket.end();
      },
    ],
  ];
  for (const [name, run] of cases) {
    await run();
    const started = Date.now();
    let left = ep.connections;
    await waitFor(() => (left = ep.connections) === 0, 2000, 'connection released').catch(() => {});
    t.equal(left, 0, `${name}: baton released the connection (${left === 0 ? `${Date.now() - started} ms` : `still ${left} open after 2 s`})`);
  }
  await fdsBackTo(t, fd0, 'closed clients');
});

// ── header list over the limit ──────────────────────────────────────────────────────────────────────────────

t.test('header list over limits.maxHeaderSize on h2 → refused (stream reset), never forwarded', { timeout: 30_000 }, async (t) => {
  const { up, b, port } = await setup(t, { limits: { maxHeaderSize: '2kb' } });
  const s = await h2session(t, port, b.ca);
  await sleep(50); // the client has ACKed baton's SETTINGS (SETTINGS_MAX_HEADER_LIST_SIZE 2048)
  t.equal(s.remoteSettings.maxHeaderListSize, 2048, 'baton advertises the limit');
  const many: Record<string, string> = { ':path': '/many-pairs' };
  for (let i = 0; i < 300; i++) many[`x-h${i}`] = 'b';
  const spread: Record<string, string> = { ':path': '/many-small' };
  for (let i = 0; i < 100; i++) spread[`x-s${i}`] = 'c'.repeat(30);
  for (const [name, headers] of [
    ['one 3,000-byte header', { ':path': '/one-big', 'x-pad': 'a'.repeat(3000) }],
    ['100 headers of 30 bytes', spread],
    ['300 header pairs (over maxHeaderListPairs 256)', many],
  ] as const) {
    const err = await h2request(s, headers).then(
      (r) => ({ status: r.status, rstCode: -1 }),
      (e: { rstCode?: number }) => ({ status: 0, rstCode: e.rstCode ?? -1 }),
    );
    t.ok(err.status === 431 || err.rstCode === H2_ERROR.ENHANCE_YOUR_CALM || err.rstCode === H2_ERROR.REFUSED_STREAM, `${name}: 431 or reset (status ${err.status}, RST ${err.rstCode})`);
  }
  t.equal((await h2request(s, { ':path': '/small', 'x-pad': 'a'.repeat(500) })).status, 200, 'under the limit: forwarded, same session');
  t.same(
    up.arrived.filter((u) => u !== '/other'),
    ['/small'],
    'only the request under the limit reached the upstream',
  );
});

t.test('header list over limits.maxHeaderSize from a client that never ACKs SETTINGS → refused too, never forwarded', { timeout: 30_000 }, async (t) => {
  // nghttp2 applies baton's SETTINGS_MAX_HEADER_LIST_SIZE only once the client has ACKed it; until then its
  // default (64 KiB) holds, so the limit must not depend on the client's ACK
  const { up, port } = await setup(t, { limits: { maxHeaderSize: '2kb' } });
  const r = await rawH2(t, port);
  await sleep(50);
  r.write(frame(FRAME.HEADERS, FLAG.END_STREAM | FLAG.END_HEADERS, 1, Buffer.concat([hpackRequest('GET', '/no-ack-big'), hpackLiteral('x-pad', 'a'.repeat(4000))])));
  await Promise.race([r.whenClosed, sleep(1000)]);
  const rst = r.resets().find(([id]) => id === 1);
  t.comment(`no-ACK client: response HEADERS on ${JSON.stringify(responseStreams(r))}, RST_STREAM ${JSON.stringify(r.resets())}, GOAWAY ${goawayOf(r)?.code ?? 'none'}`);
  t.notOk(up.arrived.includes('/no-ack-big'), 'a 4,000-byte header from a client that has not ACKed SETTINGS is not forwarded either');
  const page = Buffer.concat(r.frames.filter((f) => f.type === FRAME.DATA && f.stream === 1).map((f) => f.payload)).toString();
  t.ok(/^431 /.test(page) || rst !== undefined || r.closed, `the stream is answered 431 by baton, or reset (page ${JSON.stringify(page.slice(0, 40))})`);
  const small = await rawH2(t, port);
  small.write(frame(FRAME.HEADERS, FLAG.END_STREAM | FLAG.END_HEADERS, 1, Buffer.concat([hpackRequest('GET', '/no-ack-small'), hpackLiteral('x-pad', 'a'.repeat(500))])));
  await waitFor(() => up.arrived.includes('/no-ack-small'), 2000, 'a small request from the same kind of client is served');
  t.same(up.arrived, ['/no-ack-small'], 'only the request under the limit reached the upstream');
});

// ── more streams than maxConcurrentStreams ──────────────────────────────────────────────────────────────────

t.test('http2.maxConcurrentStreams 5: extras queued by the client or refused; never more than 5 at the upstream', { timeout: 30_000 }, async (t) => {
  const { up, b, port } = await setup(t, {}, { http2: { maxConcurrentStreams: 5 } });
  const s = await h2session(t, port, b.ca);
  await sleep(50);
  t.equal(s.remoteSettings.maxConcurrentStreams, 5, 'baton advertises 5');
  const started = Date.now();
  const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => h2request(s, { ':path': `/slow-node${i}` })));
  t.same(replies.map((r) => r.status), Array(20).fill(200), 'node:http2 queues the extras: all 20 answered');
  t.ok(Date.now() - started >= 4 * 300 - 50, `in four waves of five (${Date.now() - started} ms)`);
  t.equal(up.maxActive, 5, 'at most 5 ran at once at the upstream');

  // a raw client that ignores the limit, before it ACKs SETTINGS: the extras get REFUSED_STREAM
  up.maxActive = 0;
  const before = up.arrived.length;
  const r = await rawH2(t, port);
  await sleep(50);
  r.write(Buffer.concat(Array.from({ length: 20 }, (_, i) => frame(FRAME.HEADERS, FLAG.END_STREAM | FLAG.END_HEADERS, 1 + 2 * i, hpackRequest('GET', `/slow-raw${i}`)))));
  await Promise.race([r.whenClosed, sleep(1500)]);
  const refused = r.resets().filter(([, code]) => code === H2_ERROR.REFUSED_STREAM).length;
  const g = goawayOf(r);
  t.comment(`raw, not ACKed: ${refused} REFUSED_STREAM, responses on ${JSON.stringify(responseStreams(r))}, GOAWAY ${g?.code ?? 'none'}`);
  t.ok(refused >= 15 || g !== null, `the 15 extras are refused (${refused} REFUSED_STREAM) or the session is closed`);
  t.ok(up.arrived.length - before <= 5, `at most 5 of 20 reached the upstream (${up.arrived.length - before})`);
  t.ok(up.maxActive <= 5, `never more than 5 at once (${up.maxActive})`);
  r.destroy();

  // and after the ACK, exceeding the limit is a connection error (RFC 9113 §5.1.2)
  up.maxActive = 0;
  const before2 = up.arrived.length;
  const r2 = await rawH2(t, port);
  r2.write(frame(FRAME.SETTINGS, FLAG.ACK, 0));
  await sleep(50);
  r2.write(Buffer.concat(Array.from({ length: 20 }, (_, i) => frame(FRAME.HEADERS, FLAG.END_STREAM | FLAG.END_HEADERS, 1 + 2 * i, hpackRequest('GET', `/slow-acked${i}`)))));
  await Promise.race([r2.whenClosed, sleep(1500)]);
  const g2 = goawayOf(r2);
  const refused2 = r2.resets().filter(([, code]) => code === H2_ERROR.REFUSED_STREAM).length;
  t.ok(g2 !== null || refused2 >= 15, `ACKed: refused (${refused2}) or GOAWAY (${g2?.code ?? 'none'})`);
  t.ok(up.arrived.length - before2 <= 5, `at most 5 reached the upstream (${up.arrived.length - before2})`);
  t.ok(up.maxActive <= 5, `never more than 5 at once (${up.maxActive})`);
  await othersServed(t, b, 'after the stream floods');
});

// ── TLS: garbage and stalls before and during the ClientHello ───────────────────────────────────────────────

t.test('TLS port: random garbage is closed promptly; plain HTTP there gets an HTTP answer', { timeout: 30_000 }, async (t) => {
  const { up, plain, b, ep, port } = await setup(t);
  const fd0 = fdCount();
  let closed = 0;
  let http400 = 0;
  let other = '';
  const started = Date.now();
  for (let i = 0; i < 100; i++) {
    const bytes = i % 4 === 0 ? Buffer.concat([Buffer.from([0x16, 0x03, 0x01]), randomBytes(1 + ((i * 53) % 500))]) : randomBytes(1 + ((i * 37) % 700));
    const r = await raw(port, bytes, 3000);
    if (r.closed) closed++;
    if (/^HTTP\/1\.1 400 /.test(r.data)) http400++;
    else if (r.data !== '') other = r.data.slice(0, 40);
  }
  t.equal(closed, 100, `all 100 garbage connections closed by baton (${Date.now() - started} ms in all)`);
  t.equal(other, '', 'each got a 400 or nothing');
  t.comment(`${http400} of 100 got an HTTP 400 (the rest looked like TLS and were just closed)`);

  const hello = await captureClientHello();
  const afterHello = await raw(port, Buffer.concat([hello, randomBytes(200)]), 3000);
  t.ok(afterHello.closed, 'garbage after a complete ClientHello: closed');

  const tlsRoute = await raw(port, 'GET / HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n', 3000);
  t.match(tlsRoute.data, /^HTTP\/1\.1 404 /, 'a plain request for a TLS route on the same port: an HTTP 404');
  const plainRoute = await raw(port, 'GET / HTTP/1.1\r\nHost: plain.test\r\nConnection: close\r\n\r\n', 3000);
  t.match(plainRoute.data, /^HTTP\/1\.1 200 /, 'a plain route on the same port: served');
  t.equal(plain.seen.length, 1);
  t.equal(up.arrived.length, 0, 'nothing reached the TLS route upstream');
  t.equal((await https(port, b.ca)).status, 200, 'TLS clients are served');
  await waitFor(() => ep.connections === 0, 3000, 'baton connections back to 0');
  await fdsBackTo(t, fd0, 'garbage');
});

t.test('TLS: a ClientHello that stalls (half of it, or all of it) is closed at timeouts.header', { timeout: 30_000 }, async (t) => {
  const { b, port } = await setup(t);
  const hello = await captureClientHello();
  t.ok(hello.length > 100 && hello[0] === 0x16, `a real ClientHello (${hello.length} bytes)`);
  for (const [name, bytes] of [
    ['half a ClientHello', hello.subarray(0, hello.length >> 1)],
    ['a TLS record header only', hello.subarray(0, 5)],
    ['a whole ClientHello, then silence', hello],
  ] as const) {
    const started = Date.now();
    const r = await raw(port, bytes, 5000);
    const took = Date.now() - started;
    t.ok(r.closed, `${name}: closed`);
    t.ok(took >= 900 && took < 2500, `${name}: at the 1 s header timeout (${took} ms)`);
  }
  t.equal((await https(port, b.ca)).status, 200, 'baton still serves');
});

t.test('TLS: 200 connections each sending half a ClientHello → all closed at the header timeout; TLS clients unaffected', { timeout: 30_000 }, async (t) => {
  const HEADER_MS = 1000;
  const { up, b, ep, port } = await setup(t);
  const hello = await captureClientHello();
  const half = hello.subarray(0, hello.length >> 1);
  const fd0 = fdCount();
  const conns: Array<{ s: Socket; openedAt: number; closedAt: number }> = [];
  t.teardown(() => {
    for (const c of conns) c.s.destroy();
  });
  for (let i = 0; i < 200; i += 50) {
    const batch = await Promise.all(
      Array.from(
        { length: 50 },
        () =>
          new Promise<Socket>((resolve, reject) => {
            const s = netConnect(port, '127.0.0.1');
            s.once('connect', () => resolve(s));
            s.once('error', reject);
          }),
      ),
    );
    for (const s of batch) {
      const c = { s, openedAt: Date.now(), closedAt: 0 };
      s.on('error', () => {});
      s.on('close', () => (c.closedAt = Date.now()));
      s.resume();
      s.write(half);
      conns.push(c);
    }
  }
  const attackStarted = Date.now();
  await waitFor(() => ep.connections === 200 || conns.some((c) => c.closedAt !== 0), 2000, 'baton accepted them all');
  t.equal(ep.connections, 200, 'baton holds the 200 stalled connections');
  t.ok(fdCount() >= fd0 + 400, `each costs two descriptors here, client and baton (${fdCount() - fd0} more)`);
  let ok = 0;
  let slowOrFailed = 0;
  while (Date.now() < attackStarted + HEADER_MS + 3000 && conns.some((c) => c.closedAt === 0)) {
    const started = Date.now();
    try {
      const r = await https(port, b.ca, { path: '/during' });
      if (r.status === 200 && Date.now() - started < 1000) ok++;
      else slowOrFailed++;
    } catch {
      slowOrFailed++;
    }
    await sleep(50);
  }
  const open = conns.filter((c) => c.closedAt === 0).length;
  t.equal(open, 0, 'every stalled connection was closed');
  const lifetimes = conns.map((c) => c.closedAt - c.openedAt);
  t.equal(lifetimes.filter((ms) => ms < HEADER_MS - 100).length, 0, 'none before the header timeout');
  t.ok(Math.max(...lifetimes) < HEADER_MS + 2000, `the last closed ${Math.max(...lifetimes)} ms after it opened`);
  t.ok(ok >= 3, `TLS clients were served meanwhile (${ok})`);
  t.equal(slowOrFailed, 0, 'none failed or took over a second');
  t.ok(up.arrived.every((u) => u === '/during'), 'nothing else reached the upstream');
  await waitFor(() => ep.connections === 0, 3000, 'baton connections back to 0');
  await fdsBackTo(t, fd0, '200 half ClientHellos');
});

// ── h2c is never offered ────────────────────────────────────────────────────────────────────────────────────

t.test('h2c is never offered: prior knowledge and Upgrade: h2c on the plain port, h2 preface over TLS http/1.1', { timeout: 30_000 }, async (t) => {
  const { up, plain, port } = await setup(t);
  const notH2 = (data: string) => !data.startsWith('\x00') && !data.includes('PRI * HTTP/2.0');
  const prior = await raw(port, Buffer.concat([PREFACE, settingsFrame()]), 3000);
  t.match(prior.data, /^HTTP\/1\.1 400 /, 'prior-knowledge preface on the plain port: 400');
  t.ok(prior.closed && notH2(prior.data), 'closed, no h2 frames');
  const upgrade = await raw(
    port,
    'GET / HTTP/1.1\r\nHost: plain.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n',
    3000,
  );
  t.match(upgrade.data, /^HTTP\/1\.1 400 /, 'Upgrade: h2c with Connection: Upgrade → 400');
  t.notMatch(upgrade.data, /101 Switching/);
  const bare = await raw(
    port,
    'GET /bare HTTP/1.1\r\nHost: plain.test\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nConnection: close\r\n\r\n',
    3000,
  );
  t.match(bare.data, /^HTTP\/1\.1 200 /, 'Upgrade: h2c without Connection: Upgrade is a plain request');
  t.notMatch(bare.data, /101 Switching|upgrade: h2c/i, 'never switched');
  const seen = plain.seen.find((s) => s.url === '/bare');
  t.equal(seen?.headers.upgrade, undefined, 'Upgrade not forwarded');
  t.equal(seen?.headers['http2-settings'], undefined, 'HTTP2-Settings not forwarded');

  // over TLS: ALPN http/1.1 (or none), then the h2 preface → HTTP/1.1 400
  for (const alpn of [['http/1.1'], undefined, ['h2c']]) {
    const got = await new Promise<{ alpn: string | false | null; data: string; error: string }>((resolve) => {
      const s = tlsConnect({ port, host: '127.0.0.1', servername: 'app.test', rejectUnauthorized: false, ...(alpn ? { ALPNProtocols: alpn } : {}) });
      let data = '';
      let negotiated: string | false | null = null;
      const timer = setTimeout(() => s.destroy(), 3000);
      s.on('data', (d: Buffer) => (data += d.toString('latin1')));
      s.on('error', (e) => resolve({ alpn: negotiated, data, error: e.message }));
      s.on('close', () => {
        clearTimeout(timer);
        resolve({ alpn: negotiated, data, error: '' });
      });
      s.on('secureConnect', () => {
        negotiated = s.alpnProtocol;
        s.write(Buffer.concat([PREFACE, settingsFrame()]));
      });
    });
    const label = `TLS with ALPN ${JSON.stringify(alpn ?? 'none')}`;
    t.not(got.alpn, 'h2', `${label}: h2 not negotiated`);
    t.not(got.alpn, 'h2c', `${label}: h2c never negotiated`);
    t.ok(got.error !== '' || /^HTTP\/1\.1 400 /.test(got.data), `${label}: the preface gets an HTTP/1.1 400 (or the handshake fails: ${got.error || 'no'})`);
  }
  t.equal(up.arrived.length, 0, 'nothing reached the TLS upstream');
});

