import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import t, { type Test } from 'tap';
import * as D from '../src/config/defaults.ts';
import { loadConfig, parseConfig } from '../src/config/load.ts';
import { ConfigError } from '../src/errors.ts';
import { tempDir } from './fixtures/harness.ts';

const REPO = resolve(import.meta.dirname, '..');

/** The problems a config raises (fails the test if it is accepted or throws something else). */
function problemsOf(t: Test, fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    t.type(err, ConfigError, 'a ConfigError');
    t.equal((err as ConfigError).code, 'BATON_CONFIG_INVALID');
    return (err as ConfigError).problems;
  }
  t.fail('the config was accepted');
  return [];
}

/** Writes a YAML file into a fresh temp folder and returns its path. */
function yamlFile(t: Test, text: string, name = 'baton.yaml'): string {
  const dir = tempDir(t);
  const file = join(dir, name);
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, text);
  return file;
}

t.test('an empty config gets every default, durations and sizes as numbers', async (t) => {
  const c = parseConfig({}, { env: {}, baseDir: '/srv/baton' });
  t.same(c.entrypoints, {
    web: {
      address: D.DEFAULT_ENTRYPOINT_ADDRESS,
      forwardedHeaders: { trustedIPs: [], insecure: false },
      http: { middlewares: [] },
      http2: { maxConcurrentStreams: D.DEFAULT_H2_MAX_CONCURRENT_STREAMS },
    },
  });
  t.same(c.tls, { options: {}, certificates: [], stores: {} }, 'no TLS unless configured');
  t.same(c.certificatesResolvers, {});
  t.equal(c.admin.address, D.DEFAULT_ADMIN_ADDRESS);
  t.equal(c.admin.token, undefined, 'no token unless one is given');
  t.equal(c.stateDir, D.DEFAULT_STATE_DIR);
  t.equal(c.stateDirPath, resolve('/srv/baton', D.DEFAULT_STATE_DIR));
  t.equal(c.tokenFilePath, resolve('/srv/baton', D.DEFAULT_STATE_DIR, D.ADMIN_TOKEN_FILE_NAME));
  t.equal(c.file, null);
  t.same(c.log, { level: 'info', accessLog: true, accessLogFormat: 'json' });
  t.same(c.metrics, { enabled: true, public: false, buckets: D.DEFAULT_METRICS_BUCKETS });
  t.same(c.timeouts, {
    header: D.DEFAULT_HEADER_TIMEOUT_MS,
    request: D.DEFAULT_REQUEST_TIMEOUT_MS,
    idle: D.DEFAULT_IDLE_TIMEOUT_MS,
    socket: D.DEFAULT_SOCKET_TIMEOUT_MS,
    upstreamConnect: D.DEFAULT_UPSTREAM_CONNECT_TIMEOUT_MS,
    upstreamResponse: D.DEFAULT_UPSTREAM_RESPONSE_TIMEOUT_MS,
    upstreamBody: D.DEFAULT_UPSTREAM_BODY_TIMEOUT_MS,
    upstreamKeepAlive: D.DEFAULT_UPSTREAM_KEEPALIVE_TIMEOUT_MS,
    shutdown: D.DEFAULT_SHUTDOWN_TIMEOUT_MS,
  });
  t.same(c.limits, { maxConnections: D.DEFAULT_MAX_CONNECTIONS, maxHeaderSize: D.DEFAULT_MAX_HEADER_SIZE_BYTES, maxBodySize: D.DEFAULT_MAX_BODY_SIZE_BYTES });
  t.same(c.providers.docker, { enabled: false, endpoint: 'unix:///var/run/docker.sock', exposedByDefault: false, publishedPorts: false, network: '' });
  t.same(c.services, {});
  // null (an empty YAML document) is the same as {}
  t.same(parseConfig(null, { env: {}, baseDir: '/srv/baton' }), c);
});

