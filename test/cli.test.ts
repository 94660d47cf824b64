// The CLI as users run it: real child processes (`node bin/baton.js ...`), real signals, real sockets.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import t, { type Test } from 'tap';
import { makeCa, makeLeaf } from './fixtures/certs.ts';
import { closedPort, http, startUpstream, tempDir, waitFor, type TestUpstream } from './fixtures/harness.ts';

const REPO = resolve(import.meta.dirname, '..');
const BIN = join(REPO, 'bin', 'baton.js');

/** The test's environment without any admin URL/token, so the CLI has to find them itself. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.BATON_ADMIN_TOKEN;
  delete env.BATON_ADMIN_URL;
  return { ...env, ...extra };
}

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `baton <args>` to completion (killed and failed after `timeoutMs`). */
function baton(t: Test, args: string[], opts: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: REPO, env: cleanEnv(opts.env), stdio: ['ignore', 'pipe', 'pipe'] });
    t.teardown(() => void (child.exitCode === null && child.signalCode === null && child.kill('SIGKILL')));
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      fail(new Error(`baton ${args.join(' ')} did not finish in time\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, opts.timeoutMs ?? 20_000);
    child.on('error', fail);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      done({ code, signal, stdout, stderr });
    });
  });
}

interface Server {
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stdout: () => string;
  stderr: () => string;
}

/** Starts `baton serve --config <file>` and waits until its admin /healthz answers. */
async function serve(t: Test, config: string, adminPort: number): Promise<Server> {
  const child = spawn(process.execPath, [BIN, 'serve', '--config', config], { cwd: REPO, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('close', (code, signal) => r({ code, signal })));
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  let gone = false;
  void exited.then(() => (gone = true));
  await waitFor(
    async () => {
      if (gone) throw new Error(`baton serve exited early\nstdout: ${stdout}\nstderr: ${stderr}`);
      try {
        return (await fetch(`http://127.0.0.1:${adminPort}/healthz`)).status === 200;
      } catch {
        return false;
      }
    },
    15_000,
    'baton serve to answer /healthz',
  );
  return { child, exited, stdout: () => stdout, stderr: () => stderr };
}

/** True if a TCP connection to the port is refused. */
function refused(port: number): Promise<boolean> {
  return new Promise((r) => {
    const s = connect(port, '127.0.0.1');
    s.setTimeout(1000, () => {
      s.destroy();
      r(false);
    });
    s.on('connect', () => {
      s.destroy();
      r(false);
    });
    s.on('error', (err: NodeJS.ErrnoException) => r(err.code === 'ECONNREFUSED'));
  });
}

/** Free ports for the entrypoint and the admin API, and a config file (no token in it) in a temp folder. */
async function setup(t: Test, upstreams: TestUpstream[], extra = '') {
  const dir = tempDir(t);
  const port = await closedPort();
  let adminPort = await closedPort();
  while (adminPort === port) adminPort = await closedPort();
  const config = join(dir, 'baton.yaml');
  writeFileSync(
    config,
    [
      'entrypoints:',
      '  web:',
      `    address: "127.0.0.1:${port}"`,
      'admin:',
      `  address: "127.0.0.1:${adminPort}"`,
      'stateDir: state',
      'log:',
      '  level: info',
      'timeouts:',
      '  shutdown: 10s',
      'services:',
      '  app:',
      '    rule: "Host(`app.test`)"',
      `    upstreams: [${upstreams.map((u) => `"${u.url}"`).join(', ')}]`,
      extra,
      '',
    ].join('\n'),
  );
  return { dir, config, port, adminPort, tokenFile: join(dir, 'state', 'admin-token') };
}

/** The table row (line) of `baton status` that names this upstream id. */
function row(table: string, id: string): string {
  const lines = table.split('\n').filter((l) => l.includes(id));
  if (lines.length !== 1) throw new Error(`expected one row for ${id} in:\n${table}`);
  return lines[0];
}

