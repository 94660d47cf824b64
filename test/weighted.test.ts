// Weighted services (Traefik's `weighted`), generation splits and their sticky cookies: the pure decisions as
// tables, then real requests through baton to real upstreams (one thread, and worker threads).
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, request } from 'undici';
import { WebSocket, WebSocketServer } from 'ws';
import t, { type Test } from 'tap';
import { parseConfig } from '../src/config/load.ts';
import { ConfigError } from '../src/errors.ts';
import { stickyCookie } from '../src/proxy/steer.ts';
import { chooseGeneration, drawShare, type TrafficSplit, valueOf } from '../src/upstream/split.ts';
import { Splits } from '../src/upstream/splits.ts';
import { smoothWeightedPick } from '../src/upstream/weighted.ts';
import { admin, startBaton, startUpstream, waitFor, type TestBaton } from './fixtures/harness.ts';

t.test('smooth weighted round-robin', async (t) => {
  const table: Array<[number[], number, number[]]> = [
    [[5, 1, 1], 0, [0, 0, 1, 0, 2, 0, 0]],
    [[1, 1], 0, [0, 1, 0, 1]],
    [[2, 1], 0, [0, 1, 0, 0, 1, 0]],
    [[5, 1, 1], 0b001, [1, 2, 1, 2]], // the first one skipped: the others share
    [[1, 1], 0b11, [-1]],
  ];
  for (const [weights, skip, want] of table) {
    const scores = weights.map(() => 0);
    const got = want.map(() => smoothWeightedPick(weights, scores, skip));
    t.same(got, want, `weights ${weights} skip ${skip.toString(2)}`);
  }
  for (const weights of [
    [3, 1],
    [9, 1],
    [1, 2, 7],
  ]) {
    const scores = weights.map(() => 0);
    const counts = weights.map(() => 0);
    for (let i = 0; i < 1000; i++) counts[smoothWeightedPick(weights, scores)]++;
    const total = weights.reduce((a, b) => a + b, 0);
    const want = weights.map((w) => (1000 * w) / total);
    t.ok(
      counts.every((c, i) => Math.abs(c - want[i]) <= 1),
      `1000 picks over ${weights}: ${counts} (want ${want.map((w) => w.toFixed(1))})`,
    );
  }
});

t.test('which generation serves a request', async (t) => {
  const canary: TrafficSplit = {
    shares: [
      { generation: '1', share: 0.9 },
      { generation: '2', share: 0.1 },
    ],
    header: null,
    headerGeneration: null,
    sticky: [],
  };
  const byHeader: TrafficSplit = { ...canary, header: 'x-canary', headerGeneration: '2' };
  const skew: TrafficSplit = {
    shares: [{ generation: '2', share: 1 }],
    header: null,
    headerGeneration: null,
    sticky: ['1'],
  };
  const all = () => true;
  const only = (g: string) => (x: string) => x === g;
  const table: Array<
    [string, TrafficSplit, string | null, boolean, number, (g: string) => boolean, string | null, boolean]
  > = [
    // name, split, presented, header, random, available, → generation, assign
    ['new client, high draw: the canary', canary, null, false, 0.95, all, '2', true],
    ['new client, low draw: the old one', canary, null, false, 0.05, all, '1', true],
    ['draw at the edge', canary, null, false, 0.9, all, '2', true],
    ['cookie of the canary', canary, '2', false, 0.5, all, '2', false],
    ['cookie of the old', canary, '1', false, 0.01, all, '1', false],
    ['cookie of an unknown generation', canary, '7', false, 0.5, all, '1', true],
    ['cookie of a generation with no upstream', canary, '2', false, 0.01, only('1'), '1', true],
    ['draw lands on a generation with none', canary, null, false, 0.01, only('1'), '1', true],
    ['nothing available', canary, null, false, 0.5, () => false, null, false],
    ['header sends to the canary', byHeader, null, true, 0.99, all, '2', true],
    ['no header: the old one', byHeader, null, false, 0.01, all, '1', true],
    ['cookie wins over the header', byHeader, '1', true, 0.5, all, '1', false],
    ['header, canary down', byHeader, null, true, 0.5, only('1'), '1', true],
    ['skew: old cookie kept', skew, '1', false, 0.5, all, '1', false],
    ['skew: new client to the new', skew, null, false, 0.5, all, '2', true],
    ['skew: old cookie, old gone', skew, '1', false, 0.5, only('2'), '2', true],
  ];
  for (const [name, split, presented, header, random, available, generation, assign] of table) {
    t.same(chooseGeneration(split, { presented, header, random }, available), { generation, assign }, name);
  }
  t.equal(drawShare([{ generation: 'a', share: 1 }], 0.999, all, null), 'a');
  t.equal(drawShare([], 0.5, all, null), null);
});

