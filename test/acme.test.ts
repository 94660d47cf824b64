// ACME end to end against a real CA (Debian's pebble, validating for real on baton's entrypoints): HTTP-01 and
// TLS-ALPN-01 issuance checked with real handshakes against pebble's root, the storage file, a restart that orders
// nothing, pebble going away (certificates keep serving, a new demand fails visibly and backs off, other domains
// are not held up) and coming back, and renewal without a restart.
import { once } from 'node:events';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import t, { type Test } from 'tap';
import { parseConfig, type LoadedConfig } from '../src/config/load.ts';
import { EventBus } from '../src/events.ts';
import { fileSnapshot } from '../src/providers/file.ts';
import { Entrypoint } from '../src/proxy/entrypoint.ts';
import { createAcme, type AcmeResolvers, type AcmeTuning } from '../src/tls/acme.ts';
import { coveredByFile, normalizeDemands, renewalTime } from '../src/tls/acme-demands.ts';
import { backoffDelay } from '../src/tls/acme-queue.ts';
import { parseStorage } from '../src/tls/acme-storage.ts';
import { CertificateStore } from '../src/tls/store.ts';
import { TlsTerminator } from '../src/tls/terminator.ts';
import { Registry } from '../src/upstream/registry.ts';
import { hello } from './fixtures/certs.ts';
import { startBaton, startUpstream, tempDir, TOKEN } from './fixtures/harness.ts';
import { freePort, startPebble, type Pebble } from './fixtures/pebble.ts';

const TUNING: Partial<AcmeTuning> = {
  ordersPerMinute: 60,
  backoff: { minMs: 1_000, maxMs: 8_000 },
  renewCheckMs: 200,
  requestTimeoutMs: 5_000,
  poll: { minMs: 50, maxMs: 500, timeoutMs: 20_000 },
};

interface Baton {
  config: LoadedConfig;
  registry: Registry;
  store: CertificateStore;
  acme: AcmeResolvers;
  logs: Array<Record<string, unknown>>;
  close(): Promise<void>;
}

/** baton's HTTPS parts, composed the way app.ts composes them, on fixed ports (pebble validates on them). */
async function startAcmeBaton(t: Test, raw: Record<string, unknown>): Promise<Baton> {
  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line.trim() !== '') logs.push(JSON.parse(line));
      cb();
    },
  });
  const log = pino({ level: 'debug' }, sink);
  const config = parseConfig({ admin: { address: '127.0.0.1:0', token: TOKEN }, ...raw }, { env: {} });
  const entrypointTls = Object.fromEntries(
    Object.entries(config.entrypoints).map(([n, e]) => [n, { tls: e.http.tls }]),
  );
  const registry = new Registry({ timeouts: config.timeouts, log, events: new EventBus(), entrypoints: entrypointTls });
  const store = CertificateStore.load({ tls: config.tls, log, watch: false });
  const acme = createAcme({ certificatesResolvers: config.certificatesResolvers, store, log, tuning: TUNING })!;
  const terminator = new TlsTerminator({
    certificates: store,
    challenges: acme.tlsChallenges,
    timeoutMs: 5_000,
    h2: true,
  });
  const entrypoints = Object.entries(config.entrypoints).map(
    ([name, ep]) =>
      new Entrypoint({
        name,
        config: ep,
        timeouts: config.timeouts,
        limits: config.limits,
        registry,
        log,
        accessLog: null,
        terminator,
        httpChallenges: acme.httpChallengesFor(name),
      }),
  );
  registry.setSnapshot('file', fileSnapshot(config));
  for (const ep of entrypoints) await ep.listen();
  acme.follow(registry);
  let closing: Promise<void> | null = null;
  const close = () =>
    (closing ??= (async () => {
      await acme.close();
      await Promise.all(entrypoints.map((e) => e.close(500)));
      await registry.close();
      store.close();
    })());
  t.teardown(close);
  return { config, registry, store, acme, logs, close };
}

async function until<T>(what: string, fn: () => T | Promise<T>, ms = 10_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== null && v !== undefined && v !== false) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A handshake for `name` verified against `root`: the served certificate, or null when it does not verify. */
async function served(port: number, name: string, root: string) {
  const h = await hello(port, { servername: name, ca: root });
  // a tick first: a client gone before its Finished reaches the server holds the connection until the
  // terminator's handshake timeout (and Entrypoint.close() with it)
  await new Promise((r) => setImmediate(r));
  h.socket.destroy();
  return h.authorized ? h : null;
}

