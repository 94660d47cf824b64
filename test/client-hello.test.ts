// ClientHello reader: real hellos captured from Node, openssl and curl, every prefix, re-fragmentation over records,
// hostile length fields and extensions, and a seeded fuzz loop.
import { spawn } from 'node:child_process';
import net from 'node:net';
import tls from 'node:tls';
import t from 'tap';
import { MAX_CLIENT_HELLO_BYTES, readClientHello, type HelloResult } from '../src/tls/client-hello.ts';

/** Seeded PRNG (mulberry32): the same buffers on every run. */
function prng(seed: number): (n: number) => number {
  return (n) => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), seed | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return (((x ^ (x >>> 14)) >>> 0) % n) | 0;
  };
}

/** Listens on 127.0.0.1:0, runs client(port), returns the first connection's bytes once the hello is complete. */
async function capture(client: (port: number) => () => void): Promise<Buffer> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  let stop = (): void => {};
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no complete ClientHello within 5 s')), 5000);
      server.once('connection', (socket) => {
        let buf = Buffer.alloc(0);
        socket.on('error', () => {});
        socket.on('data', (chunk: Buffer) => {
          buf = Buffer.concat([buf, chunk]);
          if (readClientHello(buf).kind === 'need-more') return;
          clearTimeout(timer);
          socket.destroy();
          resolve(buf);
        });
      });
      stop = client(port);
    });
  } finally {
    stop();
    server.close();
  }
}

function nodeClient(options: tls.ConnectionOptions): (port: number) => () => void {
  return (port) => {
    const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...options });
    socket.on('error', () => {});
    return () => socket.destroy();
  };
}

function child(cmd: string, args: (port: number) => string[]): (port: number) => () => void {
  return (port) => {
    const proc = spawn(cmd, args(port), { stdio: ['pipe', 'ignore', 'ignore'], timeout: 5000 });
    proc.on('error', () => {});
    return () => proc.kill();
  };
}

/** The handshake message carried by the records at the start of buf. */
function unrecord(buf: Buffer): Buffer {
  const out: Buffer[] = [];
  for (let p = 0; p + 5 <= buf.length;) {
    const end = p + 5 + buf.readUInt16BE(p + 3);
    out.push(buf.subarray(p + 5, end));
    p = end;
  }
  const hs = Buffer.concat(out);
  return hs.subarray(0, 4 + hs.readUIntBE(1, 3));
}

/** Handshake bytes as records, split at the given offsets (ascending, inside hs). */
function records(hs: Buffer, splits: number[] = [], version = 0x0301): Buffer {
  const cuts = [0, ...splits, hs.length];
  const out: Buffer[] = [];
  for (let i = 0; i + 1 < cuts.length; i++) {
    const head = Buffer.from([22, version >> 8, version & 0xff, 0, 0]);
    head.writeUInt16BE(cuts[i + 1] - cuts[i], 3);
    out.push(head, hs.subarray(cuts[i], cuts[i + 1]));
  }
  return Buffer.concat(out);
}

/** A length-prefixed vector: n-byte length (plus delta, for hostile cases), then the data. */
function vec(n: number, data: Buffer, delta = 0): Buffer {
  const head = Buffer.alloc(n);
  head.writeUIntBE((data.length + delta) & (2 ** (8 * n) - 1), 0, n);
  return Buffer.concat([head, data]);
}

const H = ['h2', 'http/1.1'];
const A = ['acme-tls/1'];
const u16 = (...v: number[]): Buffer => Buffer.from(v.flatMap((x) => [x >> 8, x & 0xff]));
const ext = (type: number, data: Buffer, delta = 0): Buffer => Buffer.concat([u16(type), vec(2, data, delta)]);

const FIELDS = ['session', 'suites', 'compression', 'exts', 'sni', 'sniList', 'sniName'] as const;
const MORE = ['alpn', 'alpnList', 'alpnEntry', 'versions', 'versionsList'] as const;
type Field = 'hs' | (typeof FIELDS)[number] | (typeof MORE)[number];
type Synth = { d?: Partial<Record<Field, number>>; names?: string[]; alpn?: string[]; exts?: Buffer[] | null };

