// The circuitBreaker's expression (Traefik → vulcand/oxy cbreaker → vulcand/predicate, which parses it as a Go
// expression): metrics compared with numbers, joined by && and || (Go precedence: comparisons, then &&, then
// ||), parentheses. A small pure parser, bounded: MAX_LENGTH characters, MAX_DEPTH nested parentheses.
//
//   NetworkErrorRatio()                      network errors / requests
//   ResponseCodeRatio(from, to, dFrom, dTo)  responses in [from, to) / responses in [dFrom, dTo); 0 when none
//   LatencyAtQuantileMS(q)                   the latency at quantile q (0..100), whole ms
//   RequestThreshold()                       requests in the window
//
// Where baton is more lenient than Traefik, it takes what Traefik refuses and means the same: any number where
// Traefik wants `50.0` (float) or `2` (int) literals, the number on either side of the comparison, function names
// in any case. It refuses what Traefik refuses otherwise: `!`, negative numbers, strings, comparing two numbers or
// two conditions, a comparison outside && / ||. And a quantile outside 0..100 (Traefik caps it).
import { ExpressionError } from '../../errors.ts';

export const MAX_LENGTH = 1024;
export const MAX_DEPTH = 16;

/** What an expression reads, over the current window. */
export interface Metrics {
  networkErrorRatio(): number;
  responseCodeRatio(from: number, to: number, dividedFrom: number, dividedTo: number): number;
  latencyAtQuantileMs(q: number): number;
  totalCount(): number;
}

export type Condition = (m: Metrics) => boolean;

export interface Compiled {
  test: Condition;
  /** whether it reads latencies (so the histogram is kept only then) */
  usesLatency: boolean;
}

type Tok =
  | { k: 'num'; v: number; pos: number }
  | { k: 'id'; v: string; pos: number }
  | { k: '(' | ')' | ',' | '&&' | '||' | '>' | '<' | '>=' | '<=' | '==' | '!=' | 'eof'; pos: number };

type Cmp = '>' | '<' | '>=' | '<=' | '==' | '!=';
const FLIP: Record<Cmp, Cmp> = { '>': '<', '<': '>', '>=': '<=', '<=': '>=', '==': '==', '!=': '!=' };

type Node =
  { t: 'bool'; f: Condition } | { t: 'metric'; f: (m: Metrics) => number; name: string } | { t: 'num'; v: number };

const NUMBER = /(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/y;
const IDENT = /[A-Za-z_][A-Za-z0-9_]*/y;
const OPS = ['&&', '||', '>=', '<=', '==', '!=', '>', '<', '(', ')', ','] as const;

function tokenize(src: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    NUMBER.lastIndex = i;
    const num = NUMBER.exec(src);
    if (num !== null) {
      IDENT.lastIndex = NUMBER.lastIndex;
      if (IDENT.exec(src) !== null) throw new ExpressionError(`malformed number "${src.slice(i, IDENT.lastIndex)}"`, i);
      out.push({ k: 'num', v: Number(num[0]), pos: i });
      i = NUMBER.lastIndex;
      continue;
    }
    IDENT.lastIndex = i;
    const id = IDENT.exec(src);
    if (id !== null) {
      out.push({ k: 'id', v: id[0], pos: i });
      i = IDENT.lastIndex;
      continue;
    }
    const op = OPS.find((o) => src.startsWith(o, i));
    if (op === undefined) {
      const what = c === '!' ? '"!" (negation) is not supported' : `unexpected ${JSON.stringify(c)}`;
      throw new ExpressionError(what, i);
    }
    out.push({ k: op, pos: i });
    i += op.length;
  }
  out.push({ k: 'eof', pos: src.length });
  return out;
}

interface Fn {
  name: string;
  arity: number;
  latency?: true;
  make(args: number[], pos: number): (m: Metrics) => number;
}

const whole = (v: number, what: string, pos: number): number => {
  if (!Number.isSafeInteger(v)) throw new ExpressionError(`${what} must be a whole number, got ${v}`, pos);
  return v;
};

const FUNCTIONS: readonly Fn[] = [
  { name: 'NetworkErrorRatio', arity: 0, make: () => (m) => m.networkErrorRatio() },
  { name: 'RequestThreshold', arity: 0, make: () => (m) => m.totalCount() },
  {
    name: 'ResponseCodeRatio',
    arity: 4,
    make(args, pos) {
      const [a, b, c, d] = args.map((v) => whole(v, 'a status code', pos));
      return (m) => m.responseCodeRatio(a, b, c, d);
    },
  },
  {
    name: 'LatencyAtQuantileMS',
    arity: 1,
    latency: true,
    make([q], pos) {
      if (q > 100) throw new ExpressionError(`the quantile is a percentage (0 to 100), got ${q}`, pos);
      return (m) => m.latencyAtQuantileMs(q);
    },
  },
];

function compare(op: Cmp, a: (m: Metrics) => number, v: number): Condition {
  switch (op) {
    case '>':
      return (m) => a(m) > v;
    case '<':
      return (m) => a(m) < v;
    case '>=':
      return (m) => a(m) >= v;
    case '<=':
      return (m) => a(m) <= v;
    case '==':
      return (m) => a(m) === v;
    case '!=':
      return (m) => a(m) !== v;
  }
}