t.test('a service gets its defaults; units are normalised', async (t) => {
  const c = parseConfig(
    {
      timeouts: { header: '1m30s', idle: 2500, shutdown: '1.5s' },
      limits: { maxHeaderSize: '32kb', maxBodySize: '1.5mb' },
      services: {
        app: { rule: 'Host(`app.test`)', upstreams: ['http://127.0.0.1:3001', 'http://127.0.0.1:3002/'] },
        checked: { rule: 'Host(`c.test`)', healthCheck: {}, drainTimeout: '2m' },
      },
    },
    { env: {} },
  );
  t.equal(c.timeouts.header, 90_000);
  t.equal(c.timeouts.idle, 2500);
  t.equal(c.timeouts.shutdown, 1500);
  t.equal(c.timeouts.request, D.DEFAULT_REQUEST_TIMEOUT_MS, 'unset siblings keep their defaults');
  t.equal(c.limits.maxHeaderSize, 32 * 1024);
  t.equal(c.limits.maxBodySize, 1.5 * 1024 * 1024);
  t.same(c.services.app, {
    rule: 'Host(`app.test`)',
    upstreams: ['http://127.0.0.1:3001', 'http://127.0.0.1:3002/'],
    loadBalancer: 'round-robin',
    passHostHeader: true,
    passive: { failures: D.DEFAULT_PASSIVE_FAILURES, cooldown: D.DEFAULT_PASSIVE_COOLDOWN_MS },
    retries: D.DEFAULT_RETRIES,
    retryBudget: D.DEFAULT_RETRY_BUDGET_MS,
    drainTimeout: D.DEFAULT_DRAIN_TIMEOUT_MS,
    hold: {
      maxRequests: D.DEFAULT_HOLD_MAX_REQUESTS,
      maxBytes: D.DEFAULT_HOLD_MAX_BYTES,
      timeout: D.DEFAULT_HOLD_TIMEOUT_MS,
      whenUnavailable: false,
    },
    maxConnectionsPerUpstream: D.DEFAULT_UPSTREAM_MAX_CONNECTIONS,
  });
  t.equal(c.services.app.healthCheck, undefined, 'no health check unless configured');
  // no path: the probe is a TCP connect
  t.same(c.services.checked.healthCheck, {
    interval: D.DEFAULT_HEALTH_INTERVAL_MS,
    timeout: D.DEFAULT_HEALTH_TIMEOUT_MS,
    rise: D.DEFAULT_HEALTH_RISE,
    fall: D.DEFAULT_HEALTH_FALL,
  });
  t.same(c.services.checked.upstreams, []);
  t.equal(c.services.checked.drainTimeout, 120_000);
});

t.test('every problem is reported at once, each with its path', async (t) => {
  const problems = problemsOf(t, () =>
    parseConfig(
      {
        timeouts: { header: '5x' },
        bogus: true,
        services: { app: { rule: 'Host(`app.test`', upstreams: ['ftp://127.0.0.1:21'] } },
      },
      { env: {} },
    ),
  );
  t.equal(problems.length, 4, `four problems: ${problems.join(' | ')}`);
  const byPath = (p: string) => problems.filter((x) => x.startsWith(`${p}: `));
  t.equal(byPath('timeouts.header').length, 1, 'the bad duration');
  t.match(byPath('timeouts.header')[0], /invalid duration "5x"/);
  t.equal(byPath('bogus').length, 1, 'the unknown key');
  t.match(byPath('bogus')[0], /unknown key/);
  t.equal(byPath('services.app.upstreams.0').length, 1, 'the bad upstream URL');
  t.match(byPath('services.app.upstreams.0')[0], /upstream URL/);
  t.equal(byPath('services.app.rule').length, 1, 'the bad rule, even though the schema failed too');
  t.match(byPath('services.app.rule')[0], /position \d+/);
});

t.test('the ConfigError message lists every problem too', async (t) => {
  try {
    parseConfig({ timeouts: { idle: 'soon', socket: -1 } }, { env: {} });
    t.fail('accepted');
  } catch (err) {
    t.match((err as Error).message, /timeouts\.idle: invalid duration "soon"/);
    t.match((err as Error).message, /timeouts\.socket: invalid duration -1/);
  }
});

t.test('unknown keys are reported with their full path, one problem each', async (t) => {
  t.same(problemsOf(t, () => parseConfig({ entrypointz: {} }, { env: {} })), ['entrypointz: unknown key']);
  const nested = problemsOf(t, () => parseConfig({ timeouts: { headr: '1s', idel: '1s' }, services: { app: { rule: 'Host(`a`)', retry: 2 } } }, { env: {} }));
  t.same(nested.toSorted(), ['services.app.retry: unknown key', 'timeouts.headr: unknown key', 'timeouts.idel: unknown key']);
  t.same(problemsOf(t, () => parseConfig({ admin: { tokn: 'x'.repeat(20) } }, { env: {} })), ['admin.tokn: unknown key']);
});