function httpsGet(port: number, name: string, root: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', servername: name, ca: root, headers: { host: name } });
    req.setTimeout(3000, () => req.destroy(new Error('timed out')));
    req.on('response', (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

interface Setup {
  dir: string;
  web: number;
  websecure: number;
  pebble: Pebble;
  upstream: string;
  raw: (extra?: Record<string, unknown>) => Record<string, unknown>;
}

async function setup(
  t: Test,
  opts: { challenge?: 'http' | 'tls'; validitySeconds?: number; renewBefore?: string; blocklist?: string[] } = {},
): Promise<Setup> {
  const dir = tempDir(t);
  const web = await freePort();
  const websecure = await freePort();
  const pebble = await startPebble(t, { dir, httpPort: web, tlsPort: websecure, ...opts });
  const up = await startUpstream(t, 'shop');
  const challenge = opts.challenge === 'tls' ? { tlsChallenge: {} } : { httpChallenge: { entryPoint: 'web' } };
  const raw = (extra: Record<string, unknown> = {}) => ({
    stateDir: dir,
    entrypoints: {
      web: { address: `127.0.0.1:${web}` },
      websecure: { address: `127.0.0.1:${websecure}`, http: { tls: { certResolver: 'le' } } },
    },
    certificatesResolvers: {
      le: {
        acme: {
          email: 'ops@shop.test',
          caServer: pebble.directory,
          caCertificates: [pebble.apiCertFile],
          ...challenge,
          ...(opts.renewBefore !== undefined ? { renewBefore: opts.renewBefore } : {}),
        },
      },
    },
    services: { shop: { rule: 'Host(`shop.test`)', upstreams: [up.url] } },
    ...extra,
  });
  return { dir, web, websecure, pebble, upstream: up.url, raw };
}

const obtained = (b: Baton) => b.logs.filter((l) => l.msg === 'Certificate obtained');

t.test('pure pieces: demands merged per main name, renewal time, backoff, storage parsing', async (t) => {
  const unknown: string[] = [];
  const wanted = normalizeDemands(
    [
      { resolver: 'le', domains: ['Shop.Test.', 'www.shop.test'] },
      { resolver: 'le', domains: ['shop.test', 'm.shop.test', 'shop.test'] },
      { resolver: 'nope', domains: ['x.test'] },
      { resolver: 'le', domains: [] },
    ],
    new Set(['le']),
    (r) => unknown.push(r),
  );
  t.same(
    [...wanted.values()],
    [{ key: 'le shop.test', resolver: 'le', domains: ['shop.test', 'm.shop.test', 'www.shop.test'] }],
  );
  t.same(unknown, ['nope']);
  const day = 86_400_000;
  t.equal(renewalTime(0, 90 * day, 30 * day), 60 * day, 'renewBefore ahead of expiry');
  t.equal(renewalTime(0, 10 * day, 30 * day), 5 * day, 'never before half the lifetime');
  const delays = [1, 2, 3, 10, 11, 60].map((n) => backoffDelay({ minMs: 30_000, maxMs: 6 * 3_600_000 }, n));
  t.same(delays, [30_000, 60_000, 120_000, 15_360_000, 6 * 3_600_000, 6 * 3_600_000], '30 s, doubling, 6 h at most');
  const file = { source: 'file', notAfter: new Date(Date.now() + 60 * day).toISOString() };
  t.ok(
    coveredByFile(['a.test'], 30 * day, () => file),
    'a configured file covers it: not ordered',
  );
  t.notOk(
    coveredByFile(['a.test'], 90 * day, () => file),
    'unless it expires within renewBefore',
  );
  t.notOk(coveredByFile(['a.test'], 30 * day, () => ({ ...file, source: 'resolver:le' })));
  t.match(parseStorage('{'), /^not JSON/);
  t.match(parseStorage('{"version":2,"resolvers":{}}'), /unknown storage version/);
  const parsed = parseStorage(
    JSON.stringify({
      version: 1,
      resolvers: {
        le: { accounts: { ca: { keyPem: 'K', url: 'u' } }, certificates: { a: { domains: ['a'] }, b: 'x' } },
      },
    }),
  );
  t.match(parsed, {
    resolvers: { le: { accounts: { ca: { keyPem: 'K', url: 'u', email: null } }, certificates: {} } },
  });
});

t.test(
  'an unreadable storage file is moved aside; a config CA file that cannot be read is a ConfigError',
  async (t) => {
    const dir = tempDir(t);
    writeFileSync(join(dir, 'acme.json'), '{ not json');
    const web = await freePort();
    const raw = (extra: Record<string, unknown>) => ({
      stateDir: dir,
      entrypoints: { web: { address: `127.0.0.1:${web}` } },
      certificatesResolvers: {
        le: { acme: { caServer: 'https://127.0.0.1:1/dir', httpChallenge: { entryPoint: 'web' }, ...extra } },
      },
    });
    const baton = await startAcmeBaton(t, raw({}));
    t.ok(baton.logs.some((l) => l.msg === 'ACME storage unreadable; starting afresh'));
    t.equal(readdirSync(dir).filter((f) => f.startsWith('acme.json.corrupt-')).length, 1, 'kept aside');
    await baton.close();
    const log = pino({ level: 'silent' });
    const config = parseConfig(raw({ caCertificates: [join(dir, 'missing.pem')] }), { env: {} });
    const store = CertificateStore.load({ tls: config.tls, log, watch: false });
    t.throws(() => createAcme({ certificatesResolvers: config.certificatesResolvers, store, log }), {
      code: 'BATON_CONFIG_INVALID',
      problems: [/^certificatesResolvers\.le\.acme\.caCertificates\.0: cannot read/],
    });
  },
);

t.test('close() aborts an order in flight at once and leaves nothing behind', async (t) => {
  const dir = tempDir(t);
  const sockets = new Set<Socket>();
  const closedSockets: Promise<unknown>[] = [];
  const hang = createServer((sock) => {
    sockets.add(sock);
    closedSockets.push(once(sock, 'close'));
    sock.resume(); // reads (and so sees the client's FIN), never answers
  });
  hang.listen(0, '127.0.0.1');
  await once(hang, 'listening');
  t.teardown(() => {
    for (const sock of sockets) sock.destroy();
    hang.close();
  });
  const web = await freePort();
  const baton = await startAcmeBaton(t, {
    stateDir: dir,
    entrypoints: {
      web: { address: `127.0.0.1:${web}` },
      websecure: { address: '127.0.0.1:0', http: { tls: { certResolver: 'le' } } },
    },
    certificatesResolvers: {
      le: {
        acme: {
          caServer: `https://127.0.0.1:${(hang.address() as AddressInfo).port}/dir`,
          httpChallenge: { entryPoint: 'web' },
        },
      },
    },
    services: { shop: { rule: 'Host(`shop.test`)', upstreams: ['http://127.0.0.1:9'] } },
  });
  await until('the order to start', () => sockets.size > 0);
  t.equal(baton.acme.stats.ordered, 1);
  const started = Date.now();
  await baton.acme.close();
  t.ok(Date.now() - started < 200, `close() took ${Date.now() - started} ms`);
  await Promise.race([Promise.all(closedSockets), new Promise((r) => setTimeout(r, 1000))]);
  t.ok(
    [...sockets].every((sock) => sock.destroyed),
    'its connection to the CA is closed',
  );
  t.equal(baton.acme.stats.failed, 0, 'an aborted order is not a failure');
  t.same(
    baton.acme.list().map((r) => r.lastError),
    [null],
    'and records none',
  );
});

t.test('HTTP-01: ordered on start, served at once, stored 0600; a restart orders nothing', async (t) => {
  const s = await setup(t);
  const baton = await startAcmeBaton(t, s.raw());
  const root = await s.pebble.root();
  const before = await served(s.websecure, 'shop.test', root);
  t.equal(before, null, 'until the certificate arrives, the default (self-signed) one is served');
  const h = await until('the pebble certificate for shop.test', () => served(s.websecure, 'shop.test', root));
  t.same(h.sans, ['shop.test'], 'its SAN is shop.test');
  t.match(s.pebble.output(), /validate w\/ HTTP: http:\/\/shop\.test:\d+\/\.well-known\/acme-challenge\//);
  t.match(s.pebble.output(), /set VALID by completed challenge/, 'pebble validated the HTTP-01 challenge');
  t.ok(baton.acme.challenges.answered.http >= 1, 'baton answered it on the plain entrypoint');
  t.equal(baton.acme.challenges.pending, 0, 'the challenge answer is removed once validated');
  const line = obtained(baton)[0];
  t.same(line.domains, ['shop.test']);
  t.comment(`HTTP-01 order: ${line.durationMs} ms`);
  t.ok(Number(line.durationMs) < 5_000, `the order took ${line.durationMs} ms`);
  const reply = await httpsGet(s.websecure, 'shop.test', root);
  t.equal(reply.status, 200, 'HTTPS reaches the upstream with the issued certificate');
  t.equal(JSON.parse(reply.body).upstream, 'shop');
  t.notOk(JSON.stringify(baton.logs).includes('PRIVATE KEY'), 'no key is ever logged');

  const file = join(s.dir, 'acme.json');
  t.equal(statSync(file).mode & 0o777, 0o600, 'storage is 0600');
  t.same(
    readdirSync(s.dir).filter((f) => f.includes('.tmp')),
    [],
    'no temp file left',
  );
  const stored = JSON.parse(readFileSync(file, 'utf8'));
  const account = stored.resolvers.le.accounts[s.pebble.directory];
  t.match(account, { keyPem: /BEGIN PRIVATE KEY/, url: /^https:\/\/127\.0\.0\.1/, email: 'ops@shop.test' });
  t.match(stored.resolvers.le.certificates['shop.test'], {
    domains: ['shop.test'],
    certPem: /BEGIN CERTIFICATE[\s\S]+BEGIN CERTIFICATE/,
    keyPem: /BEGIN PRIVATE KEY/,
    notAfter: String,
  });
  const row = baton.store.list().find((r) => r.id === 'acme:le:shop.test');
  t.match(row, { source: 'resolver:le', domains: ['shop.test'], lastError: null, lastRenewalAttempt: String });
  t.same(baton.acme.list(), [], 'no pending row once issued');
  await baton.close();

  const again = await startAcmeBaton(t, s.raw());
  const at = await served(s.websecure, 'shop.test', root);
  t.ok(at, 'after a restart the stored certificate is served at once');
  t.equal(at?.serial, h.serial, 'the same certificate');
  await new Promise((r) => setTimeout(r, 500));
  t.same(again.acme.stats, { ordered: 0, obtained: 0, failed: 0 }, 'nothing ordered');
  t.notOk(again.logs.some((l) => l.msg === 'Ordering certificate' || l.msg === 'ACME account ready'));
  const restored = JSON.parse(readFileSync(file, 'utf8'));
  t.equal(restored.resolvers.le.accounts[s.pebble.directory].url, account.url, 'the account is kept');
});

t.test('TLS-ALPN-01 on the TLS entrypoint, next to an HTTP-01 resolver sharing the storage file', async (t) => {
  const s = await setup(t, { challenge: 'tls' });
  const le = (s.raw() as { certificatesResolvers: { le: { acme: Record<string, unknown> } } }).certificatesResolvers.le;
  const web = { ...le.acme, tlsChallenge: undefined, httpChallenge: { entryPoint: 'web' } };
  const baton = await startAcmeBaton(
    t,
    s.raw({
      certificatesResolvers: { le, web: { acme: web } },
      services: {
        shop: { rule: 'Host(`shop.test`)', upstreams: [s.upstream] },
        api: { rule: 'Host(`api.test`)', upstreams: [s.upstream], tls: { certResolver: 'web' } },
      },
    }),
  );
  const root = await s.pebble.root();
  const h = await until('the pebble certificate for shop.test', () => served(s.websecure, 'shop.test', root));
  t.same(h.sans, ['shop.test']);
  t.match(s.pebble.output(), /set VALID by completed challenge/, 'pebble validated the challenge');
  t.ok(baton.acme.challenges.answered.alpn >= 1, 'baton answered acme-tls/1 handshakes on the TLS entrypoint');
  const api = await until('api.test by the HTTP-01 resolver', () => served(s.websecure, 'api.test', root));
  t.same(api.sans, ['api.test']);
  t.ok(baton.acme.challenges.answered.http >= 1, 'the other resolver used HTTP-01');
  t.equal(baton.acme.challenges.pending, 0, 'every challenge is removed once validated');
  const byChallenge = Object.fromEntries(obtained(baton).map((l) => [String(l.challenge), l]));
  t.same(byChallenge['tls-alpn-01'].domains, ['shop.test']);
  t.comment(`TLS-ALPN-01 order: ${byChallenge['tls-alpn-01'].durationMs} ms (with the account's registration)`);
  t.comment(`HTTP-01 order: ${byChallenge['http-01'].durationMs} ms (with the account's registration)`);
  await until('both saved', () => {
    const stored = JSON.parse(readFileSync(join(s.dir, 'acme.json'), 'utf8'));
    return stored.resolvers.le?.certificates['shop.test'] && stored.resolvers.web?.certificates['api.test'];
  });
  const stored = JSON.parse(readFileSync(join(s.dir, 'acme.json'), 'utf8'));
  t.same(Object.keys(stored.resolvers).sort(), ['le', 'web'], 'one file, one entry per resolver');
  t.not(
    stored.resolvers.le.accounts[s.pebble.directory].keyPem,
    stored.resolvers.web.accounts[s.pebble.directory].keyPem,
  );
});

t.test('the CA down: certificates keep serving, a new demand fails visibly and backs off, others go on', async (t) => {
  const s = await setup(t, { blocklist: ['blocked.test'] });
  const baton = await startAcmeBaton(t, s.raw());
  const root = await s.pebble.root();
  await until('shop.test issued', () => served(s.websecure, 'shop.test', root));
  await s.pebble.stop();

  t.ok(await served(s.websecure, 'shop.test', root), 'the issued certificate keeps serving with the CA down');
  t.equal((await httpsGet(s.websecure, 'shop.test', root)).status, 200, 'and HTTPS keeps answering');
  const services = (names: string[]) =>
    Object.fromEntries(names.map((n) => [n.replace(/\./g, '-'), { rule: `Host(\`${n}\`)`, upstreams: [s.upstream] }]));
  const withServices = (names: string[]) =>
    fileSnapshot(parseConfig(s.raw({ services: services(names) }), { env: {} }));
  baton.registry.setSnapshot('file', withServices(['shop.test', 'new.test']));
  const failing = await until('new.test failing', () =>
    baton.acme.list().find((r) => r.domains[0] === 'new.test' && r.lastError !== null),
  );
  t.match(failing, { id: 'acme:le:new.test', source: 'resolver:le', lastError: /ECONNREFUSED/, failures: 1 });
  const wait = Date.parse(failing.nextAttemptAt!) - Date.parse(failing.lastErrorAt!);
  t.ok(wait >= 900 && wait <= 1_100, `retried after the backoff (${wait} ms), not at once`);
  await new Promise((r) => setTimeout(r, 600));
  t.equal(baton.acme.stats.failed, 1, 'no tight loop: one failure within the backoff');
  t.ok(
    baton.acme
      .certificateList()
      .list()
      .some((r) => r.id === 'acme:le:new.test'),
    'in the API rows',
  );
  const second = await until('the second attempt', () => baton.acme.list().find((r) => r.failures === 2));
  const wait2 = Date.parse(second.nextAttemptAt!) - Date.parse(second.lastErrorAt!);
  t.ok(wait2 >= 1_900 && wait2 <= 2_100, `the backoff doubles (${wait2} ms)`);
  t.ok(await served(s.websecure, 'shop.test', root), 'still serving');

  // a fresh pebble where the old one was: no account, a new root; the failing domain gets its certificate
  const pebble = await startPebble(t, {
    dir: s.dir,
    httpPort: s.web,
    tlsPort: s.websecure,
    port: s.pebble.port,
    managementPort: s.pebble.managementPort,
    blocklist: ['blocked.test'],
  });
  const root2 = await pebble.root();
  const n = await until('new.test issued', () => served(s.websecure, 'new.test', root2), 10_000);
  t.same(n.sans, ['new.test'], 'issued on its next attempt, the account registered again');
  t.same(baton.acme.list(), [], 'its row is gone once issued');

  // one domain the CA refuses does not hold up another
  baton.registry.setSnapshot('file', withServices(['shop.test', 'new.test', 'blocked.test', 'other.test']));
  await until('other.test issued', () => served(s.websecure, 'other.test', root2), 10_000);
  const blocked = baton.acme.list().find((r) => r.domains[0] === 'blocked.test');
  t.match(blocked, { lastError: /blocked\.test/ }, 'the refused one says why');
  t.comment(`blocked.test: ${blocked?.lastError}`);
  const later = obtained(baton)
    .slice(1)
    .map((l) => `${(l.domains as string[])[0]} ${l.durationMs} ms`);
  t.comment(`HTTP-01 orders with a registered account: ${later.join(', ')}`);
  t.ok(
    baton.store.list().some((r) => r.id === 'acme:le:shop.test'),
    'earlier certificates are all still there',
  );
});

t.test('renewal: a certificate within renewBefore is ordered again and replaced without a restart', async (t) => {
  const s = await setup(t, { validitySeconds: 4, renewBefore: '365d' });
  const baton = await startAcmeBaton(t, s.raw());
  const root = await s.pebble.root();
  const first = await until('shop.test issued', () => served(s.websecure, 'shop.test', root));
  const row = baton.store.list().find((r) => r.id === 'acme:le:shop.test')!;
  const [from, to] = [Date.parse(row.notBefore), Date.parse(row.notAfter)];
  t.comment(`pebble's certificate: ${row.notBefore} → ${row.notAfter}`);
  const renewed = await until(
    'a renewed certificate',
    async () => {
      const h = await served(s.websecure, 'shop.test', root);
      return h !== null && h.serial !== first.serial ? h : null;
    },
    8_000,
  );
  t.same(renewed.sans, ['shop.test'], 'the renewed certificate serves, the old one is replaced');
  t.ok(baton.acme.stats.obtained >= 2);
  const stored = JSON.parse(readFileSync(join(s.dir, 'acme.json'), 'utf8'));
  t.not(stored.resolvers.le.certificates['shop.test'].notAfter, '', 'storage holds the renewed certificate');
  const times = obtained(baton).map((l) => Number(l.time));
  const due = from + (to - from) / 2; // renewBefore (365 days) is longer than the lifetime: half of it
  t.ok(times[1] >= due, `renewed at half its lifetime (${times[1] - from} ms after notBefore), not at every check`);
  // due + one 200 ms check + the order itself (a pebble round trip, slower on a loaded CI machine)
  t.ok(times[1] <= due + 4_000, 'and soon after it was due (checks every 200 ms)');
});

for (const challenge of ['http', 'tls'] as const) {
  t.test(
    `workers: 2 — ${challenge === 'http' ? 'HTTP-01' : 'TLS-ALPN-01'} answered by either worker, the certificate served by both, and after a restart`,
    async (t) => {
      const s = await setup(t, { challenge });
      const raw = s.raw({ workers: 2, log: { level: 'warn', accessLog: false } });
      const first = await startBaton(t, raw);
      const root = await s.pebble.root();
      await until('the pebble certificate for shop.test', () => served(s.websecure, 'shop.test', root), 30_000);
      t.match(s.pebble.output(), /set VALID by completed challenge/, 'pebble validated the challenge on a worker');
      const handshakes = await Promise.all(Array.from({ length: 20 }, () => served(s.websecure, 'shop.test', root)));
      t.equal(handshakes.filter((h) => h !== null).length, 20, '20 fresh handshakes all get it, whichever worker');
      const r = await httpsGet(s.websecure, 'shop.test', root);
      t.equal(r.status, 200, 'proxied over HTTPS by a worker');
      await first.app.close(1000);
      const again = await startBaton(t, raw);
      const after = await Promise.all(Array.from({ length: 10 }, () => served(s.websecure, 'shop.test', root)));
      t.equal(
        after.filter((h) => h !== null).length,
        10,
        'after a restart the stored certificate is served by both workers at once',
      );
      t.equal((await again.app.certificates.list()).filter((c) => c.source === 'resolver:le').length, 1);
    },
  );
}