class Parser {
  readonly #toks: Tok[];
  #i = 0;
  #depth = 0;
  usesLatency = false;

  constructor(toks: Tok[]) {
    this.#toks = toks;
  }

  #peek(): Tok {
    return this.#toks[this.#i];
  }

  #next(): Tok {
    return this.#toks[this.#i++];
  }

  #expect(k: Tok['k']): Tok {
    const t = this.#next();
    if (t.k !== k) throw new ExpressionError(`expected "${k}", got ${describe(t)}`, t.pos);
    return t;
  }

  parse(): Node {
    const n = this.#or();
    const t = this.#peek();
    if (t.k !== 'eof') throw new ExpressionError(`unexpected ${describe(t)}`, t.pos);
    return n;
  }

  #or(): Node {
    return this.#join('||', () => this.#and());
  }

  #and(): Node {
    return this.#join('&&', () => this.#cmp());
  }

  #join(op: '&&' | '||', sub: () => Node): Node {
    const first = sub();
    if (this.#peek().k !== op) return first;
    const parts: Condition[] = [asBool(first, this.#peek().pos)];
    while (this.#peek().k === op) {
      const at = this.#next().pos;
      parts.push(asBool(sub(), at));
    }
    const f: Condition = op === '&&' ? (m) => parts.every((p) => p(m)) : (m) => parts.some((p) => p(m));
    return { t: 'bool', f };
  }

  #cmp(): Node {
    let left = this.#primary();
    for (let t = this.#peek(); isCmp(t.k); t = this.#peek()) {
      this.#next();
      const right = this.#primary();
      left = comparison(t.k, left, right, t.pos);
    }
    return left;
  }

  #primary(): Node {
    const t = this.#next();
    if (t.k === 'num') return { t: 'num', v: t.v };
    if (t.k === '(') {
      if (++this.#depth > MAX_DEPTH) throw new ExpressionError(`more than ${MAX_DEPTH} nested parentheses`, t.pos);
      const n = this.#or();
      this.#expect(')');
      this.#depth--;
      return n;
    }
    if (t.k === 'id') return this.#call(t.v, t.pos);
    throw new ExpressionError(`unexpected ${describe(t)}`, t.pos);
  }

  #call(name: string, pos: number): Node {
    const fn = FUNCTIONS.find((f) => f.name.toLowerCase() === name.toLowerCase());
    if (fn === undefined) {
      const known = FUNCTIONS.map((f) => f.name).join(', ');
      throw new ExpressionError(`unknown function ${name} (known: ${known})`, pos);
    }
    this.#expect('(');
    const args: number[] = [];
    if (this.#peek().k !== ')') {
      for (;;) {
        const a = this.#next();
        if (a.k !== 'num') throw new ExpressionError(`${fn.name}: expected a number, got ${describe(a)}`, a.pos);
        args.push(a.v);
        if (this.#peek().k !== ',') break;
        this.#next();
      }
    }
    this.#expect(')');
    if (args.length !== fn.arity) {
      throw new ExpressionError(`${fn.name} takes ${fn.arity} argument(s), got ${args.length}`, pos);
    }
    if (fn.latency) this.usesLatency = true;
    return { t: 'metric', f: fn.make(args, pos), name: fn.name };
  }
}

function isCmp(k: Tok['k']): k is Cmp {
  return k === '>' || k === '<' || k === '>=' || k === '<=' || k === '==' || k === '!=';
}

function describe(t: Tok): string {
  if (t.k === 'eof') return 'the end';
  if (t.k === 'num') return `number ${t.v}`;
  if (t.k === 'id') return `"${t.v}"`;
  return `"${t.k}"`;
}

function asBool(n: Node, pos: number): Condition {
  if (n.t === 'bool') return n.f;
  const what = n.t === 'metric' ? `${n.name}() alone` : 'a number';
  throw new ExpressionError(`expected a comparison (such as NetworkErrorRatio() > 0.5), got ${what}`, pos);
}

function comparison(op: Cmp, left: Node, right: Node, pos: number): Node {
  if (left.t === 'metric' && right.t === 'num') return { t: 'bool', f: compare(op, left.f, right.v) };
  if (left.t === 'num' && right.t === 'metric') return { t: 'bool', f: compare(FLIP[op], right.f, left.v) };
  const kind = (n: Node) => (n.t === 'bool' ? 'a condition' : n.t === 'metric' ? 'a metric' : 'a number');
  throw new ExpressionError(`"${op}" compares a metric with a number, not ${kind(left)} with ${kind(right)}`, pos);
}

/** Compiles a circuitBreaker expression; throws ExpressionError (with a position) when it is not one. */
export function compileExpression(src: string): Compiled {
  if (src.length > MAX_LENGTH) throw new ExpressionError(`longer than ${MAX_LENGTH} characters`, MAX_LENGTH);
  if (src.trim() === '') throw new ExpressionError('empty expression', 0);
  const p = new Parser(tokenize(src));
  const n = p.parse();
  return { test: asBool(n, 0), usesLatency: p.usesLatency };
}
