// compress and buffering end to end, configured through YAML in front of a real upstream: each coding decoded by
// `curl --compressed` and by node:zlib, small / already-encoded / excluded / SSE responses left alone, a large
// streamed body compressed with bounded memory (backpressure reaches the upstream), buffering's limits (413, 500)
// and retryExpression within baton's safe-retry rules.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { request, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import t from 'tap';
import { testsNeeding } from './fixtures/tools.ts';
import { parse } from 'yaml';
import { closedPort, http, startBaton, startUpstream, waitFor, type TestUpstream } from './fixtures/harness.ts';

const test = testsNeeding(t, ['curl']);

const run = promisify(execFile);
const TEXT = 'baton compresses this line of text, as Traefik does. ';
const text = (n: number) => TEXT.repeat(Math.ceil(n / TEXT.length)).slice(0, n);

/** The upstream: what each path answers. */
function site(up: { written: number }) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url!, 'http://x');
    const n = Number(url.searchParams.get('n') ?? '5000');
    const type = url.searchParams.get('type') ?? 'text/plain; charset=utf-8';
    switch (url.pathname) {
      case '/text': // known length
        res.writeHead(200, { 'content-type': type, 'content-length': String(n), vary: 'Origin' });
        return res.end(text(n));
      case '/chunked': // unknown length (chunked), in one write
        res.writeHead(200, { 'content-type': type });
        return res.end(text(n));
      case '/encoded': {
        const gz = zlib.gzipSync(text(n));
        res.writeHead(200, { 'content-type': type, 'content-encoding': 'gzip', 'content-length': gz.length });
        return res.end(gz);
      }
      case '/partial':
        res.writeHead(206, { 'content-type': type, 'content-range': `bytes 0-${n - 1}/99999`, 'content-length': n });
        return res.end(text(n));
      case '/sse':
      case '/slow': // a first event, the rest 300 ms later
        res.writeHead(200, { 'content-type': url.pathname === '/sse' ? 'text/event-stream' : 'text/plain' });
        res.write('data: first\n\n');
        return setTimeout(() => res.end(`data: ${text(3000)}\n\n`), 300);
      case '/big': {
        // random base64 (gzip's 32 KiB window sees no repeats), written as fast as the proxy takes it
        const block = randomBytes(6 * 1024 * 1024).toString('base64');
        res.writeHead(200, { 'content-type': 'text/plain' });
        let off = 0;
        const pump = () => {
          while (up.written < 512 * 1024 * 1024 && !res.destroyed) {
            const chunk = block.slice(off, off + 65536);
            off = (off + 65536) % (block.length - 65536);
            up.written += chunk.length;
            if (!res.write(chunk)) return void res.once('drain', pump);
          }
          res.end();
        };
        return pump();
      }
    }
    res.writeHead(404).end();
  };
}