t.test('serve with an invalid config exits 2, lists every problem with its path, and listens on nothing', async (t) => {
  const dir = tempDir(t);
  const port = await closedPort();
  const adminPort = await closedPort();
  const bad = join(dir, 'bad.yaml');
  writeFileSync(
    bad,
    [
      'entrypoints:',
      '  web:',
      `    address: "127.0.0.1:${port}"`,
      'admin:',
      `  address: "127.0.0.1:${adminPort}"`,
      'timeouts:',
      '  idle: "5 parsecs"',
      'colour: blue',
      'services:',
      '  app:',
      '    rule: "Host(`app.test`"',
      '    upstreams: ["ftp://127.0.0.1:21"]',
      '',
    ].join('\n'),
  );
  const r = await baton(t, ['serve', '--config', bad]);
  t.equal(r.code, 2, `exit 2 (stderr: ${r.stderr})`);
  t.match(r.stderr, bad, 'names the file');
  t.match(r.stderr, /invalid configuration/);
  for (const path of ['timeouts.idle', 'colour', 'services.app.rule', 'services.app.upstreams.0']) {
    t.match(r.stderr, new RegExp(`^  - ${path.replace(/\./g, '\\.')}: `, 'm'), `lists ${path}`);
  }
  t.equal(r.stderr.split('\n').filter((l) => l.startsWith('  - ')).length, 4, 'exactly four problems');
  t.equal(r.stdout, '', 'nothing was started (no log lines)');
  t.ok(await refused(port), 'the entrypoint port is not listening');
  t.ok(await refused(adminPort), 'the admin port is not listening');
});

t.test('serve with a YAML syntax error exits 2 and names the line', async (t) => {
  const bad = join(tempDir(t), 'syntax.yaml');
  writeFileSync(bad, 'services:\n  app:\n    rule: "Host(`a`)\n');
  const r = await baton(t, ['serve', '--config', bad]);
  t.equal(r.code, 2);
  t.match(r.stderr, /line \d+/);
  t.equal(r.stdout, '');
});

t.test('serve with a missing config file exits 2 with a clear message', async (t) => {
  const missing = join(tempDir(t), 'nope.yaml');
  const r = await baton(t, ['serve', '--config', missing]);
  t.equal(r.code, 2);
  t.match(r.stderr, `cannot read config file ${missing}`);
  t.match(r.stderr, /no such file/);
  t.equal(r.stdout, '');
});

t.test('serve with a missing certificate or a key that does not match exits 2, every problem listed', async (t) => {
  const dir = tempDir(t);
  const ca = makeCa(dir);
  const a = makeLeaf(ca, dir, ['a.test']);
  const other = makeLeaf(ca, dir, ['b.test']);
  const file = join(dir, 'tls.yaml');
  writeFileSync(
    file,
    [
      'entrypoints: { web: { address: "127.0.0.1:0" } }',
      'admin: { address: "127.0.0.1:0" }',
      `stateDir: ${JSON.stringify(join(dir, 'state'))}`,
      'tls:',
      '  certificates:',
      '    - { certFile: missing.pem, keyFile: missing.key }',
      `    - { certFile: ${JSON.stringify(a.certFile)}, keyFile: ${JSON.stringify(other.keyFile)} }`,
      '',
    ].join('\n'),
  );
  const r = await baton(t, ['serve', '--config', file]);
  t.equal(r.code, 2, 'a configuration error');
  t.match(r.stderr, /tls\.certificates\.0\.certFile: /, 'the missing file, by its config path');
  t.match(r.stderr, /tls\.certificates\.1\.keyFile: /, 'the key that does not match');
});

t.test('serve exits 1 when its address is taken', async (t) => {
  const a = await startUpstream(t, 'a');
  const { config, port, adminPort } = await setup(t, [a]);
  const squatter = createServer();
  squatter.listen(port, '127.0.0.1');
  await new Promise((r) => squatter.once('listening', r));
  t.teardown(() => new Promise<void>((r) => squatter.close(() => r())));
  const r = await baton(t, ['serve', '--config', config]);
  t.equal(r.code, 1, `exit 1 (stderr: ${r.stderr})`);
  t.match(r.stderr, /address in use/);
  t.match(r.stderr, String(port));
  t.ok(await refused(adminPort), 'the admin listener that had started was closed again');
});

