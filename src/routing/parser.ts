// Traefik (v2 and v3) rule parser: compiles the expression straight into closures while it reads it. Pure.
//
//   rule    := or
//   or      := and ('||' and)*
//   and     := unary ('&&' unary)*
//   unary   := '!' unary | primary
//   primary := '(' or ')' | Matcher '(' string (',' string)* ')'
//   string  := `raw` | "Go-style escaped"

import { RuleSyntaxError } from '../errors.ts';
import { describe, Lexer, type StringToken, type Token } from './lexer.ts';
import { MATCHER_NAMES, MATCHERS, type Node } from './matchers.ts';

/** How deeply '!' and '(' may nest: a bound on recursion for rules from labels. */
const MAX_DEPTH = 256;

export class Parser {
  lx: Lexer;
  depth = 0;

  constructor(src: string) {
    this.lx = new Lexer(src);
  }

  parse(): Node {
    const first = this.lx.peek();
    if (first.kind === 'eof') throw new RuleSyntaxError('empty rule', 0);
    const node = this.or();
    const t = this.lx.peek();
    if (t.kind !== 'eof') {
      throw new RuleSyntaxError(`expected '&&', '||' or end of rule but found ${describe(t)}`, t.pos);
    }
    return node;
  }

  or(): Node {
    let left = this.and();
    while (this.lx.peek().kind === '||') {
      this.lx.next();
      const right = this.and();
      const a = left.m;
      const b = right.m;
      left = {
        m: (r) => a(r) || b(r),
        hosts: left.hosts === null || right.hosts === null ? null : union(left.hosts, right.hosts),
      };
    }
    return left;
  }

  and(): Node {
    let left = this.unary();
    while (this.lx.peek().kind === '&&') {
      this.lx.next();
      const right = this.unary();
      const a = left.m;
      const b = right.m;
      left = { m: (r) => a(r) && b(r), hosts: intersection(left.hosts, right.hosts) };
    }
    return left;
  }

  unary(): Node {
    const t = this.lx.peek();
    if (t.kind === '!') {
      this.lx.next();
      this.enter(t.pos);
      const inner = this.unary().m;
      this.depth--;
      return { m: (r) => !inner(r), hosts: null };
    }
    return this.primary();
  }

  primary(): Node {
    const t = this.lx.next();
    if (t.kind === '(') {
      this.enter(t.pos);
      const node = this.or();
      this.depth--;
      const close = this.lx.next();
      if (close.kind !== ')') throw new RuleSyntaxError(`expected ')' but found ${describe(close)}`, close.pos);
      return node;
    }
    if (t.kind === 'ident') return this.matcher(t.value, t.pos);
    throw new RuleSyntaxError(`expected a matcher, '!' or '(' but found ${describe(t)}`, t.pos);
  }

  matcher(name: string, pos: number): Node {
    const spec = Object.hasOwn(MATCHERS, name) ? MATCHERS[name] : undefined;
    if (!spec) {
      const alike = MATCHER_NAMES.find((n) => n.toLowerCase() === name.toLowerCase());
      const hint = alike
        ? `did you mean '${alike}'? matcher names are case-sensitive`
        : `expected one of ${MATCHER_NAMES.join(', ')}`;
      throw new RuleSyntaxError(`unknown matcher '${name}' (${hint})`, pos);
    }
    const open = this.lx.next();
    if (open.kind !== '(') {
      throw new RuleSyntaxError(`expected '(' after '${name}' but found ${describe(open)}`, open.pos);
    }
    const args: StringToken[] = [];
    let close: Token;
    for (;;) {
      const a = this.lx.next();
      if (a.kind !== 'string') {
        throw new RuleSyntaxError(
          `expected a quoted string argument to ${name} (backticks or double quotes) but found ${describe(a)}`,
          a.pos,
        );
      }
      args.push(a);
      close = this.lx.next();
      if (close.kind === ')') break;
      if (close.kind !== ',') throw new RuleSyntaxError(`expected ',' or ')' but found ${describe(close)}`, close.pos);
    }
    if (args.length < spec.min) throw new RuleSyntaxError(`${name} takes ${spec.args}, got ${args.length}`, close.pos);
    if (args.length > spec.max) {
      throw new RuleSyntaxError(`${name} takes ${spec.args}, got ${args.length}`, args[spec.max].pos);
    }
    return spec.build(args);
  }

  enter(pos: number): void {
    if (++this.depth > MAX_DEPTH) throw new RuleSyntaxError('rule nested too deeply', pos);
  }
}

function union(a: string[], b: string[]): string[] {
  const out = a.slice();
  for (const h of b) if (!out.includes(h)) out.push(h);
  return out;
}

/** Hosts of `a && b`: either side's if the other is unconstrained (null), else those in both. */
function intersection(a: string[] | null, b: string[] | null): string[] | null {
  if (a === null) return b;
  if (b === null) return a;
  return a.filter((h) => b.includes(h));
}
