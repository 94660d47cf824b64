// Definitions → per-route instances (pure parts of middleware/compile.ts and definitions.ts): references, chains,
// instances kept across generations while their definition is unchanged, stopped when dropped.
import t from 'tap';
import { builtinFactory, MiddlewareSet, type Link } from '../src/middleware/compile.ts';
import { qualify, type MiddlewareDef } from '../src/middleware/definitions.ts';
import { int } from '../src/middleware/options.ts';
import { defineType } from '../src/middleware/types.ts';

const made: AbortSignal[] = [];
const counter = defineType({
  name: 'counter',
  spec: { step: int(1, 1, 10) },
  create(o, env) {
    made.push(env.signal);
    let n = 0;
    return { onRequest: () => void (n += o.step) };
  },
});
const factories = new Map([['counter', builtinFactory(counter)]]);
const log = { child: () => ({ info() {}, warn() {}, error() {} }) };
const set = () => new MiddlewareSet({ factories, log, resolvePath: (p) => p });
const defs = (o: Record<string, MiddlewareDef>) => new Map(Object.entries(o).map(([k, v]) => [`${k}@file`, v]));
function links(r: Link[] | { error: string }): Link[] {
  if (Array.isArray(r)) return r;
  t.fail(r.error);
  return [];
}

t.test('references: name, name@provider, malformed', async (t) => {
  t.equal(qualify('auth', 'docker'), 'auth@docker');
  t.equal(qualify('auth@File', 'docker'), 'auth@file');
  t.same(qualify('a b', 'docker'), { error: 'middleware reference "a b" is not "name" or "name@provider"' });
});

t.test('instances per route, kept while unchanged, stopped when changed or gone; discard keeps the old', async (t) => {
  made.length = 0;
  const s = set();
  t.same(s.begin(defs({ c: { type: 'Counter', options: {} } })), []);
  const a1 = links(s.chain('r1', ['c'], 'file'));
  const b1 = links(s.chain('r2', ['c@file'], 'docker'));
  s.commit();
  t.equal(made.length, 2, 'one instance per route');
  t.not(a1[0].handler, b1[0].handler);
  s.begin(defs({ c: { type: 'Counter', options: {} } }));
  t.equal(links(s.chain('r1', ['c'], 'file'))[0].handler, a1[0].handler, 'unchanged: the same instance');
  s.commit();
  t.ok(made[1].aborted, "r2's instance stopped: no route uses it");
  t.notOk(made[0].aborted);
  s.begin(defs({ c: { type: 'counter', options: { step: '2' } } }));
  const a3 = links(s.chain('r1', ['c'], 'file'));
  t.not(a3[0].handler, a1[0].handler, 'changed definition: a new instance');
  s.discard();
  t.ok(made.at(-1)!.aborted, 'a discarded generation stops what it made');
  t.notOk(made[0].aborted, 'and keeps the live one');
  s.close();
  t.ok(made[0].aborted, 'close stops everything');
});

t.test('chains expand in order; loops, unknown and invalid middlewares refuse the route', async (t) => {
  const s = set();
  const problems = s.begin(
    defs({
      a: { type: 'counter', options: {} },
      bad: { type: 'counter', options: { step: 99 } },
      nope: { type: 'noSuchType', options: {} },
      ch: { type: 'chain', options: { middlewares: 'a, a' } },
      l1: { type: 'chain', options: { middlewares: ['l2'] } },
      l2: { type: 'chain', options: { middlewares: ['l1'] } },
      fan: { type: 'chain', options: { middlewares: Array(70).fill('a') } },
    }),
  );
  t.equal(problems.length, 2, 'the invalid definitions are reported');
  t.match(problems.join('\n'), /middleware bad@file: step: expected a whole number from 1 to 10/);
  t.match(problems.join('\n'), /middleware nope@file: unknown middleware type noSuchType/);
  t.equal(links(s.chain('r', ['ch', 'a'], 'file')).length, 3);
  t.match(s.chain('r', ['l1'], 'file'), { error: /loops: l1@file → l2@file → l1@file/ });
  t.match(s.chain('r', ['missing'], 'file'), { error: 'middleware missing@file does not exist' });
  t.match(s.chain('r', ['bad'], 'file'), { error: /bad@file is invalid/ });
  t.match(s.chain('r', ['a@docker'], 'file'), { error: 'middleware a@docker does not exist' });
  t.match(s.chain('r', ['fan'], 'file'), { error: /more than 64 middlewares/ });
  s.close();
});
