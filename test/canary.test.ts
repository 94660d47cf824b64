// Canary deploys, pure parts: the canary's replica count, each phase's split, the verdict on the canary's counts,
// the deploy request's canary fields, the CLI's flags and its live line; then `baton promote` and a rollback that
// is not a canary's against a baton without Docker (the admin API's answers, the CLI's exit codes).
import t from 'tap';
import { main, strayFlag } from '../src/cli.ts';
import { deployBody } from '../src/cli/commands.ts';
import { liveText } from '../src/cli/progress.ts';
import { canaryReplicas, canaryVerdict, isSteeredDeploy, splitFor } from '../src/deploy/canary.ts';
import { deployRequestSchema } from '../src/deploy/plan.ts';
import { admin, startBaton } from './fixtures/harness.ts';

t.test('canary replicas: ⌈replicas × share⌉, at least 1, at most replicas', async (t) => {
  const table: Array<[number, number | undefined, number]> = [
    [1, 0.1, 1],
    [2, 0.1, 1],
    [10, 0.1, 1],
    [11, 0.1, 2],
    [4, 0.5, 2],
    [3, 0.99, 3],
    [5, undefined, 1], // a header canary
    [0, 0.5, 1],
  ];
  for (const [replicas, share, want] of table) t.equal(canaryReplicas(replicas, share), want, `${replicas} × ${share}`);
});

t.test('the split of each phase', async (t) => {
  const req = { canary: 0.1, canaryHeader: undefined };
  t.same(splitFor('old', ['0'], '3', req), {
    shares: [{ generation: '0', share: 1 }],
    header: null,
    headerGeneration: null,
    sticky: [],
  });
  const c = splitFor('canary', ['0'], '3', req);
  t.same(
    c.shares.map((s) => [s.generation, +s.share.toFixed(6)]),
    [
      ['0', 0.9],
      ['3', 0.1],
    ],
  );
  const two = splitFor('canary', ['1', '2'], '3', { canary: 0.2 });
  t.same(
    two.shares.map((s) => +s.share.toFixed(6)),
    [0.4, 0.4, 0.2],
    'two old generations share the rest',
  );
  const h = splitFor('canary', ['0'], '3', { canaryHeader: 'X-Canary' });
  t.same([h.header, h.headerGeneration, h.shares], ['x-canary', '3', [{ generation: '0', share: 1 }]]);
  t.same(splitFor('switched', ['0'], '3', req).sticky, ['0'], 'after the switch the old one is sticky-only');
  t.same(splitFor('switched', ['0'], '3', req).shares, [{ generation: '3', share: 1 }]);
  t.same(splitFor('new', ['0'], '3', req).sticky, []);
});

t.test('the canary verdict', async (t) => {
  const c = (requests: number, failures: number) => ({ generations: ['3'], requests, failures, ratio: 0 });
  t.equal(canaryVerdict(c(100, 0), 0), null);
  t.match(canaryVerdict(c(100, 1), 0), /the canary: 1 of 100 requests failed/);
  t.equal(canaryVerdict(c(100, 5), 0.05), null);
  t.match(canaryVerdict(c(100, 6), 0.05), /6 of 100/);
});

t.test('deploy request: canary fields', async (t) => {
  const ok = (body: Record<string, unknown>) => deployRequestSchema.parse({ image: 'app:v2', ...body });
  t.equal(ok({ canary: '10%' }).canary, 0.1);
  t.equal(ok({ canary: '2.5%' }).canary, 0.025);
  t.equal(ok({ canary: '10%', canaryDuration: '5m' }).canaryDuration, 300_000);
  t.equal(ok({ canaryHeader: 'X-Canary' }).canaryHeader, 'X-Canary');
  t.equal(ok({ stickyFor: '30s' }).stickyFor, 30_000);
  t.ok(isSteeredDeploy(ok({ canary: '10%' })));
  t.ok(isSteeredDeploy(ok({ stickyFor: '1s' })));
  t.notOk(isSteeredDeploy(ok({})), 'a plain deploy runs in batches');
  t.notOk(isSteeredDeploy(ok({ stickyFor: 0 })));
  const bad: Array<[Record<string, unknown>, RegExp]> = [
    [{ canary: '0%' }, /above 0 %/],
    [{ canary: '100%' }, /share of new clients/],
    [{ canary: '10' }, /share of new clients/],
    [{ canary: 0.1 }, /string/],
    [{ canary: '10%', canaryHeader: 'X-C' }, /not both/],
    [{ canaryDuration: '1m' }, /needs canary or canaryHeader/],
    [{ canaryHeader: 'X Canary' }, /header name/],
    [{ stickyFor: 'soon' }, /invalid duration/],
  ];
  for (const [body, want] of bad) {
    const r = deployRequestSchema.safeParse({ image: 'app:v2', ...body });
    t.notOk(r.success, JSON.stringify(body));
    t.match(r.error?.issues.map((i) => i.message).join('\n'), want);
  }
});

t.test('CLI: flags and the live line', async (t) => {
  t.same(deployBody({ image: 'app:v2', canary: '10%', 'canary-duration': '5m', 'sticky-for': '1m' }), {
    image: 'app:v2',
    canary: '10%',
    canaryDuration: '5m',
    stickyFor: '1m',
  });
  t.same(deployBody({ image: 'app:v2', 'canary-header': 'X-Canary' }), { image: 'app:v2', canaryHeader: 'X-Canary' });
  t.equal(
    strayFlag('deploy', { canary: '10%', 'canary-header': 'X', 'canary-duration': '1m', 'sticky-for': '1s' }),
    null,
  );
  t.equal(strayFlag('promote', { plain: true }), null);
  t.equal(strayFlag('promote', { canary: '10%' }), '--canary');
  const live = {
    phase: 'canary',
    batch: null,
    deadline: null,
    inflight: null,
    requests: 10,
    failures: 0,
    maxFailureRatio: 0,
    canary: {
      share: '10%',
      old: { generations: ['0'], requests: 90, failures: 0, ratio: 0 },
      new: { generations: ['3'], requests: 10, failures: 1, ratio: 0.1 },
    },
  };
  t.match(liveText(live, Date.now()), /^old 90 requests, 0 failed \(0(\.0)? ?%\) \| canary 10% 10 requests, 1 failed/);
});

t.test('promote without a canary; the CLI', async (t) => {
  const b = await startBaton(t);
  const res = await admin(b.adminPort, 'POST', '/api/services/app/promote', {});
  t.equal(res.status, 409, 'no deployer (Docker off): a clear error');
  t.match(res.json.error.code, /DOCKER|DISABLED/);
  const bad = await admin(b.adminPort, 'POST', '/api/services/app/promote', { now: true });
  t.equal(bad.status, 400, 'unknown field');
  const out: string[] = [];
  const io = { out: (s: string) => void out.push(s), err: (s: string) => void out.push(s), env: {}, stdout: null };
  t.equal(await main(['promote'], io as never), 2, 'no service: usage error');
  t.match(out.join(''), /usage: baton promote <service>/);
  t.equal(await main(['promote', 'app', '--canary', '10%'], io as never), 2, 'a deploy flag on promote');
});
