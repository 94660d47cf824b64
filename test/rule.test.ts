import t from 'tap';
import { parseRule, type RequestView } from '../src/routing/rule.ts';
import { RuleSyntaxError } from '../src/errors.ts';

function req(over: Partial<RequestView> = {}): RequestView {
  return {
    host: 'example.com',
    path: '/',
    query: '',
    method: 'GET',
    headers: {},
    clientIp: '192.0.2.10',
    ...over,
  };
}

interface Case {
  rule: string;
  match: Partial<RequestView>[];
  noMatch: Partial<RequestView>[];
}

const cases: Case[] = [
  // Host
  { rule: 'Host(`example.com`)', match: [{}], noMatch: [{ host: 'other.com' }, { host: 'sub.example.com' }] },
  { rule: 'Host(`Example.COM`)', match: [{ host: 'example.com' }], noMatch: [{ host: 'example.org' }] },
  { rule: 'Host(`example.com:8080`)', match: [{ host: 'example.com' }], noMatch: [{ host: 'example.com:8080' }] },
  { rule: 'Host(`a.com`, `b.com`)', match: [{ host: 'a.com' }, { host: 'b.com' }], noMatch: [{ host: 'c.com' }] },
  { rule: 'Host("a.com")', match: [{ host: 'a.com' }], noMatch: [{ host: 'b.com' }] },
  { rule: 'Host(`[::1]`)', match: [{ host: '[::1]' }], noMatch: [{ host: '::1' }, { host: 'localhost' }] },
  { rule: 'Host(`::1`)', match: [{ host: '[::1]' }], noMatch: [{ host: '[::2]' }] },
  { rule: 'Host(`[::1]:8443`)', match: [{ host: '[::1]' }], noMatch: [{ host: '[::2]' }] },
  { rule: 'Host(`10.0.0.1`)', match: [{ host: '10.0.0.1' }], noMatch: [{ host: '10.0.0.2' }] },
  // HostRegexp, v3 and v2 syntax
  {
    rule: 'HostRegexp(`^.+\\.example\\.com$`)',
    match: [{ host: 'a.example.com' }, { host: 'a.b.example.com' }],
    noMatch: [{ host: 'example.com' }, { host: 'a.example.com.evil' }],
  },
  { rule: 'HostRegexp(`^API\\.`)', match: [{ host: 'api.example.com' }], noMatch: [{ host: 'www.example.com' }] },
  { rule: 'HostRegexp(`^[a-z]{3}\\.x\\.io$`)', match: [{ host: 'abc.x.io' }], noMatch: [{ host: 'abcd.x.io' }] },
  {
    rule: 'HostRegexp(`{subdomain:[a-z]+}.example.com`)',
    match: [{ host: 'api.example.com' }, { host: 'API.example.com' }],
    noMatch: [{ host: 'example.com' }, { host: 'a1.example.com' }, { host: 'apixexample.com' }, { host: 'x.example.com.evil' }],
  },
  {
    rule: 'HostRegexp(`{name}.example.com`)',
    match: [{ host: 'foo.example.com' }],
    noMatch: [{ host: 'a.b.example.com' }, { host: 'example.com' }],
  },
  {
    rule: 'HostRegexp(`{cc:[a-z]{2}}.shop.io`, `shop.io`)',
    match: [{ host: 'de.shop.io' }, { host: 'shop.io' }],
    noMatch: [{ host: 'deu.shop.io' }],
  },
  // Path, PathPrefix, PathRegexp
  { rule: 'Path(`/api`)', match: [{ path: '/api' }], noMatch: [{ path: '/api/' }, { path: '/apix' }, { path: '/' }] },
  { rule: 'Path(`/a`, `/b`)', match: [{ path: '/a' }, { path: '/b' }], noMatch: [{ path: '/c' }] },
  {
    rule: 'PathPrefix(`/api`)',
    match: [{ path: '/api' }, { path: '/api/x' }, { path: '/apix' }],
    noMatch: [{ path: '/ap' }, { path: '/v1/api' }],
  },
  { rule: 'PathPrefix(`/a`, `/b`, `/c`)', match: [{ path: '/a' }, { path: '/c/x' }], noMatch: [{ path: '/d' }] },
  { rule: 'PathPrefix(`/`)', match: [{ path: '/' }, { path: '/anything' }], noMatch: [] },
  {
    rule: 'PathRegexp(`\\.(jpe?g|png)$`)',
    match: [{ path: '/img/a.png' }, { path: '/b.jpeg' }],
    noMatch: [{ path: '/a.gif' }, { path: '/a.png/x' }],
  },
  { rule: 'PathRegexp(`^/users/(?P<id>[0-9]+)$`)', match: [{ path: '/users/42' }], noMatch: [{ path: '/users/x' }] },
  { rule: 'PathRegexp(`(?i)^/docs`)', match: [{ path: '/DOCS/a' }, { path: '/docs' }], noMatch: [{ path: '/api/docs' }] },
  // Method
  {
    rule: 'Method(`get`)',
    match: [{ method: 'GET' }],
    noMatch: [{ method: 'POST' }, { method: 'get' }],
  },
  { rule: 'Method(`GET`, `POST`)', match: [{ method: 'GET' }, { method: 'POST' }], noMatch: [{ method: 'PUT' }] },
  // Headers, HeadersRegexp
  {
    rule: 'Headers(`X-Env`, `prod`)',
    match: [{ headers: { 'x-env': 'prod' } }, { headers: { 'x-env': ['dev', 'prod'] } }],
    noMatch: [{ headers: { 'x-env': 'Prod' } }, { headers: {} }, { headers: { 'x-env': ['dev'] } }, { headers: { 'x-env': 'production' } }],
  },
  {
    rule: 'HeadersRegexp(`User-Agent`, `^curl/`)',
    match: [{ headers: { 'user-agent': 'curl/8.5.0' } }],
    noMatch: [{ headers: { 'user-agent': 'Mozilla/5.0 curl/1' } }, { headers: {} }],
  },
  {
    rule: 'HeadersRegexp(`X-Tag`, `^v[0-9]+$`)',
    match: [{ headers: { 'x-tag': 'v2' } }, { headers: { 'x-tag': ['beta', 'v12'] } }],
    noMatch: [{ headers: { 'x-tag': ['beta', 'v'] } }, { headers: { 'x-tag': 'V2' } }],
  },
  // Query (v3 key/value, v3 key only, v2 key=value)
  {
    rule: 'Query(`mobile`, `true`)',
    match: [{ query: 'mobile=true' }, { query: 'a=1&mobile=false&mobile=true' }, { query: 'mobile=%74rue' }],
    noMatch: [{ query: '' }, { query: 'mobile=false' }, { query: 'mobile' }, { query: 'xmobile=true' }],
  },
  { rule: 'Query(`debug`)', match: [{ query: 'debug' }, { query: 'a=1&debug=0' }], noMatch: [{ query: 'a=1' }, { query: '' }] },
  { rule: 'Query(`a=1`)', match: [{ query: 'a=1' }, { query: 'b=2&a=1' }], noMatch: [{ query: 'a=2' }] },
  // ClientIP
  {
    rule: 'ClientIP(`10.0.0.0/8`)',
    match: [{ clientIp: '10.1.2.3' }, { clientIp: '::ffff:10.1.2.3' }],
    noMatch: [{ clientIp: '11.0.0.1' }, { clientIp: '::ffff:11.0.0.1' }, { clientIp: '' }, { clientIp: '::1' }],
  },
  { rule: 'ClientIP(`192.0.2.10`)', match: [{}], noMatch: [{ clientIp: '192.0.2.11' }] },
  {
    rule: 'ClientIP(`2001:db8::/32`, `::1`)',
    match: [{ clientIp: '2001:db8::1' }, { clientIp: '2001:DB8:ffff::5' }, { clientIp: '::1' }],
    noMatch: [{ clientIp: '2001:db9::1' }, { clientIp: '10.0.0.1' }],
  },
  {
    rule: 'ClientIP(`::ffff:10.0.0.0/104`, `::FFFF:1.2.3.4`)',
    match: [{ clientIp: '10.9.9.9' }, { clientIp: '::ffff:10.9.9.9' }, { clientIp: '1.2.3.4' }, { clientIp: '::FFFF:1.2.3.4' }],
    noMatch: [{ clientIp: '11.0.0.1' }, { clientIp: '1.2.3.5' }],
  },
  {
    rule: 'ClientIP(`0.0.0.0/0`)',
    match: [{ clientIp: '0.0.0.0' }, { clientIp: '255.255.255.255' }, { clientIp: '::ffff:8.8.8.8' }],
    noMatch: [{ clientIp: '::1' }, { clientIp: 'garbage' }, { clientIp: '10.0.0' }, { clientIp: '10.0.0.256' }, { clientIp: '1.2.3.4.5' }, { clientIp: '1..2.3' }],
  },
  { rule: 'ClientIP(`::1`)', match: [{ clientIp: '::1' }, { clientIp: '[::1]' }], noMatch: [{ clientIp: '127.0.0.1' }] },
  { rule: 'ClientIP(`fe80::/10`)', match: [{ clientIp: 'fe80::1%eth0' }], noMatch: [{ clientIp: 'fec0::1' }] },
  // Operators and precedence
  {
    rule: 'Host(`a.com`) && PathPrefix(`/api`)',
    match: [{ host: 'a.com', path: '/api/v1' }],
    noMatch: [{ host: 'a.com', path: '/web' }, { host: 'b.com', path: '/api' }],
  },
  {
    // && binds tighter: Host(a) || (Host(b) && Path(/x))
    rule: 'Host(`a.com`) || Host(`b.com`) && Path(`/x`)',
    match: [{ host: 'a.com', path: '/anything' }, { host: 'b.com', path: '/x' }],
    noMatch: [{ host: 'b.com', path: '/y' }],
  },
  {
    rule: '(Host(`a.com`) || Host(`b.com`)) && Path(`/x`)',
    match: [{ host: 'a.com', path: '/x' }, { host: 'b.com', path: '/x' }],
    noMatch: [{ host: 'a.com', path: '/anything' }],
  },
  {
    rule: 'Path(`/x`) && Host(`b.com`) || Host(`a.com`)',
    match: [{ host: 'a.com', path: '/y' }, { host: 'b.com', path: '/x' }],
    noMatch: [{ host: 'b.com', path: '/y' }],
  },
  {
    // ! binds tighter than &&
    rule: '!Method(`POST`) && PathPrefix(`/a`)',
    match: [{ method: 'GET', path: '/a' }],
    noMatch: [{ method: 'POST', path: '/a' }, { method: 'GET', path: '/b' }],
  },
  {
    rule: '!(Method(`POST`) && PathPrefix(`/a`))',
    match: [{ method: 'GET', path: '/a' }, { method: 'POST', path: '/b' }],
    noMatch: [{ method: 'POST', path: '/a' }],
  },
  { rule: '!!Host(`a.com`)', match: [{ host: 'a.com' }], noMatch: [{ host: 'b.com' }] },
  {
    rule: '  ( ( Host ( `a.com` )\n\t|| Host(`b.com`) ) &&!Path(`/private`) )  ',
    match: [{ host: 'b.com', path: '/public' }],
    noMatch: [{ host: 'b.com', path: '/private' }, { host: 'c.com' }],
  },
  {
    rule: 'Host(`a.com`) && (Method(`GET`) || Headers(`X-Force`, `1`)) && !ClientIP(`10.0.0.0/8`)',
    match: [{ host: 'a.com' }, { host: 'a.com', method: 'PUT', headers: { 'x-force': '1' } }],
    noMatch: [{ host: 'a.com', method: 'PUT' }, { host: 'a.com', clientIp: '10.0.0.1' }],
  },
  // double-quoted strings with Go escapes
  { rule: 'PathRegexp("^/a\\\\.b$")', match: [{ path: '/a.b' }], noMatch: [{ path: '/aXb' }] },
  { rule: 'Path("/caf\\u00e9\\x21\\041")', match: [{ path: '/café!!' }], noMatch: [{ path: '/cafe!!' }] },
  { rule: 'Headers("X-Q", "say \\"hi\\"")', match: [{ headers: { 'x-q': 'say "hi"' } }], noMatch: [{ headers: { 'x-q': 'say hi' } }] },
];

