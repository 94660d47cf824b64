// The access log: its line builders (json, Traefik's Common Log Format) as tables, hostile header values, its
// writer (batches, reopen, every fd closed), a real baton writing to a file in both formats, and the real
// bin/baton.js reopening its file on SIGUSR1 after a logrotate-style rename — alone and with workers: 2 under load.
import { execFileSync, spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { connect as h2connect } from 'node:http2';
import { join, resolve } from 'node:path';
import t, { type Test } from 'tap';
import { App } from '../src/app.ts';
import { makeCa, makeLeaf } from './fixtures/certs.ts';
import { parseConfig } from '../src/config/load.ts';
import { BUFFER_BYTES, LineWriter } from '../src/log-file.ts';
import {
  clfEscape,
  clfTime,
  commonLine,
  jsonHead,
  jsonLine,
  jsonString,
  MAX_HEADER,
} from '../src/proxy/access-line.ts';
import {
  closedPort,
  http,
  raw,
  startBaton,
  startUpstream,
  tempDir,
  waitFor,
  type TestUpstream,
} from './fixtures/harness.ts';

const REPO = resolve(import.meta.dirname, '..');
const BIN = join(REPO, 'bin', 'baton.js');
/** Traefik's CLF line, field by field */
const CLF =
  /^(\S+) - (\S+) \[(\d\d\/\w{3}\/\d{4}:\d\d:\d\d:\d\d \+0000)\] "(\S+) (\S+) (HTTP\/[\d.]+)" (\d{3}) (\S+) "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)" (\d+) "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)" (\d+)ms$/;

const lines = (file: string) =>
  existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => l !== '')
    : [];
const openFds = () => readdirSync('/proc/self/fd').length;

t.test('json lines: the fields pino wrote, in its order; every value escaped where it needs it', async (t) => {
  const head = jsonHead(Date.UTC(2025, 0, 2, 3, 4, 5, 6), ',"worker":2');
  t.equal(head, '{"level":"info","time":"2025-01-02T03:04:05.006Z","name":"baton","component":"access","worker":2');
  const fwd = jsonLine(head, 'GET', 'a.test', '/x', 200, 'app', 'app@a', 1.25, 0, false, null);
  t.equal(
    fwd,
    head +
      ',"method":"GET","host":"a.test","path":"/x","status":200,"service":"app","upstream":"app@a","duration":1.25,' +
      '"retries":0,"msg":"request"}\n',
  );
  const cases: Array<[string, Parameters<typeof jsonLine>, Record<string, unknown>]> = [
    [
      'answered by baton',
      [head, 'GET', undefined, '/', 404, null, null, 0, -1, false, 'no_route'],
      { status: 404, error: 'no_route', duration: 0 },
    ],
    [
      'a websocket',
      [head, 'GET', 'h', '/ws', 101, null, 'app@a', -1, -1, true, null],
      { upgrade: 'websocket', upstream: 'app@a' },
    ],
    [
      'quotes and backslashes',
      [head, 'GET', 'a"b\\c', '/"x"', 200, null, null, 0, -1, false, null],
      { host: 'a"b\\c', path: '/"x"' },
    ],
    [
      'controls',
      [head, 'GET', 'a\nb\r\u0000', '/\t', 200, null, null, 0, -1, false, null],
      { host: 'a\nb\r\u0000', path: '/\t' },
    ],
    [
      'latin1 and more',
      [head, 'GET', 'é\u00ff\u2028', '/ü', 200, null, null, 0, -1, false, null],
      { host: 'é\u00ff\u2028', path: '/ü' },
    ],
    ['a lone surrogate', [head, 'GET', 'a\ud800b', '/', 200, null, null, 0, -1, false, null], { host: 'a\ud800b' }],
  ];
  for (const [name, args, want] of cases) {
    const line = jsonLine(...args);
    t.ok(line.endsWith('}\n') && line.indexOf('\n') === line.length - 1, `${name}: one line`);
    const parsed = JSON.parse(line);
    for (const [k, v] of Object.entries(want)) t.equal(parsed[k], v, `${name}: ${k}`);
    t.equal(parsed.msg, 'request');
  }
  t.ok(jsonLine(...cases[5][1]).includes('"a\\ud800b"'), 'a lone surrogate is written escaped (the bytes stay UTF-8)');
  t.equal(jsonString('x'.repeat(5000), 100), `"${'x'.repeat(97)}..."`, 'cut to its bound');
  const long = jsonLine(head, 'GET', 'h'.repeat(9000), '/'.repeat(9000), 200, null, null, 0, -1, false, null);
  t.ok(Buffer.byteLength(long) < 4096, `a line of hostile lengths stays under PIPE_BUF (${long.length})`);
});

