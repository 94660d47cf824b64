// The certificate store through real TLS handshakes: SNI selection (exact, wildcard, default, sniStrict), chains,
// session resumption, hot reload from files, start-up errors, the ACME-facing API and the TLS options.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import t from 'tap';
import { tlsSchema } from '../src/config/tls-schema.ts';
import { ConfigError } from '../src/errors.ts';
import { selfSignedCertificate } from '../src/tls/self-signed.ts';
import { CertificateStore, type CertificateStoreOptions } from '../src/tls/store.ts';
import {
  CORRUPT_PEM,
  directServer,
  echo,
  hello,
  helloOnce,
  makeCa,
  makeIntermediate,
  makeKey,
  makeLeaf,
  replaceFile,
  sniServer,
} from './fixtures/certs.ts';
import { tempDir, waitFor } from './fixtures/harness.ts';

type Tap = { teardown: (fn: () => unknown) => void };

function logger(): { log: CertificateStoreOptions['log']; lines: Array<Record<string, any>> } {
  const lines: Array<Record<string, any>> = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l.trim() !== '') lines.push(JSON.parse(l));
      cb();
    },
  });
  return { log: pino({ level: 'debug' }, sink), lines };
}

function store(t: Tap, raw: Record<string, unknown>, watch = false) {
  const { log, lines } = logger();
  const s = CertificateStore.load({ tls: tlsSchema.parse(raw), log, watch });
  t.teardown(() => s.close());
  return { store: s, lines };
}

function setup(t: Tap) {
  const dir = tempDir(t);
  const ca = makeCa(dir);
  const a = makeLeaf(ca, dir, ['a.test', 'www.a.test']);
  const b = makeLeaf(ca, dir, ['b.test']);
  const wild = makeLeaf(ca, dir, ['*.example.com'], { file: 'wildcard' });
  return { dir, ca, a, b, wild };
}

const files = (...certs: Array<{ certFile: string; keyFile: string }>) =>
  certs.map(({ certFile, keyFile }) => ({ certFile, keyFile }));

t.test('SNI selection through real handshakes: exact, wildcard, default, no SNI', async (t) => {
  const { ca, a, b, wild } = setup(t);
  const { store: s } = store(t, { certificates: files(a, b, wild) });
  const port = await sniServer(t, s);
  const tls = (servername?: string) => helloOnce(port, { ca: ca.pem, ...(servername ? { servername } : {}) });

  const ha = await tls('a.test');
  t.same(ha.sans, ['a.test', 'www.a.test']);
  t.ok(ha.authorized, 'a.test verifies against the test CA');
  t.same((await tls('www.a.test')).sans, ['a.test', 'www.a.test']);
  t.same((await tls('b.test')).sans, ['b.test']);
  const hw = await tls('a.example.com');
  t.same(hw.sans, ['*.example.com'], 'wildcard covers one label');
  t.ok(hw.authorized, 'and verifies');
  for (const name of ['example.com', 'a.b.example.com', 'unknown.test']) {
    const h = await tls(name);
    t.equal(h.subject, 'CN=baton default certificate', `${name} gets the default certificate`);
    t.notOk(h.authorized, `${name}: the default does not verify`);
  }
  t.equal((await tls()).subject, 'CN=baton default certificate', 'no SNI gets the default');
  t.equal(s.contextFor('WWW.A.Test.'), s.contextFor('www.a.test'), 'case and trailing dot do not matter');
  t.equal(s.contextFor(''), s.contextFor(null), 'an empty name is no name');
  t.equal(s.contextFor('a.test', 'nonexistent'), s.contextFor('a.test'), 'unknown options mean default');
});

t.test('sniStrict refuses unknown names and no SNI; a chain is served whole', async (t) => {
  const { dir, ca, a } = setup(t);
  const inter = makeIntermediate(ca, dir);
  const chained = makeLeaf(inter, dir, ['chain.test'], { chain: inter });
  const { store: s } = store(t, {
    certificates: files(a, chained),
    options: { strict: { sniStrict: true } },
  });
  const port = await sniServer(t, s, 'strict');
  t.same((await helloOnce(port, { ca: ca.pem, servername: 'a.test' })).sans, ['a.test', 'www.a.test']);
  await t.rejects(helloOnce(port, { ca: ca.pem, servername: 'unknown.test' }), 'unknown name refused');
  await t.rejects(helloOnce(port, { ca: ca.pem }), 'no SNI refused');
  t.equal(s.contextFor('unknown.test', 'strict'), null);
  t.not(s.contextFor('unknown.test'), null, 'the default options are not strict');
  const hc = await helloOnce(port, { ca: ca.pem, servername: 'chain.test' });
  t.ok(hc.authorized, 'leaf + intermediate verify against the root alone: the chain was sent');
});