t.test('rules match and do not match', async (t) => {
  for (const c of cases) {
    const { matcher } = parseRule(c.rule);
    for (const m of c.match) t.equal(matcher(req(m)), true, `${c.rule} matches ${JSON.stringify(m)}`);
    for (const m of c.noMatch) t.equal(matcher(req(m)), false, `${c.rule} does not match ${JSON.stringify(m)}`);
  }
});

t.test('priority is the rule length', async (t) => {
  t.equal(parseRule('Host(`a.com`)').priority, 'Host(`a.com`)'.length);
  t.equal(parseRule(' Path(`/`) ').priority, 11);
});

t.test('hosts extraction', async (t) => {
  const hostCases: [string, string[] | null][] = [
    ['Host(`a.com`)', ['a.com']],
    ['Host(`A.com:443`)', ['a.com']],
    ['Host(`a.com`) && PathPrefix(`/x`)', ['a.com']],
    ['PathPrefix(`/x`) && Host(`a.com`)', ['a.com']],
    ['Host(`a.com`) || Host(`b.com`)', ['a.com', 'b.com']],
    ['Host(`a.com`, `b.com`)', ['a.com', 'b.com']],
    ['Host(`a.com`) || Host(`a.com`)', ['a.com']],
    ['Host(`a.com`) || PathPrefix(`/x`)', null],
    ['!Host(`a.com`)', null],
    ['!Host(`a.com`) && Host(`b.com`)', ['b.com']],
    ['(Host(`a.com`) || Host(`b.com`)) && Method(`GET`)', ['a.com', 'b.com']],
    ['Host(`a.com`) && Host(`b.com`)', []],
    ['Host(`a.com`, `b.com`) && Host(`b.com`, `c.com`)', ['b.com']],
    ['HostRegexp(`^a\\.com$`)', null],
    ['HostRegexp(`^a\\.com$`) && Host(`a.com`)', ['a.com']],
    ['HostRegexp(`^a\\.com$`) || Host(`a.com`)', null],
    ['Path(`/`)', null],
    ['Host(`a.com`) && Path(`/`) || Host(`b.com`)', ['a.com', 'b.com']],
    ['Host(`a.com`) && Path(`/`) || Path(`/b`)', null],
    ['Host(`::1`)', ['[::1]']],
  ];
  for (const [rule, hosts] of hostCases) t.same(parseRule(rule).hosts, hosts, rule);
});