t.test('common lines: Traefik CLF; quotes, controls and non-ASCII escaped, so no field can be forged', async (t) => {
  t.equal(clfTime(Date.UTC(2025, 10, 7, 8, 9, 10)), '07/Nov/2025:08:09:10 +0000');
  const time = clfTime(Date.UTC(2025, 0, 1));
  const line = commonLine(
    '10.0.0.1',
    time,
    'GET',
    '/x',
    'HTTP/1.1',
    200,
    -1,
    undefined,
    'curl/8',
    7,
    'app',
    'http://u:80',
    12,
  );
  t.equal(
    line,
    '10.0.0.1 - - [01/Jan/2025:00:00:00 +0000] "GET /x HTTP/1.1" 200 - "-" "curl/8" 7 "app" "http://u:80" 12ms\n',
  );
  const escapes: Array<[string, string]> = [
    ['plain', 'plain'],
    ['a"b', 'a\\"b'],
    ['back\\slash', 'back\\\\slash'],
    ['new\nline\r\t', 'new\\nline\\r\\t'],
    ['\u0000\u001f\u007f', '\\x00\\x1f\\x7f'],
    ['caf\u00c3\u00a9', 'caf\\xc3\\xa9'], // UTF-8 bytes as Node reads them (latin1): one \xHH per byte, as nginx
    ['\u20ac', '\\u20ac'],
  ];
  for (const [input, want] of escapes) t.equal(clfEscape(input, 100), want, JSON.stringify(input));
  const forged = 'x" 500 - "-" "y';
  // an HTTP/2 :path may hold a space: written \x20, so the request field keeps its three parts
  const hostile = commonLine(
    undefined,
    time,
    'GET',
    '/a"b c',
    'HTTP/2.0',
    404,
    12,
    forged,
    'ua\n1.2.3.4 - - [x]',
    1,
    null,
    null,
    0,
  );
  t.equal(hostile.indexOf('\n'), hostile.length - 1, 'one line');
  const m = CLF.exec(hostile.slice(0, -1));
  t.same(
    m?.slice(1),
    [
      '-',
      '-',
      time,
      'GET',
      '/a\\"b\\x20c',
      'HTTP/2.0',
      '404',
      '12',
      'x\\" 500 - \\"-\\" \\"y',
      'ua\\n1.2.3.4 - - [x]',
      '1',
      '-',
      '-',
      '0',
    ],
    "still Traefik's fields, none forged",
  );
  const long = commonLine(
    '1.2.3.4',
    time,
    'GET',
    '/'.repeat(9000),
    'HTTP/1.1',
    200,
    -1,
    '"'.repeat(9000),
    '\n'.repeat(9000),
    1,
    'a',
    'b',
    1,
  );
  t.ok(long.length < 4096, `hostile lengths stay under PIPE_BUF (${long.length})`);
  const ua = CLF.exec(long.slice(0, -1))?.[10];
  t.equal(ua, '\\n'.repeat(MAX_HEADER - 3) + '...', 'a long value is cut (before escaping), marked "..."');
});

