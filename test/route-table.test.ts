import t from 'tap';
import { RouteTable, type Route } from '../src/routing/route-table.ts';
import type { RequestView } from '../src/routing/rule.ts';
import { ConfigError } from '../src/errors.ts';

function req(over: Partial<RequestView> = {}): RequestView {
  return { host: 'a.com', path: '/', query: '', method: 'GET', headers: {}, clientIp: '127.0.0.1', ...over };
}

t.test('the most specific (longest) rule wins', async (t) => {
  const table = RouteTable.build([
    { name: 'site', rule: 'Host(`a.com`)', service: 'site' },
    { name: 'api', rule: 'Host(`a.com`) && PathPrefix(`/api`)', service: 'api' },
    { name: 'api-v2', rule: 'Host(`a.com`) && PathPrefix(`/api/v2`)', service: 'api-v2' },
  ]);
  t.equal(table.size, 3);
  t.equal(table.match(req({ path: '/' })), 'site');
  t.equal(table.match(req({ path: '/api/v1/users' })), 'api');
  t.equal(table.match(req({ path: '/api/v2/users' })), 'api-v2');
  t.equal(table.matchRoute(req({ path: '/api/v2' }))?.name, 'api-v2');
});

t.test('explicit priority beats rule length, in both directions', async (t) => {
  const table = RouteTable.build([
    { name: 'catch-all', rule: 'PathPrefix(`/`)', priority: 1000, service: 'catch-all' },
    { name: 'specific', rule: 'Host(`a.com`) && Path(`/health`)', service: 'specific' },
    { name: 'last', rule: 'Host(`a.com`) && PathPrefix(`/`) && Method(`GET`)', priority: -1, service: 'last' },
    { name: 'zero', rule: 'Host(`b.com`) && PathPrefix(`/`) && Method(`GET`)', priority: 0, service: 'zero' },
    { name: 'b', rule: 'Host(`b.com`)', service: 'b' },
  ]);
  t.equal(table.match(req({ path: '/health' })), 'catch-all');
  t.equal(table.match(req({ host: 'b.com' })), 'catch-all');

  const t2 = RouteTable.build([
    { name: 'low', rule: 'Host(`a.com`) && PathPrefix(`/`) && Method(`GET`)', priority: 1, service: 'low' },
    { name: 'short', rule: 'Host(`a.com`)', service: 'short' },
    { name: 'zero', rule: 'Host(`b.com`) && PathPrefix(`/`) && Method(`GET`)', priority: 0, service: 'zero' },
    { name: 'b', rule: 'Host(`b.com`)', service: 'b' },
  ]);
  t.equal(t2.match(req()), 'short', 'explicit low priority loses to a shorter rule');
  t.equal(t2.match(req({ host: 'b.com' })), 'b', 'priority 0 is explicit, not "use the default"');
});

t.test('equal priorities are broken by route name, whatever the input order', async (t) => {
  const routes: Route<string>[] = [
    { name: 'bravo', rule: 'Path(`/b`) || Path(`/x`)', priority: 5, service: 'bravo' },
    { name: 'alpha', rule: 'Path(`/a`) || Path(`/x`)', priority: 5, service: 'alpha' },
    { name: 'charlie', rule: 'Path(`/c`) || Path(`/x`)', priority: 5, service: 'charlie' },
  ];
  t.equal(RouteTable.build(routes).match(req({ path: '/x' })), 'alpha');
  t.equal(RouteTable.build(routes.toReversed()).match(req({ path: '/x' })), 'alpha');
  t.equal(RouteTable.build(routes).match(req({ path: '/c' })), 'charlie');
});

t.test('unknown host finds only host-agnostic routes', async (t) => {
  const hostOnly = RouteTable.build([
    { name: 'a', rule: 'Host(`a.com`)', service: 'a' },
    { name: 'b', rule: 'Host(`b.com`) || Host(`c.com`)', service: 'b' },
  ]);
  t.equal(hostOnly.match(req({ host: 'unknown.com' })), undefined);
  t.equal(hostOnly.match(req({ host: 'c.com' })), 'b');
  t.equal(hostOnly.match(req({ host: 'a.com' })), 'a');

  const withDefault = RouteTable.build([
    { name: 'a', rule: 'Host(`a.com`)', service: 'a' },
    { name: 'fallback', rule: 'PathPrefix(`/`)', priority: 1, service: 'fallback' },
  ]);
  t.equal(withDefault.match(req({ host: 'unknown.com' })), 'fallback');
  t.equal(withDefault.match(req({ host: 'a.com' })), 'a');
});