t.test('cookie and query values', async (t) => {
  const table: Array<[string | undefined, string, string, string | null]> = [
    ['baton_gen=3', 'baton_gen', ';', '3'],
    ['a=1; baton_gen=3; b=2', 'baton_gen', ';', '3'],
    ['xbaton_gen=3', 'baton_gen', ';', null],
    ['a=xbaton_gen=9; baton_gen=4', 'baton_gen', ';', '4'],
    ['v=1&baton_gen=12', 'baton_gen', '&', '12'],
    ['baton_gen=12&v=1', 'baton_gen', '&', '12'],
    ['', 'baton_gen', '&', null],
    [undefined, 'baton_gen', ';', null],
  ];
  for (const [list, name, sep, want] of table) t.equal(valueOf(list, name, sep), want, `${list}`);
  t.equal(
    stickyCookie({ name: 'lb', secure: true, httpOnly: true, sameSite: 'strict', maxAge: 60 }, 'blue'),
    'lb=blue; Path=/; SameSite=Strict; HttpOnly; Secure; Max-Age=60',
  );
});

t.test('weighted config errors', async (t) => {
  const problems = (services: Record<string, unknown>): string[] => {
    try {
      parseConfig({ services }, { env: {}, baseDir: '/tmp' });
    } catch (err) {
      t.type(err, ConfigError);
      return (err as ConfigError).problems;
    }
    return [];
  };
  const leaf = { rule: 'Host(`a.test`)', upstreams: ['http://127.0.0.1:1'] };
  t.same(problems({ a: leaf, w: { rule: 'Host(`w.test`)', weighted: [{ service: 'a', weight: 1 }] } }), []);
  t.match(problems({ w: { rule: 'Host(`w`)', weighted: [{ service: 'nope', weight: 1 }] } }), [
    /services\.w\.weighted\.0\.service.*unknown service "nope"/,
  ]);
  t.match(problems({ a: leaf, w: { rule: 'Host(`w`)', weighted: [{ service: 'a', weight: 0 }] } }), [
    /weight.*positive integer/,
  ]);
  t.match(problems({ a: leaf, w: { rule: 'Host(`w`)', weighted: [{ service: 'a', weight: -2 }] } }), [
    /positive integer/,
  ]);
  t.match(problems({ a: leaf, w: { rule: 'Host(`w`)', weighted: [] } }), [/at least one service/]);
  const cyc = problems({
    x: { rule: 'Host(`x`)', weighted: [{ service: 'y', weight: 1 }] },
    y: { rule: 'Host(`y`)', weighted: [{ service: 'x', weight: 1 }] },
  });
  t.match(cyc.join('\n'), /cycle: x → y → x/);
  t.match(
    problems({
      a: leaf,
      w: { rule: 'Host(`w`)', upstreams: ['http://127.0.0.1:2'], weighted: [{ service: 'a', weight: 1 }] },
    }),
    [/no upstreams of its own/],
  );
  t.match(problems({ a: { ...leaf, sticky: { cookie: {} } } }), [/needs a weighted service/]);
});

/** `n` GETs on one keep-alive agent: the x-upstream of each, and the Set-Cookie of each (or undefined). */
async function hits(
  port: number,
  host: string,
  n: number,
  headers: (i: number) => Record<string, string> = () => ({}),
): Promise<Array<{ upstream: string; cookie: string | undefined }>> {
  const agent = new Agent({ connections: 8 });
  const out: Array<{ upstream: string; cookie: string | undefined }> = [];
  try {
    const one = async (i: number) => {
      const res = await request(`http://127.0.0.1:${port}/x`, { headers: { host, ...headers(i) }, dispatcher: agent });
      await res.body.text();
      const c = res.headers['set-cookie'];
      out[i] = { upstream: String(res.headers['x-upstream']), cookie: Array.isArray(c) ? c.join(',') : c };
    };
    for (let i = 0; i < n; i += 50)
      await Promise.all(Array.from({ length: Math.min(50, n - i) }, (_, k) => one(i + k)));
  } finally {
    await agent.close();
  }
  return out;
}