/** A synthetic ClientHello handshake message; d adds a delta to any one length field. */
function synth({ d = {}, names = ['shop.test'], alpn = ['h2', 'http/1.1'], exts }: Synth = {}): Buffer {
  const sniEntries = Buffer.concat(names.map((n) => Buffer.concat([Buffer.from([0]), vec(2, b(n), d.sniName)])));
  const alpnList = Buffer.concat(alpn.map((p) => vec(1, b(p), d.alpnEntry)));
  const list =
    exts === undefined
      ? [
          ext(0, vec(2, sniEntries, d.sniList), d.sni),
          ext(16, vec(2, alpnList, d.alpnList), d.alpn),
          ext(43, vec(1, u16(0x0304, 0x0303), d.versionsList), d.versions),
        ]
      : exts;
  const body = Buffer.concat([
    u16(0x0303),
    Buffer.alloc(32, 7),
    vec(1, Buffer.alloc(32, 0xaa), d.session),
    vec(2, u16(0x1301, 0x1302), d.suites),
    vec(1, Buffer.from([0]), d.compression),
    list === null ? Buffer.alloc(0) : vec(2, Buffer.concat(list), d.exts),
  ]);
  return handshake(body, d.hs);
}

const handshake = (body: Buffer, delta = 0): Buffer => Buffer.concat([Buffer.from([1]), vec(3, body, delta)]);

/** A server_name extension with one host_name entry. */
function sni(name: string): Buffer {
  return ext(0, vec(2, Buffer.concat([Buffer.from([0]), vec(2, b(name))])));
}

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

/** The result without the fields a case does not care about. */
function brief(r: HelloResult): object {
  return r.kind === 'hello' ? { kind: r.kind, serverName: r.serverName, alpn: r.alpn } : { kind: r.kind };
}

const curlArgs = (p: number) => [
  '-ksm',
  '2',
  '--http2',
  `https://shop.test:${p}/`,
  '--resolve',
  `shop.test:${p}:127.0.0.1`,
];
const opensslArgs = (p: number) => ['s_client', '-connect', `127.0.0.1:${p}`, '-servername', 'x.test', '-alpn', 'h2'];
const real: Array<[string, (port: number) => () => void, string | null, string[]]> = [
  ['node h2', nodeClient({ servername: 'shop.example.com', ALPNProtocols: ['h2', 'http/1.1'] }), 'shop.example.com', H],
  ['node acme', nodeClient({ servername: 'Acme.Example.com', ALPNProtocols: ['acme-tls/1'] }), 'acme.example.com', A],
  ['node no sni', nodeClient({}), null, []],
  ['openssl', child('openssl', opensslArgs), 'x.test', ['h2']],
  ['curl', child('curl', curlArgs), 'shop.test', H],
];

const captured: Buffer[] = []; // the real hellos, reused as fuzz seeds

t.test('real ClientHellos: result, every prefix, re-fragmented over records', async (t) => {
  const rand = prng(1);
  for (const [name, client, serverName, alpn] of real) {
    const buf = await capture(client);
    captured.push(buf);
    const r = readClientHello(buf);
    t.same(brief(r), { kind: 'hello', serverName, alpn }, `${name}: ${buf.length} bytes`);
    if (r.kind === 'hello') t.ok(r.supportedVersions.includes(0x0304), `${name}: offers TLS 1.3`);
    if (name === 'node h2' && /^3\.[5-9]/.test(process.versions.openssl)) {
      t.ok(buf.length > 1400, `${name}: post-quantum key share makes a large hello (${buf.length} bytes)`);
    }
    const bad = [];
    for (let n = 0; n < buf.length; n++) if (readClientHello(buf.subarray(0, n)).kind !== 'need-more') bad.push(n);
    t.same(bad, [], `${name}: every proper prefix is need-more`);
    t.same(readClientHello(buf, buf.length - 1), { kind: 'invalid', reason: 'too large' }, `${name}: over maxBytes`);
    const hs = unrecord(buf);
    for (let i = 0; i < 20; i++) {
      const count = 1 + rand(4);
      const splits = [...new Set(Array.from({ length: count }, () => 1 + rand(i < 5 ? 6 : hs.length - 1)))];
      splits.sort((x, y) => x - y);
      const again = records(hs, splits, i % 2 ? 0x0303 : 0x0301);
      t.same(readClientHello(again), r, `${name}: ${splits.length + 1} records split at ${splits}`);
      const wrong = [];
      for (let n = 0; n < again.length; n++) {
        if (readClientHello(again.subarray(0, n)).kind !== 'need-more') wrong.push(n);
      }
      if (wrong.length) t.same(wrong, [], `${name}: prefixes of the re-fragmented hello`);
    }
  }
});