t.test('bad values name their path', async (t) => {
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ entrypoints: { web: { address: 'nope' } } }, /^entrypoints\.web\.address: expected "host:port"/],
    [{ entrypoints: { web: { address: '127.0.0.1:70000' } } }, /^entrypoints\.web\.address: /],
    [{ entrypoints: {} }, /^entrypoints: at least one entrypoint/],
    [{ admin: { address: '127.0.0.1' } }, /^admin\.address: /],
    [{ admin: { token: 'short' } }, /^admin\.token: must be at least 16 characters/],
    [{ log: { level: 'loud' } }, /^log\.level: /],
    [{ limits: { maxBodySize: '10 parsecs' } }, /^limits\.maxBodySize: invalid size "10 parsecs"/],
    [{ limits: { maxConnections: 0 } }, /^limits\.maxConnections: /],
    [{ services: { 'bad name!': { rule: 'Host(`a`)' } } }, /^services\.bad name!: invalid name: service names are/],
    [{ services: { app: { rule: '' } } }, /^services\.app\.rule: /],
    [{ services: { app: { rule: 'Host(`a`)', loadBalancer: 'random' } } }, /^services\.app\.loadBalancer: /],
    [{ services: { app: { rule: 'Host(`a`)', upstreams: ['http://127.0.0.1:3001/path'] } } }, /^services\.app\.upstreams\.0: /],
    [{ services: { app: { rule: 'Host(`a`)', upstreams: ['not a url'] } } }, /^services\.app\.upstreams\.0: /],
    [{ services: { app: { rule: 'Host(`a`)', upstreams: ['http://127.0.0.1:3001', 'http://127.0.0.1:3001/'] } } }, /^services\.app\.upstreams\.1: duplicate upstream/],
    [{ services: { app: { rule: 'Host(`a`)', healthCheck: { path: 'health' } } } }, /^services\.app\.healthCheck\.path: must start with "\/"/],
    [{ services: { app: { rule: 'Host(`a`)', healthCheck: { rise: 0 } } } }, /^services\.app\.healthCheck\.rise: /],
    [{ services: { app: { rule: 'Host(`a`)', drainTimeout: '1000h' } } }, /^services\.app\.drainTimeout: invalid duration "1000h".*at most/],
    [{ entrypoints: { web: { address: '127.0.0.1:8080', forwardedHeaders: { trustedIPs: ['10.0.0.0/33'] } } } }, /^entrypoints\.web\.forwardedHeaders\.trustedIPs\.0: /],
  ];
  for (const [raw, want] of cases) {
    const problems = problemsOf(t, () => parseConfig(raw, { env: {} }));
    t.equal(problems.length, 1, `one problem for ${JSON.stringify(raw)}: ${problems.join(' | ')}`);
    t.match(problems[0], want);
  }
});

t.test('a config that is not a mapping is rejected', async (t) => {
  for (const raw of [[], 'text', 42, true]) t.same(problemsOf(t, () => parseConfig(raw, { env: {} })), ['the config must be a YAML mapping']);
});

t.test('BATON_ADMIN_TOKEN overrides the configured token', async (t) => {
  const fromFile = 'file-token-0123456789abcdef';
  const fromEnv = 'env-token-0123456789abcdef';
  t.equal(parseConfig({ admin: { token: fromFile } }, { env: { BATON_ADMIN_TOKEN: fromEnv } }).admin.token, fromEnv);
  t.equal(parseConfig({}, { env: { BATON_ADMIN_TOKEN: fromEnv } }).admin.token, fromEnv);
  t.equal(parseConfig({ admin: { token: fromFile } }, { env: {} }).admin.token, fromFile);
  t.equal(parseConfig({ admin: { token: fromFile } }, { env: { BATON_ADMIN_TOKEN: '' } }).admin.token, fromFile, 'an empty variable is unset');
});

t.test('a too-short BATON_ADMIN_TOKEN is an error, reported with the other problems', async (t) => {
  t.same(problemsOf(t, () => parseConfig({}, { env: { BATON_ADMIN_TOKEN: 'short' } })), ['BATON_ADMIN_TOKEN: must be at least 16 characters']);
  t.same(problemsOf(t, () => parseConfig({ admin: { token: 'x'.repeat(20) } }, { env: { BATON_ADMIN_TOKEN: 'y'.repeat(15) } })), [
    'BATON_ADMIN_TOKEN: must be at least 16 characters',
  ]);
  const both = problemsOf(t, () => parseConfig({ timeouts: { idle: 'x' } }, { env: { BATON_ADMIN_TOKEN: 'short' } }));
  t.equal(both.length, 2, both.join(' | '));
  t.ok(both.some((p) => p.startsWith('timeouts.idle: ')));
  t.ok(both.includes('BATON_ADMIN_TOKEN: must be at least 16 characters'));
  t.notOk(both.join('\n').includes('short'), 'the rejected token is not echoed');
});