t.test('a weighted service splits by weight, sticky by cookie', async (t) => {
  const a = await startUpstream(t, 'a');
  const b = await startUpstream(t, 'b');
  const baton = await startBaton(t, {
    services: {
      a: { rule: 'Host(`a.test`)', upstreams: [a.url] },
      b: { rule: 'Host(`b.test`)', upstreams: [b.url] },
      w: {
        rule: 'Host(`w.test`)',
        weighted: [
          { service: 'a', weight: 3 },
          { service: 'b', weight: 1 },
        ],
      },
      s: {
        rule: 'Host(`s.test`)',
        weighted: [
          { service: 'a', weight: 1 },
          { service: 'b', weight: 1 },
        ],
        sticky: { cookie: { name: 'lb' } },
      },
    },
  });
  const plain = await hits(baton.port, 'w.test', 400);
  t.equal(plain.filter((h) => h.upstream === 'a').length, 300, '3:1 → 300 of 400 to a');
  t.equal(plain.filter((h) => h.upstream === 'b').length, 100);
  t.ok(
    plain.every((h) => h.cookie === undefined),
    'no cookie without sticky',
  );

  const first = await hits(baton.port, 's.test', 40);
  t.ok(
    first.every((h) => h.cookie === `lb=${h.upstream}; Path=/; SameSite=Lax; HttpOnly`),
    'each new client gets its child',
  );
  t.equal(first.filter((h) => h.upstream === 'a').length, 20);
  const again = await hits(baton.port, 's.test', 40, (i) => ({ cookie: `lb=${first[i].upstream}` }));
  t.ok(
    again.every((h, i) => h.upstream === first[i].upstream && h.cookie === undefined),
    'a client with the cookie stays on its child',
  );
  // a child down: its clients go to the other one and get a new cookie
  await a.kill();
  await waitFor(() => baton.app.registry.upstreams.get(`a@127.0.0.1:${a.port}`)?.state !== 'healthy', 1).catch(
    () => {},
  );
  const moved = await hits(baton.port, 's.test', 4, () => ({ cookie: 'lb=a' }));
  t.ok(
    moved.every((h) => h.upstream === 'b'),
    'the cookie of a child with no upstream is not honoured',
  );
});

/** Starts baton (`workers` threads) with one service `gen` whose upstreams are generation 1 (`old`) and 2. */
async function withGenerations(t: Test, workers: number): Promise<{ baton: TestBaton; splits: Splits }> {
  const v1 = await startUpstream(t, 'v1');
  const v2 = await startUpstream(t, 'v2');
  const baton = await startBaton(t, { workers, services: { gen: { rule: 'Host(`gen.test`)' } } });
  baton.app.registry.setSnapshot('test', {
    services: [
      {
        ...baton.app.registry.services.get('gen')!.options,
        name: 'gen',
        upstreams: [
          { id: 'gen@v1', url: v1.url, generation: '1' },
          { id: 'gen@v2', url: v2.url, generation: '2' },
        ],
      },
    ],
  });
  const splits = new Splits(baton.app.registry, baton.app.workers);
  return { baton, splits };
}