t.test('session resumption, across certificates and reloads', async (t) => {
  const { dir, ca, a, b } = setup(t);
  const { store: s } = store(t, { certificates: files(a, b) });
  let name = 'a.test';
  const port = await directServer(t, () => s.contextFor(name));
  const first = await hello(port, { ca: ca.pem, servername: 'a.test' });
  const session = await first.session;
  first.socket.destroy();
  t.notOk(first.reused);
  const second = await helloOnce(port, { ca: ca.pem, servername: 'a.test', session });
  t.ok(second.reused, 'the second connection resumes');
  t.equal(second.protocol, 'TLSv1.3', 'TLS 1.3 by default');

  mkdirSync(join(dir, 'next'));
  const next = makeLeaf(ca, join(dir, 'next'), ['a.test']);
  replaceFile(a.certFile, next.certPem);
  replaceFile(a.keyFile, next.keyPem);
  t.same(s.reload(), { changed: [`file:${a.certFile}`], failed: [] });
  const fresh = await helloOnce(port, { ca: ca.pem, servername: 'a.test' });
  t.not(fresh.serial, first.serial, 'the reloaded certificate serves');
  t.ok((await helloOnce(port, { ca: ca.pem, servername: 'a.test', session })).reused, 'resumes after a reload');
  name = 'b.test';
  const across = await helloOnce(port, { ca: ca.pem, servername: 'a.test', session });
  t.ok(across.reused, 'a ticket resumes whichever context the handshake gets (one ticket key per process)');
});

t.test(
  'hot reload from the file watcher: rename over, corrupt file, recovery; open connections keep working',
  async (t) => {
    const { dir, ca, a, b } = setup(t);
    const { store: s, lines } = store(t, { certificates: files(a, b) }, true);
    t.equal(s.watching, 1, 'one folder watched');
    const port = await sniServer(t, s);
    const before = await hello(port, { ca: ca.pem, servername: 'a.test' });
    t.teardown(() => before.socket.destroy());
    const id = `file:${a.certFile}`;

    mkdirSync(join(dir, 'next'));
    const next = makeLeaf(ca, join(dir, 'next'), ['a.test', 'new.a.test']);
    const started = Date.now();
    replaceFile(a.keyFile, next.keyPem);
    replaceFile(a.certFile, next.certPem);
    let latest = before;
    await waitFor(
      async () => (latest = await helloOnce(port, { ca: ca.pem, servername: 'a.test' })).serial !== before.serial,
      3000,
      'new cert',
    );
    t.ok(Date.now() - started < 1500, `new handshakes got the new certificate after ${Date.now() - started} ms`);
    t.same(latest.sans, ['a.test', 'new.a.test']);
    t.ok(latest.authorized);
    t.equal(await echo(before.socket, 'still there'), 'still there', 'the connection made before the reload works');
    t.ok(lines.some((l) => l.msg === 'Certificate reloaded' && l.certificate === id));

    replaceFile(a.certFile, CORRUPT_PEM);
    await waitFor(() => s.list().find((r) => r.id === id)!.lastError !== null, 3000, 'lastError');
    const row = s.list().find((r) => r.id === id)!;
    t.match(row.lastError, /not a valid certificate/);
    t.ok(row.lastErrorAt !== null);
    t.ok(
      lines.some((l) => l.level === 50 && l.certificate === id),
      'the failure is logged',
    );
    t.equal(
      (await helloOnce(port, { ca: ca.pem, servername: 'a.test' })).serial,
      latest.serial,
      'old cert keeps serving',
    );

    replaceFile(a.certFile, next.certPem);
    await waitFor(() => s.list().find((r) => r.id === id)!.lastError === null, 3000, 'recovery');
    t.equal((await helloOnce(port, { ca: ca.pem, servername: 'a.test' })).serial, latest.serial);
    s.close();
    t.equal(s.watching, 0);
  },
);