t.test('the admin API never shares an address with an entrypoint', async (t) => {
  const clash = (entry: string, admin: string) => problemsOf(t, () => parseConfig({ entrypoints: { web: { address: entry } }, admin: { address: admin } }, { env: {} }));
  for (const [entry, admin] of [
    ['127.0.0.1:9000', '127.0.0.1:9000'],
    ['0.0.0.0:9000', '127.0.0.1:9000'], // the wildcard holds every address on that port
    [':9000', '127.0.0.1:9000'],
    ['127.0.0.1:9000', '0.0.0.0:9000'],
    ['[::]:9000', '127.0.0.1:9000'],
    ['127.0.0.1:9000', 'localhost:9000'],
    ['[::1]:9000', 'localhost:9000'],
    ['[::]:9000', '[::1]:9000'],
  ]) {
    const problems = clash(entry, admin);
    t.equal(problems.length, 1, `${entry} vs ${admin}: ${problems.join(' | ')}`);
    t.match(problems[0], /^admin\.address: .*entrypoints\.web\.address/);
  }
  // the default entrypoint (0.0.0.0:8080) counts too
  t.match(problemsOf(t, () => parseConfig({ admin: { address: '127.0.0.1:8080' } }, { env: {} })), [/^admin\.address: .*entrypoints\.web\.address/]);

  // fine: different ports, different specific hosts, or ephemeral ports
  for (const [entry, admin] of [
    ['0.0.0.0:9000', '127.0.0.1:9001'],
    ['127.0.0.1:9000', '127.0.0.2:9000'],
    ['127.0.0.1:0', '127.0.0.1:0'],
    ['0.0.0.0:9000', '[::1]:9000'], // an IPv4 wildcard leaves IPv6 loopback free
    ['[::1]:9000', '127.0.0.1:9000'],
  ]) {
    t.doesNotThrow(() => parseConfig({ entrypoints: { web: { address: entry } }, admin: { address: admin } }, { env: {} }), `${entry} and ${admin}`);
  }
});

t.test('two entrypoints on one address are an error', async (t) => {
  const problems = problemsOf(t, () =>
    parseConfig({ entrypoints: { web: { address: '0.0.0.0:9000' }, other: { address: '127.0.0.1:9000' } }, admin: { address: '127.0.0.1:9001' } }, { env: {} }),
  );
  t.equal(problems.length, 1, problems.join(' | '));
  t.match(problems[0], /^entrypoints\.other\.address: .*entrypoints\.web\.address/);
});

t.test('loadConfig reads YAML and resolves paths against the config file folder', async (t) => {
  const file = yamlFile(
    t,
    [
      'entrypoints:',
      '  web:',
      '    address: "127.0.0.1:9100"',
      'stateDir: state',
      'timeouts:',
      '  idle: 1m30s',
      'services:',
      '  app:',
      '    rule: "Host(`app.test`) && PathPrefix(`/api`)"',
      '    upstreams: ["http://127.0.0.1:3001"]',
      '    drainTimeout: 5s',
      '',
    ].join('\n'),
    'sub/baton.yaml',
  );
  const folder = resolve(file, '..');
  const c = loadConfig(file, {});
  t.equal(c.file, file);
  t.equal(c.stateDirPath, join(folder, 'state'), 'relative to the file, not to the working directory');
  t.not(c.stateDirPath, resolve(process.cwd(), 'state'));
  t.equal(c.tokenFilePath, join(folder, 'state', D.ADMIN_TOKEN_FILE_NAME));
  t.equal(c.timeouts.idle, 90_000);
  t.equal(c.services.app.drainTimeout, 5000);

  // a relative path given for the file itself is resolved against the working directory first
  const rel = relative(process.cwd(), file);
  t.notOk(isAbsolute(rel));
  t.equal(loadConfig(rel, {}).stateDirPath, join(folder, 'state'));

  const up = loadConfig(yamlFile(t, 'stateDir: ../elsewhere\nadmin:\n  tokenFile: secrets/token\n', 'a/b/baton.yaml'), {});
  t.match(up.stateDirPath, /\/a\/elsewhere$/);
  t.match(up.tokenFilePath, /\/a\/b\/secrets\/token$/, 'tokenFile is relative to the config file too');
  t.equal(loadConfig(yamlFile(t, 'stateDir: /var/lib/baton\n'), {}).stateDirPath, '/var/lib/baton', 'absolute paths stay');
  const dflt = yamlFile(t, 'log:\n  level: warn\n');
  t.equal(loadConfig(dflt, {}).stateDirPath, join(resolve(dflt, '..'), D.DEFAULT_STATE_DIR));
});