for (const workers of [1, 2]) {
  t.test(`a 10 % split over 2000 new clients, each kept on its generation (workers: ${workers})`, async (t) => {
    const { baton, splits } = await withGenerations(t, workers);
    const split: TrafficSplit = {
      shares: [
        { generation: '1', share: 0.9 },
        { generation: '2', share: 0.1 },
      ],
      header: null,
      headerGeneration: null,
      sticky: [],
    };
    t.ok(splits.set('gen', split));
    t.notOk(splits.set('nope', split), 'no such service');
    const listed = (await admin(baton.adminPort, 'GET', '/api/services')).json.services.find(
      (x: any) => x.name === 'gen',
    );
    t.same(listed.split, split, 'GET /api/services shows the split');
    // workers: the snapshot and the split reach each thread in order; wait until both generations answer
    await waitFor(async () => (await hits(baton.port, 'gen.test', 40)).some((h) => h.upstream === 'v2'), 10_000);
    const n = 2000;
    const first = await hits(baton.port, 'gen.test', n);
    const onV2 = first.filter((h) => h.upstream === 'v2').length;
    t.ok(onV2 >= 0.09 * n && onV2 <= 0.11 * n, `${onV2} of ${n} new clients on the canary (9–11 %)`);
    t.ok(
      first.every((h) => h.cookie === `baton_gen=${h.upstream === 'v2' ? 2 : 1}; Path=/; HttpOnly; SameSite=Lax`),
      'each new client gets the cookie of its generation',
    );
    const again = await hits(baton.port, 'gen.test', n, (i) => ({
      cookie: `x=1; baton_gen=${first[i].upstream.slice(1)}`,
    }));
    const kept = again.filter((h, i) => h.upstream === first[i].upstream && h.cookie === undefined).length;
    t.equal(kept, n, 'every client that presents its cookie stays on its generation (100 %)');
    const query = await hits(baton.port, 'gen.test', 20);
    t.ok(query.length === 20);
    // the query form, for asset URLs
    const agent = new Agent();
    t.teardown(() => agent.close());
    for (let i = 0; i < 20; i++) {
      const res = await request(`http://127.0.0.1:${baton.port}/app.js?v=1&baton_gen=2`, {
        headers: { host: 'gen.test' },
        dispatcher: agent,
      });
      await res.body.text();
      t.equal(res.headers['x-upstream'], 'v2', '?baton_gen=2 goes to generation 2');
    }
    // by header
    splits.set('gen', { ...split, shares: [{ generation: '1', share: 1 }], header: 'x-canary', headerGeneration: '2' });
    await waitFor(async () => (await hits(baton.port, 'gen.test', 20)).every((h) => h.upstream === 'v1'), 10_000);
    const tagged = await hits(baton.port, 'gen.test', 50, (i): Record<string, string> =>
      i % 2 === 0 ? { 'x-canary': '1' } : {},
    );
    t.ok(
      tagged.every((h, i) => h.upstream === (i % 2 === 0 ? 'v2' : 'v1')),
      'X-Canary requests to the canary, the others to the old generation',
    );
    // the split removed: both generations take plain round-robin traffic again, no cookie
    splits.set('gen', null);
    await waitFor(async () => (await hits(baton.port, 'gen.test', 20)).every((h) => h.cookie === undefined), 10_000);
    const plain = await hits(baton.port, 'gen.test', 100);
    // (each worker thread has its own round-robin cursor: even, not exact, across threads)
    const plainV2 = plain.filter((h) => h.upstream === 'v2').length;
    if (workers === 1) t.equal(plainV2, 50, 'no split: round-robin');
    else t.ok(plainV2 >= 30 && plainV2 <= 70, `no split: both generations take traffic (${plainV2} of 100 on v2)`);
  });
}

t.test('a WebSocket upgrade follows the baton_gen cookie', async (t) => {
  const wsUpstream = async (name: string): Promise<string> => {
    const server = createServer((_req, res) => res.end(name));
    const wss = new WebSocketServer({ noServer: true });
    server.on('upgrade', (req, socket, head) => {
      socket.on('error', () => {});
      wss.handleUpgrade(req, socket, head, (ws) => ws.send(name));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    t.teardown(async () => {
      for (const c of wss.clients) c.terminate();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    });
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };
  const [u1, u2] = [await wsUpstream('v1'), await wsUpstream('v2')];
  const baton = await startBaton(t, { services: { ws: { rule: 'Host(`ws.test`)' } } });
  baton.app.registry.setSnapshot('test', {
    services: [
      {
        ...baton.app.registry.services.get('ws')!.options,
        name: 'ws',
        upstreams: [
          { id: 'ws@1', url: u1, generation: '1' },
          { id: 'ws@2', url: u2, generation: '2' },
        ],
      },
    ],
  });
  const shares = [
    { generation: '1', share: 0.5 },
    { generation: '2', share: 0.5 },
  ];
  new Splits(baton.app.registry).set('ws', { shares, header: null, headerGeneration: null, sticky: [] });
  const first = (cookie: string) =>
    new Promise<string>((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${baton.port}/live`, { headers: { host: 'ws.test', cookie } });
      ws.once('message', (m) => {
        resolve(String(m));
        ws.close();
      });
      ws.once('error', reject);
    });
  for (let i = 0; i < 6; i++) {
    t.equal(await first('baton_gen=2'), 'v2', 'cookie of generation 2 → v2');
    t.equal(await first('baton_gen=1'), 'v1', 'cookie of generation 1 → v1');
  }
});