t.test('invalid rules throw RuleSyntaxError with the position of the problem', async (t) => {
  const bad: [rule: string, position: number, message: RegExp][] = [
    ['', 0, /empty rule/],
    ['   ', 0, /empty rule/],
    ['Host(`a.com`) &&', 16, /expected a matcher.*end of rule/],
    ['Host(`a.com`) ||   ', 19, /expected a matcher/],
    ['&& Host(`a.com`)', 0, /expected a matcher/],
    ['!', 1, /expected a matcher/],
    ['(Host(`a.com`)', 14, /expected '\)'/],
    ['(Host(`a.com`) Path(`/`)', 15, /expected '\)' but found 'Path'/],
    ['Host(`a.com`))', 13, /expected '&&', '\|\|' or end of rule/],
    ['Host(`a.com`) Path(`/`)', 14, /expected '&&', '\|\|' or end of rule/],
    ['()', 1, /expected a matcher/],
    ['Host(`a.com', 5, /unterminated string/],
    ['Host("a.com)', 5, /unterminated string/],
    ['Path(`/`) && Host("a\\', 18, /unterminated string/],
    ['Hots(`a.com`)', 0, /unknown matcher 'Hots'.*Host, HostRegexp/],
    ['Path(`/`) && host(`a.com`)', 13, /unknown matcher 'host'.*'Host'/],
    ['Host', 4, /expected '\('/],
    ['Host `a`', 5, /expected '\(' after 'Host'/],
    ['Host()', 5, /expected a quoted string/],
    ['Host(a.com)', 5, /expected a quoted string/],
    ["Host('a.com')", 5, /unexpected character '''/],
    ['Host(`a.com`,)', 13, /expected a quoted string/],
    ['Host(`a.com` `b.com`)', 13, /expected ',' or '\)'/],
    ['Headers(`X-A`)', 13, /Headers takes exactly 2 arguments.*got 1/],
    ['Headers(`X-A`, `1`, `2`)', 20, /got 3/],
    ['HeadersRegexp(`X-A`)', 19, /exactly 2/],
    ['Query(`a`, `b`, `c`)', 16, /Query takes 1 or 2/],
    ['Host(`a.com`) & Path(`/`)', 14, /unexpected character '&', expected '&&'/],
    ['Host(`a.com`) | Path(`/`)', 14, /expected '\|\|'/],
    ['Host(`a.com`) # comment', 14, /unexpected character '#'/],
    ['Host(`a.com`) AND Path(`/`)', 14, /expected '&&', '\|\|' or end of rule but found 'AND'/],
    ['Host(`a b`)', 5, /invalid host/],
    ['Host(`a.com/x`)', 5, /invalid host/],
    ['Host(``)', 5, /invalid host/],
    ['Host(`*.a.com`)', 5, /HostRegexp/],
    ['Host(`a.com:http`)', 5, /invalid port/],
    ['Host(`a.com`, `[::1`)', 14, /invalid host/],
    ['Path(`api`)', 5, /must start with '\/'/],
    ['PathPrefix(`/ok`, `api`)', 18, /must start with '\/'/],
    ['PathRegexp(`(`)', 11, /invalid regular expression in PathRegexp/],
    ['Path(`/`) && HostRegexp(`[a-`)', 24, /invalid regular expression in HostRegexp/],
    ['HostRegexp(`{sub:[a-z]+.a.com`)', 11, /unbalanced/],
    ['HostRegexp(`{sub}}.a.com`)', 11, /unbalanced/],
    ['HeadersRegexp(`X-A`, `*`)', 21, /invalid regular expression/],
    ['Headers(`X A`, `1`)', 8, /invalid header name/],
    ['Method(`GET POST`)', 7, /invalid HTTP method/],
    ['ClientIP(`10.0.0.0/33`)', 9, /invalid IP address or CIDR/],
    ['ClientIP(`10.0.0.256`)', 9, /invalid IP/],
    ['ClientIP(`::1`, `nope`)', 16, /invalid IP/],
    ['PathRegexp("^\\d+$")', 13, /invalid escape sequence/],
    ['Path("/\\x4")', 7, /invalid escape sequence/],
    ['Path("/\\400")', 7, /invalid escape sequence/],
    ['Query(``)', 6, /empty query key/],
  ];
  for (const [rule, position, message] of bad) {
    const err = t.throws(() => parseRule(rule), RuleSyntaxError, JSON.stringify(rule)) as RuleSyntaxError;
    t.equal(err?.code, 'BATON_RULE_SYNTAX', `${JSON.stringify(rule)} code`);
    t.equal(err?.position, position, `${JSON.stringify(rule)} position (${err?.message})`);
    t.match(err?.message, message, `${JSON.stringify(rule)} message`);
    t.match(err?.message, new RegExp(`at position ${position}$`));
  }
});

t.test('deeply nested rules are rejected, not a stack overflow', async (t) => {
  const deep = '('.repeat(10_000) + 'Path(`/`)' + ')'.repeat(10_000);
  const err = t.throws(() => parseRule(deep)) as RuleSyntaxError;
  t.equal(err.code, 'BATON_RULE_SYNTAX');
  t.ok(parseRule('('.repeat(50) + 'Path(`/`)' + ')'.repeat(50)).matcher(req()));
});

t.test('Query parses the query string only when it has to', async (t) => {
  const { matcher } = parseRule('Host(`a.com`) && Query(`x`, `1`)');
  let reads = 0;
  const r = req({ host: 'b.com' });
  Object.defineProperty(r, 'query', { get: () => (reads++, 'x=1') });
  t.equal(matcher(r), false);
  t.equal(reads, 0, 'short-circuited before Query');
  t.equal(matcher(req({ host: 'a.com', query: 'x=1' })), true);
});