t.test('host-agnostic routes are found under any host and merged by priority', async (t) => {
  const table = RouteTable.build([
    { name: 'a', rule: 'Host(`a.com`)', service: 'a' },
    { name: 'b', rule: 'Host(`b.com`)', service: 'b' },
    { name: 'metrics', rule: 'Path(`/metrics`) && ClientIP(`127.0.0.1`)', service: 'metrics' },
    { name: 'wild', rule: 'HostRegexp(`^.+\\.wild\\.io$`)', service: 'wild' },
    { name: 'not-a', rule: '!Host(`a.com`) && Path(`/not-a`)', service: 'not-a' },
  ]);
  const owner: Record<string, string | undefined> = { 'a.com': 'a', 'b.com': 'b', 'x.wild.io': 'wild', 'nowhere.net': undefined };
  for (const [host, service] of Object.entries(owner)) {
    t.equal(table.match(req({ host, path: '/metrics' })), 'metrics', `metrics under ${host}`);
    t.equal(table.match(req({ host, path: '/metrics', clientIp: '10.0.0.1' })), service, `${host} when metrics does not match`);
  }
  t.equal(table.match(req({ host: 'x.wild.io' })), 'wild');
  t.equal(table.match(req({ host: 'b.com', path: '/not-a' })), 'not-a');
  t.equal(table.match(req({ host: 'a.com', path: '/not-a' })), 'a');
});

t.test('routes with contradictory hosts never match', async (t) => {
  const table = RouteTable.build([{ name: 'never', rule: 'Host(`a.com`) && Host(`b.com`)', service: 'never' }]);
  t.equal(table.size, 1);
  t.equal(table.match(req({ host: 'a.com' })), undefined);
  t.equal(table.match(req({ host: 'b.com' })), undefined);
});

t.test('an empty table matches nothing', async (t) => {
  const table = RouteTable.build<string>([]);
  t.equal(table.size, 0);
  t.equal(table.match(req()), undefined);
});

t.test('all errors are reported at once', async (t) => {
  const err = t.throws(() =>
    RouteTable.build([
      { name: 'ok', rule: 'Host(`a.com`)', service: 1 },
      { name: 'typo', rule: 'Hots(`a.com`)', service: 2 },
      { name: 'unclosed', rule: 'Host(`a.com`', service: 3 },
      { name: 'unterminated', rule: 'Host(`a.com', service: 3 },
      { name: 'prio', rule: 'Path(`/`)', priority: Number.NaN, service: 4 },
      { name: 'ok', rule: 'Path(`/`)', service: 5 },
    ]),
  ) as ConfigError;
  t.ok(err instanceof ConfigError);
  t.equal(err.code, 'BATON_CONFIG_INVALID');
  t.equal(err.problems.length, 5);
  t.match(err.problems[0], /^routes\.typo\.rule: unknown matcher 'Hots'.* at position 0$/);
  t.match(err.problems[1], /^routes\.unclosed\.rule: expected ',' or '\)' but found end of rule at position 12$/);
  t.match(err.problems[2], /^routes\.unterminated\.rule: unterminated string at position 5$/);
  t.match(err.problems[3], /^routes\.prio\.priority: /);
  t.match(err.problems[4], /^routes\.ok: duplicate route name$/);
  t.match(err.message, /routes\.typo\.rule/);
  t.match(err.message, /routes\.unclosed\.rule/);
});

t.test('the table is immutable', async (t) => {
  const routes: Route<string>[] = [{ name: 'a', rule: 'Host(`a.com`)', service: 'a' }];
  const table = RouteTable.build(routes);
  routes.push({ name: 'b', rule: 'Host(`b.com`)', service: 'b' });
  t.equal(table.size, 1);
  t.equal(table.match(req({ host: 'b.com' })), undefined);
  t.ok(Object.isFrozen(table));
  t.throws(() => {
    (table as { size: number }).size = 5;
  });
});
