// The buffering middleware's retryExpression (pure): vulcand/oxy's buffer predicate, in Go expression syntax —
// functions IsNetworkError(), Attempts(), ResponseCode(), RequestMethod(), compared with a constant on the right
// (==, !=, <, <=, >, >= for numbers; == and != for texts) and combined with && and || (&& binds tighter) and
// parentheses. As in oxy, there is no `!`, and the constant must be on the right.
//
// oxy replays the buffered request after an attempt while the predicate holds (at most 10 replays). baton replays
// only an attempt that failed without an answer, within its safe-retry rules (ctx.retry) — an upstream's answer is
// never replayed. So an expression is accepted when it is true only for failed attempts: IsNetworkError() must be
// required, and ResponseCode() (which asks to replay answers) is refused. What it then says is how many attempts a
// request of a given method gets: the first attempt count at which it no longer holds.

export type IntFn = 'Attempts' | 'ResponseCode';
export type Op = '==' | '!=' | '<' | '<=' | '>' | '>=';

export type RetryExpr =
  | { kind: 'and' | 'or'; left: RetryExpr; right: RetryExpr }
  | { kind: 'network' }
  | { kind: 'int'; fn: IntFn; op: Op; value: number }
  | { kind: 'method'; op: '==' | '!='; value: string };

/** What an expression is evaluated against: one attempt's outcome. */
export interface Attempt {
  networkError: boolean;
  /** the attempts made so far (the first one counts) */
  attempts: number;
  method: string;
  /** the upstream's status, 0 when there was none */
  responseCode: number;
}

/** oxy's DefaultMaxRetryAttempts: the predicate is asked after at most 10 attempts. */
export const MAX_REPLAYS = 10;
const MAX_LENGTH = 1000;
const MAX_DEPTH = 32;

type Token =
  | { t: 'ident'; v: string; at: number }
  | { t: 'int'; v: number; at: number }
  | { t: 'str'; v: string; at: number }
  | { t: 'op'; v: string; at: number }
  | { t: 'end'; at: number };

const TOKEN =
  /\s*(?:([A-Za-z_][A-Za-z0-9_]*)|(\d+)|"((?:[^"\\\n]|\\.)*)"|`([^`]*)`|(&&|\|\||==|!=|<=|>=|[<>()!])|(\S))/y;

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  TOKEN.lastIndex = 0;
  for (;;) {
    const at = TOKEN.lastIndex;
    const m = TOKEN.exec(src);
    if (m === null) break;
    const pos = m.index + m[0].length - m[0].trimStart().length;
    if (m[1] !== undefined) out.push({ t: 'ident', v: m[1], at: pos });
    else if (m[2] !== undefined) out.push({ t: 'int', v: Number(m[2]), at: pos });
    else if (m[3] !== undefined) out.push({ t: 'str', v: m[3].replace(/\\(.)/g, '$1'), at: pos });
    else if (m[4] !== undefined) out.push({ t: 'str', v: m[4], at: pos });
    else if (m[5] !== undefined) out.push({ t: 'op', v: m[5], at: pos });
    else throw new SyntaxError(`unexpected ${JSON.stringify(m[6])} at position ${pos}`);
    if (TOKEN.lastIndex === at) break;
  }
  out.push({ t: 'end', at: src.length });
  return out;
}

const FUNCTIONS = ['IsNetworkError', 'Attempts', 'ResponseCode', 'RequestMethod'];
const OPS = new Set(['==', '!=', '<', '<=', '>', '>=']);

type Operand = { type: 'bool'; expr: RetryExpr } | { type: 'int'; fn: IntFn } | { type: 'string' };