t.test(
  'reload() re-reads files: unchanged files keep their contexts, a bad one keeps the old certificate',
  async (t) => {
    const { dir, ca, a, b } = setup(t);
    const { store: s } = store(t, { certificates: files(a, b) });
    const ctxA = s.contextFor('a.test');
    const ctxB = s.contextFor('b.test');
    t.same(s.reload(), { changed: [], failed: [] });
    t.equal(s.contextFor('a.test'), ctxA, 'unchanged: same context');

    replaceFile(b.keyFile, makeKey(join(dir, 'other.key')));
    const r = s.reload();
    t.same(r, { changed: [], failed: [`file:${b.certFile}`] });
    t.match(s.list()[1].lastError, /does not match/);
    t.equal(s.contextFor('b.test'), ctxB, 'the key that does not match is not taken; the old pair serves');

    mkdirSync(join(dir, 'next'));
    const next = makeLeaf(ca, join(dir, 'next'), ['b.test']);
    replaceFile(b.certFile, next.certPem);
    replaceFile(b.keyFile, next.keyPem);
    t.same(s.reload(), { changed: [`file:${b.certFile}`], failed: [] });
    t.not(s.contextFor('b.test'), ctxB, 'a new context');
    t.equal(s.list()[1].lastError, null);
    t.equal(s.contextFor('a.test'), ctxA);
  },
);

t.test('start-up problems: ConfigError with every path', async (t) => {
  const { dir, a, b, wild } = setup(t);
  const garbage = join(dir, 'garbage.pem');
  replaceFile(garbage, 'hello, not a certificate\n');
  const corrupt = join(dir, 'corrupt.pem');
  replaceFile(corrupt, CORRUPT_PEM);
  const otherKey = join(dir, 'other.key');
  makeKey(otherKey);
  const raw = {
    options: { bad: { cipherSuites: ['NOT-A-CIPHER'] } },
    certificates: [
      { certFile: join(dir, 'missing.crt'), keyFile: a.keyFile },
      { certFile: dir, keyFile: join(dir, 'missing.key') },
      { certFile: garbage, keyFile: b.keyFile },
      { certFile: wild.certFile, keyFile: otherKey },
      { certFile: corrupt, keyFile: garbage },
    ],
  };
  const err = t.throws(() => store(t, raw)) as ConfigError;
  t.ok(err instanceof ConfigError);
  t.equal(err.code, 'BATON_CONFIG_INVALID');
  t.match(err.problems, [/^tls\.options\.bad\.cipherSuites: /]);
  const err2 = t.throws(() => store(t, { ...raw, options: {} })) as ConfigError;
  t.match(err2.problems, [
    /^tls\.certificates\.0\.certFile: cannot read .*missing\.crt: no such file$/,
    /^tls\.certificates\.1\.certFile: cannot read .*: it is a directory$/,
    /^tls\.certificates\.1\.keyFile: cannot read .*missing\.key: no such file$/,
    /^tls\.certificates\.2\.certFile: .*garbage\.pem: no PEM certificate in it$/,
    /^tls\.certificates\.3\.keyFile: .*other\.key: the key does not match the certificate$/,
    /^tls\.certificates\.4\.certFile: .*corrupt\.pem: not a valid certificate/,
    /^tls\.certificates\.4\.keyFile: .*garbage\.pem: no PEM private key in it$/,
  ]);
  t.equal(err2.problems.length, 7);
  const err3 = t.throws(() =>
    store(t, {
      certificates: files(a, a),
      options: { odd: { minVersion: 'VersionTLS13', maxVersion: 'VersionTLS12' } },
      stores: { default: { defaultCertificate: { certFile: join(dir, 'nope.crt'), keyFile: a.keyFile } } },
    }),
  ) as ConfigError;
  t.match(err3.problems, [
    /^tls\.options\.odd\.minVersion: VersionTLS13 is above/,
    /^tls\.certificates\.1\.certFile: listed twice/,
  ]);
  const err4 = t.throws(() =>
    store(t, { stores: { default: { defaultCertificate: { certFile: join(dir, 'nope.crt'), keyFile: a.keyFile } } } }),
  ) as ConfigError;
  t.match(err4.problems, [/^tls\.stores\.default\.defaultCertificate\.certFile: cannot read/]);
});