t.test('LineWriter: batches whole lines, reopens at the same path, closes its fd and timer', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'access.log');
  const before = openFds();
  const exitListeners = process.listenerCount('exit');
  const w = new LineWriter({ path: file });
  t.equal(process.listenerCount('exit'), exitListeners + 1, 'it writes out at exit');
  t.equal(statSync(file).mode & 0o777, 0o640 & ~process.umask(), 'created 0640');
  w.write('one\n');
  t.equal(readFileSync(file, 'utf8'), '', 'buffered');
  await waitFor(() => readFileSync(file, 'utf8') === 'one\n', 2000, 'the 250 ms flush');
  const line = `${'x'.repeat(99)}\n`;
  for (let i = 0; i < BUFFER_BYTES / 100 + 1; i++) w.write(line);
  t.ok(readFileSync(file, 'utf8').length >= BUFFER_BYTES, 'written at 8 KiB');
  w.write('before\n');
  renameSync(file, `${file}.1`);
  w.reopen();
  w.write('after\n');
  w.close();
  w.close();
  t.equal(w.write('late\n'), false, 'nothing after close');
  t.ok(readFileSync(`${file}.1`, 'utf8').endsWith('before\n'), 'what came before the reopen: the old file');
  t.equal(readFileSync(file, 'utf8'), 'after\n', 'the next line: the new file');
  t.equal(openFds(), before, 'every fd closed');
  // stdout redirected to a file: written as a file is, at once on close
  const redirected = openSync(join(dir, 'redirected.log'), 'a');
  const file2 = new LineWriter({ fd: redirected, async: true });
  file2.write('a\n');
  file2.close();
  t.equal(readFileSync(join(dir, 'redirected.log'), 'utf8'), 'a\n');
  closeSync(redirected);
  t.equal(process.listenerCount('exit'), exitListeners, 'its exit listener removed');

  // stdout's writer on a pipe (docker logs): async batches; a reader that does not read for a second fills the
  // pipe, and the event loop goes on meanwhile
  const fifo = join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  const outFile = join(dir, 'out.log');
  const reader = spawn('sh', ['-c', `exec 3<"${fifo}"; sleep 1; cat <&3 > "${outFile}"`], { stdio: 'ignore' });
  const readerDone = new Promise((r) => reader.on('close', r));
  const fd = openSync(fifo, 'w');
  const out = new LineWriter({ fd, async: true });
  const n = 5000;
  const started = performance.now();
  for (let i = 0; i < n; i++) out.write(`line ${i} ${'é'.repeat(i % 7)}\n`);
  await new Promise((r) => setTimeout(r, 20));
  t.ok(performance.now() - started < 500, 'the event loop was not held up by the full pipe');
  out.close();
  await waitFor(() => lines(outFile).length === n, 5000, 'the async writes');
  closeSync(fd);
  await readerDone;
  t.same(
    lines(outFile).map((l) => l.split(' ').slice(1).join(' ')),
    Array.from({ length: n }, (_, i) => `${i} ${'é'.repeat(i % 7)}`),
    'every line whole, in order, UTF-8 intact',
  );
  t.throws(() => new LineWriter({ path: join(dir, 'missing', 'x.log') }), { code: 'ENOENT' });
});

t.test('LineWriter: what is buffered is written out when the process exits on an error', async (t) => {
  const file = join(tempDir(t), 'exit.log');
  const script =
    `import { LineWriter } from ${JSON.stringify(join(REPO, 'src', 'log-file.ts'))};` +
    `const w = new LineWriter({ path: ${JSON.stringify(file)} }); w.write('last words\\n');` +
    `setTimeout(() => { throw new Error('crash'); }, 10);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'ignore' });
  const code = await new Promise((r) => child.on('close', r));
  t.equal(code, 1, 'it crashed');
  t.equal(readFileSync(file, 'utf8'), 'last words\n', 'before the 250 ms flush');
});

/** Polls until the file has `n` lines. */
async function linesIn(file: string, n: number): Promise<string[]> {
  await waitFor(() => lines(file).length >= n, 5000, `${n} lines in ${file}`);
  return lines(file);
}

t.test('a real baton logs to its file: json and common; hostile header values stay one line each', async (t) => {
  const up = await startUpstream(t, 'a');
  const dir = tempDir(t);
  for (const format of ['json', 'common'] as const) {
    const file = join(dir, `${format}.log`);
    const b = await startBaton(t, {
      log: { level: 'info', accessLogFormat: format, accessLogFile: file },
      services: { app: { rule: 'Host(`app.test`)', upstreams: [up.url] } },
    });
    const okRes = await http(b.port, { path: '/ok?secret=1', headers: { 'user-agent': 'ua/1', referer: 'http://r/' } });
    t.equal(okRes.status, 200);
    t.equal((await http(b.port, { host: 'nope.test', path: '/none' })).status, 404);
    const evil = 'evil" 500 - "-" "forged\tü\u00ff' + 'x'.repeat(3000);
    const r = await raw(
      b.port,
      Buffer.from(
        `GET /h HTTP/1.1\r\nHost: app.test\r\nUser-Agent: ${evil}\r\nReferer: a"b\r\nConnection: close\r\n\r\n`,
        'latin1',
      ),
    );
    t.match(r.data, /^HTTP\/1\.1 200/);
    const split = await raw(
      b.port,
      'GET /split HTTP/1.1\r\nHost: app.test\r\nUser-Agent: a\nFake: 1\r\nConnection: close\r\n\r\n',
    );
    t.notMatch(split.data, /^HTTP\/1\.1 200/, 'a bare LF in a header is refused by the parser');
    const got = await linesIn(file, 3);
    t.notOk(
      b.logs.some((l) => l.component === 'access'),
      `${format}: nothing on stdout`,
    );
    t.equal(got.length, 3, `${format}: one line per request`);
    t.notOk(got.join('\n').includes('secret'), 'no query string');
    if (format === 'json') {
      const [ok, none, h] = got.map((l) => JSON.parse(l));
      t.match(ok, {
        level: 'info',
        name: 'baton',
        component: 'access',
        method: 'GET',
        host: 'app.test',
        path: '/ok',
        status: 200,
        service: 'app',
        retries: 0,
        msg: 'request',
      });
      t.type(ok.duration, 'number');
      t.match(none, { host: 'nope.test', path: '/none', status: 404 });
      t.equal(h.path, '/h');
    } else {
      const [ok, none, h] = got.map((l) => CLF.exec(l));
      t.ok(ok && none && h, 'each parses as CLF');
      t.same(
        [ok![1], ok![4], ok![5], ok![6], ok![7], ok![9], ok![10], ok![11], ok![12], ok![13]],
        ['127.0.0.1', 'GET', '/ok', 'HTTP/1.1', '200', 'http://r/', 'ua/1', '1', 'app', up.url],
      );
      t.equal(ok![8], String(Buffer.byteLength(okRes.body)), 'the size: the body bytes forwarded');
      t.same([none![5], none![7], none![11], none![12], none![13]], ['/none', '404', '2', '-', '-']);
      t.equal(h![7], '200', 'the forged status is not the line status');
      t.match(
        h![10],
        /^evil\\" 500 - \\"-\\" \\"forged\\t\\xfc\\xffx+\.\.\.$/,
        'the user-agent: escaped, cut, one field',
      );
      t.equal(h![9], 'a\\"b');
    }
  }
});