interface Got {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}
/** One request, the body as sent (never decoded). */
function get(
  port: number,
  path: string,
  headers: Record<string, string> = {},
  method = 'GET',
  body?: string,
): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers: { host: 'app.test', ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

const DECODE = { gzip: zlib.gunzipSync, br: zlib.brotliDecompressSync, zstd: zlib.zstdDecompressSync } as const;
const CODINGS = ['gzip', 'br', 'zstd'] as const;

async function baton(t: Tap, yaml: string, up: TestUpstream) {
  return startBaton(t, parse(yaml.replaceAll('UPSTREAM', up.url)) as Record<string, unknown>);
}
type Tap = Parameters<typeof startUpstream>[0];

const COMPRESS = `
middlewares:
  squeeze: { compress: {} }
  images: { compress: { excludedContentTypes: [image/png], encodings: [zstd, br, gzip] } }
services:
  app: { rule: "Host(\`app.test\`)", upstreams: [UPSTREAM], middlewares: [squeeze] }
  img: { rule: "Host(\`img.test\`)", upstreams: [UPSTREAM], middlewares: [images] }
`;

test('compress: each coding, decoded by curl --compressed and by node:zlib', async (t) => {
  const up = { written: 0 };
  const u = await startUpstream(t, 'up', site(up));
  const { port } = await baton(t, COMPRESS, u);
  const { stdout: version } = await run('curl', ['-V']);
  t.match(version, /brotli/i, 'curl decodes br');
  t.match(version, /zstd/i, 'curl decodes zstd');
  for (const coding of CODINGS) {
    for (const path of ['/text?n=20000', '/chunked?n=20000']) {
      const r = await get(port, path, { 'accept-encoding': coding });
      t.equal(r.status, 200);
      t.equal(r.headers['content-encoding'], coding, `${path}: ${coding}`);
      t.equal(r.headers['content-length'], undefined, 'no Content-Length of the uncompressed body');
      t.equal(r.headers.vary, path.startsWith('/text') ? 'Origin, Accept-Encoding' : 'Accept-Encoding', 'Vary');
      t.ok(DECODE[coding](r.body).toString() === text(20000), `node:zlib decodes ${coding}`);
      t.ok(r.body.length < 2000, `compressed: ${r.body.length} bytes`);
      const { stdout } = await run('curl', [
        '-sS',
        '--compressed',
        '-H',
        'Host: app.test',
        '-H',
        `Accept-Encoding: ${coding}`,
        '-w',
        '##meta##%{header_json}',
        `http://127.0.0.1:${port}${path}`,
      ]);
      const [body, meta] = stdout.split('##meta##');
      t.ok(body === text(20000), `curl --compressed decodes ${coding} ${path}`);
      t.match(JSON.parse(meta), { 'content-encoding': [coding] }, 'curl got it encoded');
    }
  }
  // curl's own Accept-Encoding (deflate, gzip, br, zstd): the server's order picks gzip; img's order zstd
  const plain = await run('curl', [
    '-sS',
    '--compressed',
    '-D',
    '-',
    '-H',
    'Host: app.test',
    `http://127.0.0.1:${port}/text`,
  ]);
  t.match(plain.stdout, /content-encoding: gzip/i);
  t.ok(plain.stdout.endsWith(text(5000)));
  const img = await get(port, '/text', { host: 'img.test', 'accept-encoding': 'gzip, deflate, br, zstd' });
  t.equal(img.headers['content-encoding'], 'zstd');
  t.equal(DECODE.zstd(img.body).toString(), text(5000));
});

test('compress: what is left alone', async (t) => {
  const up = { written: 0 };
  const u = await startUpstream(t, 'up', site(up));
  const { port } = await baton(t, COMPRESS, u);
  const gz = { 'accept-encoding': 'gzip, br' };
  const cases: Array<[string, Record<string, string>, string, string | undefined]> = [
    ['/text?n=1023', gz, 'known length under minResponseBodyBytes', 'Origin'],
    // unknown length: Vary is set before the body shows whether it is long enough
    ['/chunked?n=1000', gz, 'unknown length, ends under minResponseBodyBytes', 'Accept-Encoding'],
    ['/text', {}, 'no Accept-Encoding (Traefik: no compression)', 'Origin, Accept-Encoding'],
    ['/text', { 'accept-encoding': '' }, 'empty Accept-Encoding', 'Origin, Accept-Encoding'],
    ['/text', { 'accept-encoding': 'identity, gzip;q=0.5' }, 'identity preferred', 'Origin, Accept-Encoding'],
    ['/text', { 'accept-encoding': 'gzip;q=0, deflate' }, 'nothing acceptable', 'Origin, Accept-Encoding'],
    ['/text?type=application/grpc', gz, 'application/grpc', 'Origin'],
    ['/text', { ...gz, 'content-type': 'application/grpc' }, 'a gRPC request', 'Origin'],
    ['/partial?n=2000', gz, 'a 206 range', undefined],
  ];
  for (const [path, headers, what, vary] of cases) {
    const r = await get(port, path, headers, headers['content-type'] ? 'POST' : 'GET', headers['content-type'] && 'x');
    t.equal(r.headers['content-encoding'], undefined, `${what}: not encoded`);
    t.equal(r.body.toString(), text(Number(new URL(path, 'http://x').searchParams.get('n') ?? 5000)), what);
    t.equal(r.headers.vary, vary, `${what}: Vary`);
  }
  const png = await get(port, '/text?type=image/png', { host: 'img.test', ...gz });
  t.equal(png.headers['content-encoding'], undefined, 'excludedContentTypes');
  const head = await get(port, '/text', gz, 'HEAD');
  t.equal(head.headers['content-encoding'], undefined, 'HEAD: left alone');
  t.equal(head.headers['content-length'], '5000');
  const enc = await get(port, '/encoded', { 'accept-encoding': 'br, gzip' });
  t.equal(enc.headers['content-encoding'], 'gzip', 'already encoded: the upstream coding, once');
  t.equal(zlib.gunzipSync(enc.body).toString(), text(5000), 'the upstream bytes, untouched');
  t.equal(enc.headers['content-length'], String(enc.body.length));
});

test('compress: streamed responses reach the client as they come; SSE is not compressed', async (t) => {
  const up = { written: 0 };
  const u = await startUpstream(t, 'up', site(up));
  const { port } = await baton(t, COMPRESS, u);
  for (const [path, coding] of [
    ['/slow', 'gzip'],
    ['/sse', undefined],
  ] as const) {
    const first = await new Promise<{ at: number; text: string; enc: string | undefined }>((resolve, reject) => {
      const started = performance.now();
      const req = request({ port, path, headers: { host: 'app.test', 'accept-encoding': 'gzip' } }, (res) => {
        const enc = res.headers['content-encoding'];
        const decoded = enc === 'gzip' ? res.pipe(zlib.createGunzip()) : res;
        decoded.once('data', (d: Buffer) => {
          resolve({ at: performance.now() - started, text: d.toString(), enc });
          req.destroy();
        });
      });
      req.on('error', reject);
      req.end();
    });
    t.equal(first.enc, coding, `${path}: Content-Encoding ${coding}`);
    t.equal(first.text, 'data: first\n\n', `${path}: the first event on its own`);
    t.ok(first.at < 250, `${path}: before the rest was sent (${first.at.toFixed(0)} ms)`);
  }
});

test('compress: a large streamed body with bounded memory (backpressure reaches the upstream)', async (t) => {
  const up = { written: 0 };
  const u = await startUpstream(t, 'up', site(up));
  const { port } = await baton(t, COMPRESS, u);
  const gunzip = zlib.createGunzip();
  let decoded = 0;
  gunzip.on('data', (d: Buffer) => (decoded += d.length));
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = request({ port, path: '/big', headers: { host: 'app.test', 'accept-encoding': 'gzip' } }, resolve);
    req.on('error', reject);
    req.end();
  });
  t.teardown(() => res.destroy());
  t.equal(res.headers['content-encoding'], 'gzip');
  res.pipe(gunzip);
  await waitFor(() => decoded > 4 * 1024 * 1024, 10_000, '4 MiB decoded');
  res.unpipe(gunzip);
  res.pause();
  // the client stops reading: the upstream must stop writing, with what is in flight bounded
  let last = -1;
  await waitFor(
    async () => {
      const now = up.written;
      await new Promise((r) => setTimeout(r, 300));
      const stalled = now === last && up.written === now;
      last = up.written;
      return stalled;
    },
    15_000,
    'the upstream stalled',
  );
  const inFlight = up.written - decoded;
  t.ok(inFlight < 64 * 1024 * 1024, `held between upstream and client: ${(inFlight / 1048576).toFixed(1)} MiB`);
  t.ok(up.written < 512 * 1024 * 1024, 'the upstream did not write the whole body');
  // reading again resumes the flow
  const before = up.written;
  res.pipe(gunzip);
  await waitFor(() => up.written > before + 8 * 1024 * 1024, 10_000, 'the upstream resumed');
  t.pass('resumed');
});