t.test('loadConfig: an empty or comment-only file is the default config', async (t) => {
  for (const text of ['', '# nothing here\n']) {
    const c = loadConfig(yamlFile(t, text), {});
    t.equal(c.entrypoints.web.address, D.DEFAULT_ENTRYPOINT_ADDRESS);
    t.same(c.services, {});
  }
});

t.test('loadConfig: YAML syntax errors name the file and the line', async (t) => {
  const file = yamlFile(t, 'services:\n  app:\n    rule: "Host(`a`)\n');
  const problems = problemsOf(t, () => loadConfig(file, {}));
  t.equal(problems.length, 1, problems.join(' | '));
  t.match(problems[0], new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: .*line \\d+`));
  t.notMatch(problems[0], /:$/, 'no dangling colon');

  const tabs = problemsOf(t, () => loadConfig(yamlFile(t, 'services:\n  app:\n\trule: x\n'), {}));
  t.match(tabs[0], /[Tt]ab.*line 3/);

  const multi = problemsOf(t, () => loadConfig(yamlFile(t, 'log:\n  level: info\n---\nlog:\n  level: warn\n'), {}));
  t.match(multi[0], /multiple documents/);
});

t.test('loadConfig: duplicate keys are an error, not last-one-wins', async (t) => {
  const top = problemsOf(t, () => loadConfig(yamlFile(t, 'admin:\n  address: "127.0.0.1:1"\nadmin:\n  address: "127.0.0.1:2"\n'), {}));
  t.equal(top.length, 1);
  t.match(top[0], /unique.*line 3/);
  const nested = problemsOf(t, () => loadConfig(yamlFile(t, 'services:\n  app:\n    rule: "Host(`a`)"\n    rule: "Host(`b`)"\n'), {}));
  t.match(nested[0], /unique.*line 4/);
});

t.test('loadConfig: a YAML scalar or list is not a config', async (t) => {
  t.same(problemsOf(t, () => loadConfig(yamlFile(t, 'hello\n'), {})), ['the config must be a YAML mapping']);
  t.same(problemsOf(t, () => loadConfig(yamlFile(t, '- a\n- b\n'), {})), ['the config must be a YAML mapping']);
});

t.test('loadConfig: a missing file says so clearly', async (t) => {
  const missing = join(tempDir(t), 'nope.yaml');
  const problems = problemsOf(t, () => loadConfig(missing, {}));
  t.equal(problems.length, 1);
  t.match(problems[0], 'cannot read config file');
  t.match(problems[0], missing);
  t.match(problems[0], /no such file/);
  t.match(problemsOf(t, () => loadConfig(tempDir(t), {}))[0], /directory/);
});

t.test('loadConfig: every problem in a file at once, after YAML parsing', async (t) => {
  const file = yamlFile(
    t,
    [
      'entrypoints:',
      '  web:',
      '    address: "127.0.0.1:9200"',
      'admin:',
      '  address: "127.0.0.1:9200"',
      'timeouts:',
      '  idle: 5 seconds',
      'services:',
      '  app:',
      '    rule: "Hots(`a`)"',
      '    upstreams: ["http://127.0.0.1:3001"]',
      '    retires: 2',
      '',
    ].join('\n'),
  );
  const problems = problemsOf(t, () => loadConfig(file, {}));
  t.equal(problems.length, 4, problems.join(' | '));
  for (const path of ['admin.address', 'timeouts.idle', 'services.app.rule', 'services.app.retires']) {
    t.ok(problems.some((p) => p.startsWith(`${path}: `)), `names ${path}`);
  }
});

t.test('the shipped config/baton.yaml loads and holds no token', async (t) => {
  const path = join(REPO, 'config', 'baton.yaml');
  const c = loadConfig(path, {});
  t.equal(c.admin.token, undefined, 'no token in the shipped config');
  t.equal(c.admin.address, '127.0.0.1:8081', 'the admin API stays on loopback');
  t.equal(c.entrypoints.web.address, '0.0.0.0:8080');
  t.equal(c.stateDirPath, join(REPO, '.baton'), 'stateDir resolved against config/');
  t.equal(c.tokenFilePath, join(REPO, '.baton', D.ADMIN_TOKEN_FILE_NAME));
  t.equal(c.providers.docker.enabled, true, 'the shipped config discovers Docker containers');
  const text = readFileSync(path, 'utf8');
  const active = text.split('\n').filter((l) => !/^\s*#/.test(l));
  t.notOk(active.some((l) => /\btoken\b/i.test(l)), 'no uncommented line mentions a token');
  // and the default path the CLI uses is this file
  t.equal(resolve(REPO, D.DEFAULT_CONFIG_PATH), path);
});