t.test('HTTP/2 in the common format: HTTP/2.0, the peer address, header values escaped', async (t) => {
  const dir = tempDir(t);
  const ca = makeCa(dir);
  const cert = makeLeaf(ca, dir, ['h2.test']);
  const up = await startUpstream(t, 'a');
  const file = join(dir, 'h2.log');
  const b = await startBaton(t, {
    log: { level: 'info', accessLogFormat: 'common', accessLogFile: file },
    tls: { certificates: [{ certFile: cert.certFile, keyFile: cert.keyFile }] },
    services: { h2: { rule: 'Host(`h2.test`)', upstreams: [up.url], tls: true } },
  });
  const session = h2connect(`https://127.0.0.1:${b.port}`, { ca: ca.pem, servername: 'h2.test' });
  t.teardown(() => session.destroy());
  const status = await new Promise<number>((resolve, reject) => {
    const headers = { ':path': '/two?q=1', ':authority': 'h2.test', 'user-agent': 'h2 "client" \u00e9' };
    const req = session.request(headers);
    let code = 0;
    req.on('response', (h) => (code = Number(h[':status'])));
    req.on('end', () => resolve(code));
    req.on('error', reject);
    req.resume();
  });
  t.equal(status, 200);
  const [line] = await linesIn(file, 1);
  const m = CLF.exec(line);
  t.same(
    [m?.[1], m?.[4], m?.[5], m?.[6], m?.[7], m?.[10], m?.[12]],
    ['127.0.0.1', 'GET', '/two', 'HTTP/2.0', '200', 'h2 \\"client\\" \\xe9', 'h2'],
  );
});

t.test('an access log file that cannot be opened: baton does not start', async (t) => {
  const dir = tempDir(t);
  const config = parseConfig(
    {
      entrypoints: { web: { address: '127.0.0.1:0' } },
      admin: { address: '127.0.0.1:0', token: 'test-admin-token-0123456789' },
      stateDir: dir,
      log: { level: 'silent', accessLogFile: join(dir, 'no', 'such', 'dir', 'access.log') },
    },
    { env: {}, baseDir: dir },
  );
  await t.rejects(App.start(config), { code: 'ENOENT' });
});