const BUFFERING = `
middlewares:
  buf: { buffering: { maxRequestBodyBytes: 1000, maxresponsebodybytes: 4000, memRequestBodyBytes: 100 } }
  both: { chain: { middlewares: [squeeze, buf] } }
  squeeze: { compress: {} }
services:
  app: { rule: "Host(\`app.test\`)", upstreams: [UPSTREAM], middlewares: [buf] }
  zip: { rule: "Host(\`zip.test\`)", upstreams: [UPSTREAM], middlewares: [both] }
`;

test('buffering: request bodies over maxRequestBodyBytes get 413; the upstream gets a whole body', async (t) => {
  const up = { written: 0 };
  const u = await startUpstream(t, 'up', site(up));
  const { port } = await baton(t, BUFFERING, u);
  const big = await http(port, { method: 'POST', path: '/text?n=10', body: 'x'.repeat(1001) });
  t.equal(big.status, 413, 'declared length over the limit');
  async function* chunked(n: number) {
    for (let i = 0; i < n; i++) yield Buffer.from('y'.repeat(100));
  }
  const streamed = await http(port, { method: 'POST', path: '/text?n=10', body: chunked(11) as never });
  t.equal(streamed.status, 413, 'chunked body over the limit');
  const ok = await http(port, { method: 'POST', path: '/text?n=10', body: chunked(10) as never });
  t.equal(ok.status, 200);
  const seen = u.seen.at(-1)!;
  t.equal(seen.body.length, 1000, 'the whole body');
  t.equal(seen.headers['content-length'], '1000', 'sent with its length');
  t.equal(seen.headers['transfer-encoding'], undefined, 'not chunked');
  t.equal(u.seen.filter((s) => s.method === 'POST').length, 1, 'the refused bodies never reached the upstream');
});