t.test('usage: help, unknown commands, bad arguments', async (t) => {
  const help = await baton(t, ['help']);
  t.equal(help.code, 0);
  t.match(help.stdout, /^Usage:/m);
  t.match(help.stdout, /baton serve/);
  t.match(help.stdout, /baton drain <upstream-id>/);
  t.equal((await baton(t, ['--help'])).code, 0);
  t.equal((await baton(t, ['-h'])).code, 0);

  const none = await baton(t, []);
  t.equal(none.code, 2, 'no command is a usage error');
  t.match(none.stdout + none.stderr, /Usage:/);

  const unknown = await baton(t, ['frobnicate']);
  t.equal(unknown.code, 2);
  t.match(unknown.stderr, /unknown command "frobnicate"/);
  t.match(unknown.stderr, /Usage:/);

  const flag = await baton(t, ['status', '--frobnicate']);
  t.equal(flag.code, 2);
  t.match(flag.stderr, /frobnicate/);
  t.match(flag.stderr, /Usage:/);

  for (const args of [['drain'], ['enable'], ['drain', 'a', 'b']]) {
    const r = await baton(t, args);
    t.equal(r.code, 2, `baton ${args.join(' ')} → 2`);
    t.match(r.stderr, /expected exactly one upstream id/);
  }
});

t.test('status / drain / enable against a running baton, finding the admin API and token by themselves', async (t) => {
  const a = await startUpstream(t, 'a');
  const b = await startUpstream(t, 'b');
  const { config, port, adminPort, tokenFile } = await setup(t, [a, b]);
  const idA = `app@127.0.0.1:${a.port}`;
  const idB = `app@127.0.0.1:${b.port}`;
  const server = await serve(t, config, adminPort);

  // the token was generated into <stateDir>/admin-token (relative to the config file), 0600, never logged
  t.equal(statSync(tokenFile).mode & 0o777, 0o600);
  const token = readFileSync(tokenFile, 'utf8').trim();
  t.ok(token.length >= 32);
  // pino writes asynchronously: wait for the startup lines
  await waitFor(() => server.stdout().includes('Entrypoint listening'), 5000, 'the startup log lines');
  t.match(server.stdout(), `"tokenFile":"${tokenFile}"`, 'the token file path is logged');
  t.notOk(server.stdout().includes(token), 'the token is not');
  t.notOk(server.stderr().includes(token));

  // traffic flows
  t.equal((await http(port)).status, 200);

  const st = await baton(t, ['status', '--config', config]);
  t.equal(st.code, 0, `status exit 0 (stderr: ${st.stderr})`);
  t.match(row(st.stdout, idA), /healthy/);
  t.match(row(st.stdout, idB), /healthy/);
  t.match(st.stdout, /SERVICE.*UPSTREAM.*STATE/);
  t.match(st.stdout, /app/);

  const js = await baton(t, ['status', '--json', '--config', config]);
  t.equal(js.code, 0, `status --json exit 0 (stderr: ${js.stderr})`);
  const parsed = JSON.parse(js.stdout);
  t.same(
    parsed.services[0].upstreams.map((u: { id: string; state: string }) => [u.id, u.state]),
    [
      [idA, 'healthy'],
      [idB, 'healthy'],
    ],
  );

  const dr = await baton(t, ['drain', idA, '--config', config]);
  t.equal(dr.code, 0, `drain exit 0 (stderr: ${dr.stderr})`);
  t.match(dr.stdout, `${idA}: drained`);
  const afterDrain = await baton(t, ['status', '--config', config]);
  t.match(row(afterDrain.stdout, idA), /drained/);
  t.match(row(afterDrain.stdout, idB), /healthy/);
  for (let i = 0; i < 4; i++) t.equal((await http(port)).headers['x-upstream'], 'b', 'only b gets traffic');

  const en = await baton(t, ['enable', idA, '--config', config]);
  t.equal(en.code, 0, `enable exit 0 (stderr: ${en.stderr})`);
  t.match(en.stdout, `${idA}: healthy`);
  const afterEnable = await baton(t, ['status', '--config', config]);
  t.match(row(afterEnable.stdout, idA), /healthy/);

  const nowait = await baton(t, ['drain', idB, '--no-wait', '--timeout', '5s', '--config', config]);
  t.equal(nowait.code, 0, nowait.stderr);
  t.match(nowait.stdout, new RegExp(`${idB.replace(/\./g, '\\.')}: (draining|drained)`));
  await waitFor(async () => row((await baton(t, ['status', '--config', config])).stdout, idB).includes('drained'), 10_000, 'b drained');
  t.equal((await baton(t, ['enable', idB, '--config', config])).code, 0);

  const missing = await baton(t, ['drain', 'nonexistent', '--config', config]);
  t.equal(missing.code, 1);
  t.match(missing.stderr, /no upstream with id "nonexistent"/);

  const badTimeout = await baton(t, ['drain', idA, '--timeout', 'soon', '--config', config]);
  t.equal(badTimeout.code, 1);
  t.match(badTimeout.stderr, /timeout: invalid duration "soon"/);
  t.match(row((await baton(t, ['status', '--config', config])).stdout, idA), /healthy/, 'a rejected drain changed nothing');

  const wrong = await baton(t, ['status', '--config', config], { env: { BATON_ADMIN_TOKEN: 'wrong-token-0123456789abcdef' } });
  t.equal(wrong.code, 1);
  t.match(wrong.stderr, /token/i);
  t.match(wrong.stderr, /BATON_ADMIN_TOKEN/);
  t.notOk(wrong.stderr.includes(token), 'the real token is not printed');
  t.equal((await baton(t, ['drain', idA, '--config', config], { env: { BATON_ADMIN_TOKEN: 'wrong-token-0123456789abcdef' } })).code, 1);
  t.match(row((await baton(t, ['status', '--config', config])).stdout, idA), /healthy/, 'the unauthorised drain changed nothing');

  const short = await baton(t, ['status', '--config', config], { env: { BATON_ADMIN_TOKEN: 'short' } });
  t.equal(short.code, 2, 'a too-short env token is a configuration error');
  t.match(short.stderr, /BATON_ADMIN_TOKEN: must be at least 16 characters/);

  // the right token through the environment works too, and so do --admin-url / --token
  t.equal((await baton(t, ['status', '--config', config], { env: { BATON_ADMIN_TOKEN: token } })).code, 0);
  const flags = await baton(t, ['status', '--admin-url', `http://127.0.0.1:${adminPort}/`, '--token', token, '--config', config]);
  t.equal(flags.code, 0, flags.stderr);
  t.match(row(flags.stdout, idA), /healthy/);

  t.notOk(server.stdout().includes(token), 'still never logged');
  server.child.kill('SIGTERM');
  t.same(await server.exited, { code: 0, signal: null });
});