t.test('put, remove, covers, update, list (the ACME side)', async (t) => {
  const { dir, ca, a, wild } = setup(t);
  const { store: s, lines } = store(t, { certificates: files(a, wild) });
  const port = await sniServer(t, s);
  t.equal(s.covers('new.test'), null);
  t.equal(s.covers('example.com'), null, 'the default covers nothing');
  t.equal(s.covers('A.Example.COM.')!.id, `file:${wild.certFile}`);

  const issued = makeLeaf(ca, dir, ['new.test', 'www.new.test'], { days: 90 });
  s.put('acme:le:new.test', 'resolver:le', issued.certPem, issued.keyPem);
  const h = await helloOnce(port, { ca: ca.pem, servername: 'www.new.test' });
  t.same(h.sans, ['new.test', 'www.new.test'], 'serves new handshakes at once');
  t.ok(h.authorized);
  t.match(s.covers('new.test'), { id: 'acme:le:new.test', source: 'resolver:le', lastRenewalAttempt: null });
  t.ok(lines.some((l) => l.msg === 'Certificate added' && l.certificate === 'acme:le:new.test'));

  // two certificates for one name: the one expiring later wins, whichever came first
  const longer = makeLeaf(ca, dir, ['a.test'], { days: 90, file: 'longer' });
  s.put('acme:le:a.test', 'resolver:le', longer.certPem, longer.keyPem);
  t.equal(s.covers('a.test')!.id, 'acme:le:a.test', 'later notAfter wins over the file');
  t.equal(s.covers('www.a.test')!.id, `file:${a.certFile}`, 'names only the file has stay with it');
  const shorter = makeLeaf(ca, dir, ['a.test'], { days: 2, file: 'shorter' });
  s.put('acme:le:a.test', 'resolver:le', shorter.certPem, shorter.keyPem);
  t.equal(s.covers('a.test')!.id, `file:${a.certFile}`, 'replaced by a shorter one: the file wins again');

  const at = new Date().toISOString();
  t.equal(s.update('acme:le:new.test', { lastRenewalAttempt: at, lastError: 'rate limited', lastErrorAt: at }), true);
  t.equal(s.update('acme:le:nothing', { lastError: 'x' }), false);
  t.match(
    s.list().find((r) => r.id === 'acme:le:new.test'),
    { lastRenewalAttempt: at, lastError: 'rate limited' },
  );
  s.put('acme:le:new.test', 'resolver:le', issued.certPem, issued.keyPem);
  t.match(
    s.list().find((r) => r.id === 'acme:le:new.test'),
    { lastRenewalAttempt: at, lastError: null },
    'renewed',
  );

  const rows = s.list();
  t.same(
    rows.map((r) => [r.id, r.source]),
    [
      [`file:${a.certFile}`, 'file'],
      [`file:${wild.certFile}`, 'file'],
      ['acme:le:new.test', 'resolver:le'],
      ['acme:le:a.test', 'resolver:le'],
      ['default', 'self-signed'],
    ],
  );
  t.match(rows[0], { domains: ['a.test', 'www.a.test'], certFile: a.certFile, keyFile: a.keyFile, lastError: null });
  t.ok(Date.parse(rows[0].notAfter) > Date.now() && Date.parse(rows[0].notBefore) <= Date.now());
  t.same(rows[4].domains, []);
  rows[0].domains.push('mutated');
  t.same(s.list()[0].domains, ['a.test', 'www.a.test'], 'list() returns copies');

  t.throws(() => s.put('acme:le:bad', 'resolver:le', CORRUPT_PEM, issued.keyPem), {
    code: 'BATON_CERTIFICATE_INVALID',
  });
  t.throws(() => s.put('acme:le:bad', 'resolver:le', issued.certPem, a.keyPem), {
    code: 'BATON_CERTIFICATE_INVALID',
    part: 'key',
  });
  t.throws(() => s.put(`file:${a.certFile}`, 'resolver:le', issued.certPem, issued.keyPem), /configured certificate/);
  t.throws(() => s.put('default', 'resolver:le', issued.certPem, issued.keyPem), /configured certificate/);

  t.equal(s.remove(`file:${a.certFile}`), false, 'files are not removed');
  t.equal(s.remove('acme:le:new.test'), true);
  t.equal(s.remove('acme:le:new.test'), false);
  t.equal(s.covers('new.test'), null);
  t.equal((await helloOnce(port, { servername: 'new.test' })).subject, 'CN=baton default certificate');
});