test('buffering: responses over maxResponseBodyBytes get 500 before anything is sent', async (t) => {
  const up = { written: 0 };
  const u = await startUpstream(t, 'up', site(up));
  const { port } = await baton(t, BUFFERING, u);
  for (const path of ['/text?n=4001', '/chunked?n=4002']) {
    const r = await get(port, path);
    t.equal(r.status, 500, path);
    t.equal(r.headers['x-baton-error'], 'middleware_body', path);
    t.notMatch(r.body.toString(), TEXT, 'none of the body');
  }
  for (const path of ['/text?n=4000', '/chunked?n=4000']) {
    const r = await get(port, path);
    t.equal(r.status, 200, path);
    t.equal(r.body.toString(), text(4000));
  }
});

// needs the runtime to compose body transforms (res.transformBody on a response that has one already)
test('buffering behind compress: held, limited, then compressed', async (t) => {
  const up = { written: 0 };
  const u = await startUpstream(t, 'up', site(up));
  const { port } = await baton(t, BUFFERING, u);
  const z = await get(port, '/chunked?n=4000', { host: 'zip.test', 'accept-encoding': 'br' });
  t.equal(z.headers['content-encoding'], 'br');
  t.ok(zlib.brotliDecompressSync(z.body).toString() === text(4000), 'decodes to the body');
  t.equal((await get(port, '/text?n=4001', { host: 'zip.test', 'accept-encoding': 'br' })).status, 500);
});

test('buffering: retryExpression replays failed attempts, never unsafe ones', async (t) => {
  const dead = await Promise.all([closedPort(), closedPort()]);
  const up = { written: 0 };
  const u = await startUpstream(t, 'up', site(up));
  const upstreams = [...dead.map((p) => `http://127.0.0.1:${p}`), u.url];
  const svc = (mw: string) => ({ rule: `Host(\`${mw}.test\`)`, upstreams, retries: 0, passive: { failures: 0 } });
  const { port, app } = await startBaton(t, {
    middlewares: {
      three: { buffering: { retryExpression: 'IsNetworkError() && Attempts() < 3' } },
      two: { buffering: { retryExpression: 'IsNetworkError() && Attempts() <= 1' } },
    },
    services: {
      three: { ...svc('three'), middlewares: ['three'] },
      two: { ...svc('two'), middlewares: ['two'] },
      none: svc('none'),
    },
  });
  const r3 = await http(port, { host: 'three.test', method: 'POST', path: '/text?n=10', body: 'order' });
  t.equal(r3.status, 200, 'a POST that never reached an upstream: replayed twice, the third attempt answered');
  t.equal(u.seen.at(-1)!.body, 'order', 'with its buffered body');
  t.equal(app.registry.services.get('three')!.retries, 2);
  const r2 = await http(port, { host: 'two.test', path: '/text?n=10' });
  t.equal(r2.status, 502, 'Attempts() <= 1: one replay, both upstreams dead');
  t.equal(app.registry.services.get('two')!.retries, 1);
  const r0 = await http(port, { host: 'none.test', path: '/text?n=10' });
  t.equal(r0.status, 502, 'without the middleware: retries 0');
});

test('buffering: retryExpression never replays what may have reached the upstream unsafely', async (t) => {
  // the first upstream reads the request, then drops the connection without answering
  const closer = await startUpstream(t, 'closer', (req) => req.socket.destroy());
  const up = { written: 0 };
  const alive = await startUpstream(t, 'alive', site(up));
  const { port } = await startBaton(t, {
    middlewares: { buf: { buffering: { retryExpression: 'IsNetworkError() && Attempts() < 3' } } },
    services: {
      app: {
        rule: 'Host(`app.test`)',
        upstreams: [closer.url, alive.url],
        retries: 0,
        passive: { failures: 0 },
        middlewares: ['buf'],
      },
    },
  });
  const post = await http(port, { method: 'POST', path: '/text?n=10', body: 'charge the card' });
  t.equal(post.status, 502, 'a POST the upstream received is not replayed, buffered or not');
  t.equal((await http(port, { path: '/text?n=10' })).status, 200); // round-robin: alive
  const g = await http(port, { path: '/text?n=10&again' }); // closer drops it: an idempotent GET is replayed
  t.equal(g.status, 200, 'the GET is replayed on the other upstream');
  t.same(
    closer.seen.map((s) => s.method),
    ['POST', 'GET'],
  );
  t.same(
    alive.seen.map((s) => s.method),
    ['GET', 'GET'],
    'the POST never reached the other upstream',
  );
});