/** `baton serve` with its access log in `access.log` next to its config; returns what it needs to be driven. */
async function serve(t: Test, up: TestUpstream, extra: string, file = true) {
  const dir = tempDir(t);
  const port = await closedPort();
  let adminPort = await closedPort();
  while (adminPort === port) adminPort = await closedPort();
  const config = join(dir, 'baton.yaml');
  const yaml = `entrypoints:\n  web:\n    address: "127.0.0.1:${port}"\nadmin:\n  address: "127.0.0.1:${adminPort}"\nstateDir: state
log:\n  level: info\n${file ? '  accessLogFile: access.log\n' : ''}${extra}\nservices:\n  app:\n    rule: "Host(\`app.test\`)"\n    upstreams: ["${up.url}"]\n`;
  writeFileSync(config, yaml);
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const child = spawn(process.execPath, [BIN, 'serve', '--config', config], {
    cwd: REPO,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  await waitFor(
    async () => (await fetch(`http://127.0.0.1:${adminPort}/healthz`).catch(() => null))?.status === 200,
    15_000,
    'baton serve',
  );
  const reopened = () => stdout.split('\n').filter((l) => l.includes('"msg":"Reopened the access log file"')).length;
  return { file: join(dir, 'access.log'), port, child, exited, stdout: () => stdout, stderr: () => stderr, reopened };
}

t.test('SIGUSR1 reopens the access log file: logrotate renames it, the next line goes to a new file', async (t) => {
  const up = await startUpstream(t, 'a');
  const b = await serve(t, up, '');
  t.equal(statSync(b.file).mode & 0o777, 0o640 & ~process.umask(), 'created 0640 (less the umask)');
  for (let i = 0; i < 5; i++) t.equal((await http(b.port, { path: `/a${i}` })).status, 200);
  await linesIn(b.file, 5);
  renameSync(b.file, `${b.file}.1`);
  b.child.kill('SIGUSR1');
  await waitFor(() => b.reopened() === 1, 5000, 'the reopen');
  t.ok(existsSync(b.file), 'a new file at the same path');
  for (let i = 0; i < 7; i++) t.equal((await http(b.port, { path: `/b${i}` })).status, 200);
  b.child.kill('SIGTERM');
  t.equal(await b.exited, 0);
  t.same(
    lines(`${b.file}.1`).map((l) => JSON.parse(l).path),
    ['/a0', '/a1', '/a2', '/a3', '/a4'],
    'the old file',
  );
  t.same(
    lines(b.file).map((l) => JSON.parse(l).path),
    ['/b0', '/b1', '/b2', '/b3', '/b4', '/b5', '/b6'],
    'the new file',
  );
  t.notMatch(b.stderr(), /Debugger listening/, 'SIGUSR1 did not start the inspector');
});

t.test(
  'workers: 2, common format: the reopen reaches both workers; under load nothing is lost or doubled',
  async (t) => {
    const up = await startUpstream(t, 'a');
    const b = await serve(t, up, '  accessLogFormat: common\nworkers: 2');
    const n = 600;
    let sent = 0;
    let done = 0;
    const finishedBefore: number[] = [];
    let signalled = false;
    const load = Promise.all(
      Array.from({ length: 10 }, async () => {
        while (sent < n) {
          const i = sent++;
          const r = await http(b.port, { path: `/c${i}` });
          if (r.status !== 200) throw new Error(`status ${r.status}`);
          done++;
          if (!signalled) finishedBefore.push(i);
        }
      }),
    );
    await waitFor(() => done >= n / 3, 20_000, 'a third of the requests');
    renameSync(b.file, `${b.file}.1`);
    signalled = true;
    b.child.kill('SIGUSR1');
    await load;
    await waitFor(() => b.reopened() === 2, 5000, 'both workers reopened');
    b.child.kill('SIGTERM');
    t.equal(await b.exited, 0);
    const old = lines(`${b.file}.1`);
    const fresh = lines(b.file);
    const paths = (ls: string[]) => ls.map((l) => CLF.exec(l)?.[5]);
    t.notOk(
      [...old, ...fresh].some((l) => CLF.exec(l) === null),
      'every line is a whole CLF line',
    );
    const all = [...paths(old), ...paths(fresh)];
    t.equal(all.length, n, `${n} lines in all (${old.length} before the reopen, ${fresh.length} after)`);
    t.equal(new Set(all).size, n, 'none twice');
    const inOld = new Set(paths(old));
    t.ok(
      finishedBefore.every((i) => inOld.has(`/c${i}`)),
      'every request answered before the signal is in the old file',
    );
    t.ok(fresh.length > 0, 'the new file got the later ones');
    const workers = new Set(
      b
        .stdout()
        .split('\n')
        .filter((l) => l.includes('Reopened the access log file'))
        .map((l) => JSON.parse(l).worker),
    );
    t.same([...workers].sort(), [1, 2]);
  },
);

t.test('SIGUSR1 without an access log file: said, and baton keeps serving', async (t) => {
  const up = await startUpstream(t, 'a');
  const b = await serve(t, up, '', false);
  b.child.kill('SIGUSR1');
  await waitFor(() => b.stdout().includes('No access log file to reopen'), 5000, 'the answer to SIGUSR1');
  t.equal((await http(b.port, { path: '/x' })).status, 200);
  await waitFor(() => b.stdout().includes('"path":"/x"'), 2000, 'the access line on stdout');
  b.child.kill('SIGTERM');
  t.equal(await b.exited, 0);
});