t.test('TLS options: minVersion 1.3 refuses a 1.2-only client; cipherSuites apply to TLS 1.2', async (t) => {
  const { ca, a } = setup(t);
  const cipher = 'ECDHE-ECDSA-AES128-GCM-SHA256';
  const { store: s } = store(t, {
    certificates: files(a),
    options: { modern: { minVersion: 'VersionTLS13' }, old: { maxVersion: 'VersionTLS12', cipherSuites: [cipher] } },
  });
  const modern = await sniServer(t, s, 'modern');
  await t.rejects(helloOnce(modern, { ca: ca.pem, servername: 'a.test', maxVersion: 'TLSv1.2' }));
  t.equal((await helloOnce(modern, { ca: ca.pem, servername: 'a.test' })).protocol, 'TLSv1.3');
  const def = await sniServer(t, s);
  t.equal((await helloOnce(def, { ca: ca.pem, servername: 'a.test', maxVersion: 'TLSv1.2' })).protocol, 'TLSv1.2');
  const old = await directServer(t, () => s.contextFor('a.test', 'old'));
  const h = await hello(old, { ca: ca.pem, servername: 'a.test' });
  t.equal(h.protocol, 'TLSv1.2', 'maxVersion 1.2');
  t.equal(h.socket.getCipher().standardName, 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256');
  h.socket.destroy();
});

t.test('expiry warnings once per load; a configured default certificate', async (t) => {
  const { dir, ca, a } = setup(t);
  const soon = makeLeaf(ca, dir, ['soon.test'], { days: 1 });
  const old = selfSignedCertificate({
    commonName: 'old.test',
    dnsNames: ['old.test'],
    notBefore: new Date(Date.now() - 30 * 86_400_000),
    notAfter: new Date(Date.now() - 86_400_000),
  });
  const oldFile = { certFile: join(dir, 'old.crt'), keyFile: join(dir, 'old.key') };
  replaceFile(oldFile.certFile, old.certPem);
  replaceFile(oldFile.keyFile, old.keyPem);
  const { store: s, lines } = store(t, {
    certificates: files(a, soon, oldFile),
    stores: { default: { defaultCertificate: files(a)[0] } },
  });
  const warned = lines.filter((l) => l.level === 40);
  t.match(warned, [
    { msg: 'Certificate expires soon', certificate: `file:${soon.certFile}`, notAfter: String },
    { msg: 'Certificate has expired', certificate: `file:${oldFile.certFile}` },
  ]);
  t.equal(warned.length, 2, 'once each');
  s.reload();
  t.equal(lines.filter((l) => l.level === 40).length, 2, 'an unchanged file is not warned about again');
  t.equal(s.covers('old.test')!.id, `file:${oldFile.certFile}`, 'an expired certificate still covers its names');

  const def = s.list().at(-1)!;
  t.match(def, { id: 'default', source: 'default', certFile: a.certFile, domains: ['a.test', 'www.a.test'] });
  const port = await sniServer(t, s);
  t.same((await helloOnce(port, { ca: ca.pem })).sans, ['a.test', 'www.a.test'], 'no SNI: the configured default');
  const { store: strict } = store(t, {
    options: { default: { sniStrict: true } },
    stores: { default: { defaultCertificate: files(a)[0] } },
  });
  t.not(strict.contextFor('www.a.test'), null, 'sniStrict still serves the default for names it covers');
  t.equal(strict.contextFor('other.test'), null);
  t.equal(strict.contextFor(null), null);
});

t.test('the self-signed default is a valid certificate Node serves', async (t) => {
  const { store: s } = store(t, {});
  const port = await sniServer(t, s);
  const h = await helloOnce(port, { servername: 'anything.test' });
  t.equal(h.subject, 'CN=baton default certificate');
  t.equal(h.protocol, 'TLSv1.3');
  const row = s.list()[0];
  t.match(row, { id: 'default', source: 'self-signed', domains: [], lastError: null });
  const days = (Date.parse(row.notAfter) - Date.now()) / 86_400_000;
  t.ok(days > 364 && days <= 366, `valid a year (${days.toFixed(1)} days)`);
  t.equal(s.watching, 0, 'nothing to watch');
});

t.test('close() leaves no watcher or timer', async (t) => {
  const { a, b } = setup(t);
  const count = (type: string) => process.getActiveResourcesInfo().filter((r) => r === type).length;
  const watchers = count('FSEventWrap');
  const timers = count('Timeout');
  const { log } = logger();
  const s = CertificateStore.load({ tls: tlsSchema.parse({ certificates: files(a, b) }), log });
  t.equal(count('FSEventWrap'), watchers + 1, 'watching the folder');
  replaceFile(a.certFile, a.certPem); // an event: the debounce timer starts
  await waitFor(() => count('Timeout') > timers, 1000, 'debounce timer');
  s.close();
  t.equal(count('Timeout'), timers, 'no timer left at once');
  // a handle is listed until its close callback has run (a few ms)
  await waitFor(() => count('FSEventWrap') === watchers, 1000, 'watcher closed');
  t.pass('no watcher left');
  s.close(); // twice is fine
});