t.test('admin commands fail clearly when baton is not running', async (t) => {
  const a = await startUpstream(t, 'a');
  const { config } = await setup(t, [a]);
  const r = await baton(t, ['status', '--config', config], { env: { BATON_ADMIN_TOKEN: 'some-token-0123456789abcdef' } });
  t.equal(r.code, 1);
  t.match(r.stderr, /cannot reach the admin API at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
});

t.test('health: exit 0 and "ok" while baton answers, 1 with the reason when not, 2 on a bad config', async (t) => {
  const a = await startUpstream(t, 'a');
  const { config, adminPort, dir } = await setup(t, [a]);
  const down = await baton(t, ['health', '--config', config]);
  t.equal(down.code, 1, 'nothing listens: exit 1');
  t.match(down.stderr, /^baton health: cannot reach the admin API at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
  await serve(t, config, adminPort);
  // no token anywhere (the token file is not read either: /healthz needs none)
  const up = await baton(t, ['health', '--config', config]);
  t.same([up.code, up.stdout], [0, 'ok\n'], `exit 0 (stderr: ${up.stderr})`);
  // BATON_CONFIG names the file when --config is not given
  const byEnv = await baton(t, ['health'], { env: { BATON_CONFIG: config } });
  t.same([byEnv.code, byEnv.stdout], [0, 'ok\n'], `BATON_CONFIG: exit 0 (stderr: ${byEnv.stderr})`);
  const missing = await baton(t, ['health'], { env: { BATON_CONFIG: join(dir, 'nope.yaml') } });
  t.equal(missing.code, 2, 'a BATON_CONFIG that names no file is an error, not the defaults');
  t.match(missing.stderr, /nope\.yaml: no such file/);
});

t.test('BATON_ADMIN_ADDRESS replaces admin.address; a bad one is reported under its own name and nothing starts', async (t) => {
  const a = await startUpstream(t, 'a');
  const { config } = await setup(t, [a]);
  const other = await closedPort();
  const r = await baton(t, ['serve', '--config', config], { env: { BATON_ADMIN_ADDRESS: 'nowhere' } });
  t.equal(r.code, 2);
  t.match(r.stderr, /BATON_ADMIN_ADDRESS \(admin\.address\): expected "host:port"/);
  // a good one: the admin API answers there
  const child = spawn(process.execPath, [BIN, 'serve', '--config', config], { cwd: REPO, env: cleanEnv({ BATON_ADMIN_ADDRESS: `127.0.0.1:${other}` }), stdio: 'ignore' });
  t.teardown(() => void child.kill('SIGKILL'));
  await waitFor(async () => (await fetch(`http://127.0.0.1:${other}/healthz`).catch(() => null))?.status === 200, 15_000, 'admin on BATON_ADMIN_ADDRESS');
  t.pass(`admin API on 127.0.0.1:${other}`);
  const h = await baton(t, ['health', '--config', config], { env: { BATON_ADMIN_ADDRESS: `127.0.0.1:${other}` } });
  t.equal(h.code, 0, 'the CLI finds it there too');
});

for (const workers of [1, 2]) {
t.test(`SIGTERM${workers > 1 ? ` with workers: ${workers}` : ''}: the in-flight request completes, new connections are refused, exit 0`, async (t) => {
  let release = () => {};
  const gate = new Promise<void>((r) => (release = r));
  const received: IncomingMessage[] = [];
  const slow = await startUpstream(t, 'slow', (req, res) => {
    received.push(req);
    // answers once the test has checked the listener is closed (and at least ~1 s after the request)
    const started = Date.now();
    void gate.then(() => setTimeout(() => res.end('finished'), Math.max(0, 1000 - (Date.now() - started))));
  });
  const fallback = setTimeout(() => release(), 10_000);
  t.teardown(() => {
    clearTimeout(fallback);
    release();
  });
  const { config, port, adminPort } = await setup(t, [slow], workers > 1 ? `workers: ${workers}` : '');
  const server = await serve(t, config, adminPort);

  let answeredAt = 0;
  const pending = http(port, { path: '/slow' }).then((r) => ((answeredAt = performance.now()), r));
  await waitFor(() => received.length === 1, 5000, 'the request to reach the upstream');

  server.child.kill('SIGTERM');
  const signalledAt = performance.now();
  await waitFor(() => refused(port), 5000, 'new connections to be refused');
  const refusedAt = performance.now();
  t.equal(answeredAt, 0, 'connections were refused while the request was still in flight');
  t.equal(server.child.exitCode, null, 'baton is still running, waiting for it');
  release();

  const r = await pending;
  t.equal(r.status, 200, 'the in-flight request completed');
  t.equal(r.body, 'finished');
  t.ok(answeredAt > refusedAt && refusedAt > signalledAt);
  t.same(await server.exited, { code: 0, signal: null }, 'exit 0');
  t.ok(await refused(port));
  t.ok(await refused(adminPort), 'the admin API is closed too');
  t.match(server.stdout(), /"signal":"SIGTERM"/);
  t.match(server.stdout(), /Stopped/);
});
}

t.test('SIGINT stops baton with exit 0', async (t) => {
  const a = await startUpstream(t, 'a');
  const { config, port, adminPort } = await setup(t, [a]);
  const server = await serve(t, config, adminPort);
  t.equal((await http(port)).status, 200);
  server.child.kill('SIGINT');
  t.same(await server.exited, { code: 0, signal: null });
  t.ok(await refused(port));
  t.match(server.stdout(), /"signal":"SIGINT"/);
});

t.test('a second signal during the drain does not kill the requests still in flight', async (t) => {
  let release = () => {};
  const gate = new Promise<void>((r) => (release = r));
  const received: IncomingMessage[] = [];
  const slow = await startUpstream(t, 'slow', (req, res) => {
    received.push(req);
    void gate.then(() => res.end('finished'));
  });
  const fallback = setTimeout(() => release(), 10_000);
  t.teardown(() => {
    clearTimeout(fallback);
    release();
  });
  const { config, port, adminPort } = await setup(t, [slow]);
  const server = await serve(t, config, adminPort);
  const pending = http(port, { path: '/slow' });
  await waitFor(() => received.length === 1, 5000, 'the request to reach the upstream');

  server.child.kill('SIGTERM');
  await waitFor(() => refused(port), 5000, 'the listener to close');
  server.child.kill('SIGTERM');
  server.child.kill('SIGINT');
  await waitFor(() => server.stdout().includes('Already shutting down'), 5000, 'the repeated signals to be noticed');
  t.equal(server.child.exitCode, null, 'still running');
  t.equal(server.child.signalCode, null, 'not killed by the second signal');
  release();
  const r = await pending;
  t.equal(r.status, 200);
  t.equal(r.body, 'finished');
  t.same(await server.exited, { code: 0, signal: null });
});

t.test('certs: a table of the certificates served, expiring ones marked; --json; exit codes as status', async (t) => {
  const a = await startUpstream(t, 'a');
  const dir = tempDir(t);
  const ca = makeCa(dir);
  const ok = makeLeaf(ca, dir, ['a.test', 'www.a.test']);
  const soon = makeLeaf(ca, dir, ['soon.test'], { days: 5 });
  const tls = ['tls:', '  certificates:', ...[ok, soon].flatMap((c) => [`    - certFile: "${c.certFile}"`, `      keyFile: "${c.keyFile}"`])];
  const { config, adminPort, tokenFile } = await setup(t, [a], tls.join('\n'));
  const server = await serve(t, config, adminPort);

  const r = await baton(t, ['certs', '--config', config]);
  t.equal(r.code, 0, `certs exit 0 (stderr: ${r.stderr})`);
  t.match(r.stdout, /DOMAINS.*SOURCE.*NOT AFTER.*EXPIRES IN.*LAST ERROR/);
  t.match(row(r.stdout, 'a.test, www.a.test'), /│ file\s+│ \d{4}-\d\d-\d\d │ (29|30) d\s+│ —/);
  t.notMatch(row(r.stdout, 'a.test, www.a.test'), /⚠/);
  t.match(row(r.stdout, 'soon.test'), /│ ⚠ [45] d\s+│ —/, 'the 5-day certificate is marked');
  t.match(row(r.stdout, '(default)'), /self-signed.*36[45] d/);
  t.match(r.stdout, /⚠ 1 of 3 expire within 14 days/);

  const js = await baton(t, ['certs', '--json', '--config', config]);
  t.equal(js.code, 0, js.stderr);
  const rows = JSON.parse(js.stdout).certificates;
  t.same(
    rows.map((c: { domains: string[]; source: string; expiringSoon: boolean; certFile?: string }) => [c.domains, c.source, c.expiringSoon, c.certFile]),
    [
      [['a.test', 'www.a.test'], 'file', false, ok.certFile],
      [['soon.test'], 'file', true, soon.certFile],
      [[], 'self-signed', false, undefined],
    ],
  );

  const wrong = await baton(t, ['certs', '--config', config], { env: { BATON_ADMIN_TOKEN: 'wrong-token-0123456789abcdef' } });
  t.equal(wrong.code, 1);
  t.match(wrong.stderr, /BATON_ADMIN_TOKEN/);
  const token = readFileSync(tokenFile, 'utf8').trim();
  const flags = await baton(t, ['certs', '--admin-url', `http://127.0.0.1:${adminPort}`, '--token', token]);
  t.equal(flags.code, 0, flags.stderr);
  t.match(flags.stdout, /soon\.test/);
  t.match((await baton(t, ['help'])).stdout, /baton certs \[--json\]/);

  server.child.kill('SIGTERM');
  t.same(await server.exited, { code: 0, signal: null });
  const down = await baton(t, ['certs', '--config', config]);
  t.equal(down.code, 1, 'baton stopped: exit 1');
  t.match(down.stderr, /cannot reach the admin API/);
});

t.test('workers: 2 write whole log lines to a shared stdout, even when the pipe is full', async (t) => {
  const a = await startUpstream(t, 'a');
  const { config, port, adminPort } = await setup(t, [a], 'workers: 2');
  const child = spawn(process.execPath, [BIN, 'serve', '--config', config], { cwd: REPO, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise((r) => child.on('close', r));
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  await waitFor(async () => (await fetch(`http://127.0.0.1:${adminPort}/healthz`).catch(() => null))?.status === 200, 15_000, 'baton serve');
  // stdout is not read for a second: the pipe (64 KiB) fills and the writers wait, then it is read again
  const n = 1500;
  let sent = 0;
  const load = Promise.all(
    Array.from({ length: 30 }, async () => {
      while (sent < n) {
        sent++;
        const r = await http(port);
        if (r.status !== 200) throw new Error(`status ${r.status}`);
      }
    }),
  );
  await new Promise((r) => setTimeout(r, 1000));
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
  await load;
  child.kill('SIGTERM');
  await exited;
  const lines = out.split('\n').filter((l) => l !== '');
  const broken = lines.filter((l) => {
    try {
      JSON.parse(l);
      return false;
    } catch {
      return true;
    }
  });
  t.same(broken.slice(0, 3), [], `every one of ${lines.length} lines is whole JSON`);
  const access = lines.map((l) => JSON.parse(l)).filter((l) => l.component === 'access');
  t.equal(access.length, n, 'one access-log line per request');
  t.same([...new Set(access.map((l) => l.worker))].sort(), [1, 2], 'both workers logged');
});