t.test('synthetic hellos and names', async (t) => {
  const hello = (names: string[], alpn = ['h2']) => brief(readClientHello(records(synth({ names, alpn }))));
  t.same(hello(['Shop.Example.COM.']), { kind: 'hello', serverName: 'shop.example.com', alpn: ['h2'] });
  t.same(hello(['my_host-1.test']), { kind: 'hello', serverName: 'my_host-1.test', alpn: ['h2'] });
  t.same(hello(['127.0.0.1']), { kind: 'hello', serverName: null, alpn: ['h2'] }, 'IPv4 literal: no SNI');
  t.same(hello(['a'.repeat(253)]), { kind: 'hello', serverName: 'a'.repeat(253), alpn: ['h2'] });
  t.same(hello(['a'.repeat(253) + '.']), { kind: 'hello', serverName: 'a'.repeat(253), alpn: ['h2'] });
  t.same(hello(['x.test'], ['acme-tls/1']), { kind: 'hello', serverName: 'x.test', alpn: ['acme-tls/1'] });
  const other = Buffer.concat([Buffer.from([1]), vec(2, b('opaque')), Buffer.from([0]), vec(2, b('x.test'))]);
  const mixed = synth({ exts: [ext(0, vec(2, other))] });
  t.same(brief(readClientHello(records(mixed))), { kind: 'hello', serverName: 'x.test', alpn: [] }, 'other name type');
  const bare = readClientHello(records(synth({ exts: null })));
  t.same(bare, { kind: 'hello', serverName: null, alpn: [], legacyVersion: 0x0303, supportedVersions: [] });
  const big = synth({ exts: [ext(21, Buffer.alloc(20000))] });
  const fragmented = records(big, [16384]);
  t.same(readClientHello(fragmented), { kind: 'invalid', reason: 'too large' }, '20 KB hello over the default limit');
  t.equal(readClientHello(fragmented, 40000).kind, 'hello', '20 KB hello in 2 records under a raised limit');
  const early = Buffer.concat([records(synth()), Buffer.from([23, 3, 3, 0, 2, 9, 9])]);
  t.equal(readClientHello(early).kind, 'hello', 'bytes after the hello are ignored');
  t.ok(MAX_CLIENT_HELLO_BYTES >= 16 * 1024);
});

const BAD_NAMES = ['', '.', '.a.test', 'a..test', 'a.test..', 'a b.test', 'a\x00.test', 'ü.test', '[::1]'];