class Parser {
  #toks: Token[];
  #i = 0;
  constructor(toks: Token[]) {
    this.#toks = toks;
  }
  get #peek(): Token {
    return this.#toks[this.#i];
  }
  #fail(msg: string, tok = this.#peek): never {
    throw new SyntaxError(`${msg} at position ${tok.at}`);
  }
  #isOp(v: string): boolean {
    const p = this.#peek;
    return p.t === 'op' && p.v === v;
  }
  parse(): RetryExpr {
    const e = this.#or(0);
    if (this.#peek.t !== 'end') this.#fail(`unexpected ${describe(this.#peek)}`);
    return e;
  }
  #or(depth: number): RetryExpr {
    let left = this.#and(depth);
    while (this.#isOp('||')) {
      this.#i++;
      left = { kind: 'or', left, right: this.#and(depth) };
    }
    return left;
  }
  #and(depth: number): RetryExpr {
    let left = this.#comparison(depth);
    while (this.#isOp('&&')) {
      this.#i++;
      left = { kind: 'and', left, right: this.#comparison(depth) };
    }
    return left;
  }
  #comparison(depth: number): RetryExpr {
    const start = this.#peek;
    const left = this.#operand(depth);
    const op = this.#peek;
    if (op.t === 'op' && OPS.has(op.v)) {
      this.#i++;
      const right = this.#peek;
      this.#i++;
      if (left.type === 'bool') this.#fail(`${op.v} compares a function's value, not a condition`, op);
      if (left.type === 'int') {
        if (right.t !== 'int')
          this.#fail(`${left.fn}() is compared with a whole number, got ${describe(right)}`, right);
        return { kind: 'int', fn: left.fn, op: op.v as Op, value: right.v };
      }
      if (op.v !== '==' && op.v !== '!=') this.#fail(`RequestMethod() is compared with == or !=, not ${op.v}`, op);
      if (right.t !== 'str')
        this.#fail(`RequestMethod() is compared with a quoted text, got ${describe(right)}`, right);
      return { kind: 'method', op: op.v as '==' | '!=', value: right.v };
    }
    if (left.type === 'bool') return left.expr;
    const name = left.type === 'int' ? left.fn : 'RequestMethod';
    return this.#fail(`${name}() is a value, not a condition: compare it (e.g. ${name}() < 3)`, start);
  }
  #operand(depth: number): Operand {
    if (depth > MAX_DEPTH) this.#fail('too deeply nested');
    const tok = this.#peek;
    this.#i++;
    if (tok.t === 'op' && tok.v === '(') {
      const inner = this.#or(depth + 1);
      if (!this.#isOp(')')) this.#fail(`expected ")", got ${describe(this.#peek)}`);
      this.#i++;
      return { type: 'bool', expr: inner };
    }
    if (tok.t === 'op' && tok.v === '!') this.#fail('negation (!) is not supported (as in Traefik)', tok);
    if (tok.t === 'int' || tok.t === 'str') this.#fail('a constant goes on the right of a comparison', tok);
    if (tok.t !== 'ident') this.#fail(`expected a function, got ${describe(tok)}`, tok);
    if (!FUNCTIONS.includes(tok.v)) this.#fail(`unknown function ${tok.v} (known: ${FUNCTIONS.join(', ')})`, tok);
    if (!this.#isOp('(')) this.#fail(`expected "(" after ${tok.v}`);
    this.#i++;
    if (!this.#isOp(')')) this.#fail(`${tok.v}() takes no arguments`);
    this.#i++;
    if (tok.v === 'IsNetworkError') return { type: 'bool', expr: { kind: 'network' } };
    if (tok.v === 'RequestMethod') return { type: 'string' };
    return { type: 'int', fn: tok.v as IntFn };
  }
}

function describe(tok: Token): string {
  if (tok.t === 'end') return 'the end';
  return tok.t === 'str' ? JSON.stringify(tok.v) : `"${tok.v}"`;
}

/** The expression's tree, or a message saying what is wrong. */
export function parseRetryExpression(src: string): RetryExpr | { error: string } {
  if (src.length > MAX_LENGTH) return { error: `longer than ${MAX_LENGTH} characters` };
  if (src.trim() === '') return { error: 'empty: at least one function is required' };
  try {
    return new Parser(tokenize(src)).parse();
  } catch (err) {
    return { error: (err as Error).message };
  }
}

export function evaluate(e: RetryExpr, a: Attempt): boolean {
  switch (e.kind) {
    case 'and':
      return evaluate(e.left, a) && evaluate(e.right, a);
    case 'or':
      return evaluate(e.left, a) || evaluate(e.right, a);
    case 'network':
      // oxy: the attempt's status is 502 or 504 (its proxy's answer to a transport failure)
      return a.networkError;
    case 'method':
      return (a.method === e.value) === (e.op === '==');
    case 'int':
      return compare(e.fn === 'Attempts' ? a.attempts : a.responseCode, e.op, e.value);
  }
}

function compare(x: number, op: Op, y: number): boolean {
  switch (op) {
    case '==':
      return x === y;
    case '!=':
      return x !== y;
    case '<':
      return x < y;
    case '<=':
      return x <= y;
    case '>':
      return x > y;
    case '>=':
      return x >= y;
  }
}

function walk(e: RetryExpr, visit: (e: RetryExpr) => void): void {
  visit(e);
  if (e.kind === 'and' || e.kind === 'or') {
    walk(e.left, visit);
    walk(e.right, visit);
  }
}

/** How many attempts in all a failed request of this method gets (1: no retry): oxy asks the predicate after each
 *  attempt, up to MAX_REPLAYS times. */
export function attemptsFor(e: RetryExpr, method: string): number {
  for (let k = 1; k <= MAX_REPLAYS; k++) {
    if (!evaluate(e, { networkError: true, attempts: k, method, responseCode: 0 })) return k;
  }
  return MAX_REPLAYS + 1;
}

/** A retry plan: attempts by method (the methods the expression names, and every other method). */
export interface RetryPlan {
  byMethod: ReadonlyMap<string, number>;
  otherwise: number;
}

/** A method no expression names (RequestMethod() compares with texts from the expression only). */
const OTHER = '\u0000other';

/** The plan of an expression baton can follow, or why it cannot. */
export function retryPlan(src: string): RetryPlan | { error: string } {
  const e = parseRetryExpression(src);
  if ('error' in e) return e;
  const methods = new Set<string>();
  let responseCode = false;
  walk(e, (n) => {
    if (n.kind === 'method') methods.add(n.value);
    if (n.kind === 'int' && n.fn === 'ResponseCode') responseCode = true;
  });
  if (responseCode) {
    return {
      error:
        'ResponseCode() is not supported: baton never replays a request the upstream answered; ' +
        'use IsNetworkError() && Attempts() < N (retries of failed attempts, within baton safe-retry rules)',
    };
  }
  for (const method of [...methods, OTHER]) {
    for (let k = 1; k <= MAX_REPLAYS; k++) {
      if (evaluate(e, { networkError: false, attempts: k, method, responseCode: 0 })) {
        return {
          error:
            `it holds for an attempt that did not fail (attempt ${k}): baton replays only failed attempts; ` +
            'require IsNetworkError(), e.g. IsNetworkError() && Attempts() < 3',
        };
      }
    }
  }
  const byMethod = new Map([...methods].map((m) => [m, attemptsFor(e, m)]));
  return { byMethod, otherwise: attemptsFor(e, OTHER) };
}

/** The attempts a request of `method` gets under a plan. */
export function planAttempts(plan: RetryPlan, method: string): number {
  return plan.byMethod.get(method) ?? plan.otherwise;
}