t.test('hostile inputs', async (t) => {
  const hs = synth();
  const rec = records(hs);
  const withByte = (buf: Buffer, at: number, v: number) => Buffer.from(buf).fill(v, at, at + 1);
  const cases: Array<[string, Buffer, string]> = [
    ['empty', Buffer.alloc(0), 'need-more'],
    ['partial header 1', Buffer.from([22]), 'need-more'],
    ['partial header 4', Buffer.from([22, 3, 1, 0]), 'need-more'],
    ['plain HTTP', b('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), 'not-tls'],
    ['SSLv2 hello', Buffer.from([0x80, 0x2e, 1, 3, 1, 0, 0x15]), 'not-tls'],
    ['application data record', withByte(rec, 0, 23), 'not-tls'],
    ['record version 2', withByte(rec, 1, 2), 'invalid: record version'],
    ['record length 0', Buffer.from([22, 3, 1, 0, 0]), 'invalid'],
    ['record length 2^14+1', Buffer.from([22, 3, 1, 0x40, 1]), 'invalid: record length'],
    ['record length 0xffff', Buffer.from([22, 3, 1, 0xff, 0xff]), 'invalid'],
    ['second record of another type', withByte(records(hs, [10]), 15, 21), 'invalid: record type'],
    ['handshake type 2', withByte(rec, 5, 2), 'invalid: handshake type'],
    ['handshake too short', records(Buffer.from([1, 0, 0, 3, 3, 3, 0])), 'invalid'],
    ['client version 2.0', withByte(rec, 9, 2), 'invalid'],
    ['record length +1', records(hs).fill(hs.length + 1, 4, 5), 'invalid: data after hello'],
    ['record length -1', records(hs).fill(hs.length - 1, 4, 5), 'invalid'],
    ['handshake length +1', records(synth({ d: { hs: 1 } })).subarray(0, 5 + hs.length), 'need-more'],
    ['handshake length 2^24-1', records(synth({ d: { hs: 0xffffff - hs.length + 4 } })), 'invalid: too large'],
    ['truncated extensions', records(handshake(hs.subarray(4, -3))), 'invalid'],
    ['duplicate SNI', records(synth({ exts: [sni('a.test'), sni('a.test')] })), 'invalid: duplicate extension'],
    ['two host names', records(synth({ names: ['a.test', 'b.test'] })), 'invalid: several host names'],
    ['empty SNI list', records(synth({ names: [] })), 'invalid'],
    ['empty SNI extension', records(synth({ exts: [ext(0, Buffer.alloc(0))] })), 'invalid'],
    ['empty ALPN entry', records(synth({ alpn: ['h2', ''] })), 'invalid: alpn entry length'],
    ['empty ALPN list', records(synth({ alpn: [] })), 'invalid'],
    ['pre_shared_key not last', records(synth({ exts: [ext(41, Buffer.alloc(4)), sni('a.test')] })), 'invalid: pre'],
    ['junk after extensions', records(handshake(Buffer.concat([hs.subarray(4), Buffer.alloc(1)]))), 'invalid'],
  ];
  for (const bad of [...BAD_NAMES, 'a'.repeat(254)]) {
    cases.push([
      `host name ${JSON.stringify(bad)}`,
      records(synth({ names: [bad] })),
      bad ? 'invalid: bad host name' : 'invalid',
    ]);
  }
  for (const field of [...FIELDS, ...MORE]) {
    for (const delta of [-1, 1, 2, 200]) {
      const mutated = synth({ d: { [field]: delta } }); // the outer lengths stay right
      cases.push([`${field} length ${delta > 0 ? '+' : ''}${delta}`, records(mutated), 'invalid']);
    }
  }
  for (const [name, buf, want] of cases) {
    const r = readClientHello(buf);
    const got = r.kind === 'invalid' ? `invalid: ${r.reason}` : r.kind;
    t.ok(got.startsWith(want), `${name}: ${got}`); // want is the kind, or a prefix of 'invalid: reason'
  }
});

t.test('seeded random and mutated buffers never throw', async (t) => {
  const rand = prng(42);
  const seeds = [records(synth()), records(synth(), [3, 50, 90]), ...captured];
  const kinds: Record<string, number> = {};
  const start = Date.now();
  for (let i = 0; i < 6000 && Date.now() - start < 20_000; i++) {
    let buf: Buffer;
    if (i % 2) {
      buf = Buffer.from(seeds[rand(seeds.length)]);
      for (let k = 1 + rand(3); k > 0; k--) buf[rand(buf.length)] = rand(256);
      if (rand(4) === 0) buf = buf.subarray(0, rand(buf.length + 1));
    } else {
      buf = Buffer.from(Array.from({ length: rand(300) }, () => rand(256)));
      if (buf.length > 5 && rand(2)) buf.set([22, 3, rand(5), 0, rand(256)]);
    }
    let kind = 'threw';
    try {
      kind = readClientHello(buf).kind;
    } catch {}
    kinds[kind] = (kinds[kind] ?? 0) + 1;
  }
  t.notOk('threw' in kinds, `no throw: ${JSON.stringify(kinds)}`);
  t.ok(
    Object.keys(kinds).every((k) => ['need-more', 'not-tls', 'invalid', 'hello'].includes(k)),
    'four kinds only',
  );
});
