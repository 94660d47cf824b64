// Traefik rule lexer: tokens read on demand, so the first error in reading order is the one reported. Pure.

import { RuleSyntaxError } from '../errors.ts';

export interface StringToken {
  kind: 'string';
  pos: number;
  value: string;
}

export type Token =
  | StringToken
  | { kind: 'ident'; pos: number; value: string }
  | { kind: '(' | ')' | ',' | '&&' | '||' | '!' | 'eof'; pos: number; value: string };

/** A token as error messages name it. */
export function describe(t: Token): string {
  switch (t.kind) {
    case 'eof':
      return 'end of rule';
    case 'ident':
      return `'${t.value}'`;
    case 'string':
      return 'a string';
    default:
      return `'${t.kind}'`;
  }
}

const SIMPLE_ESCAPES: Record<string, string> = {
  a: '\x07',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
  '\\': '\\',
  '"': '"',
};

export class Lexer {
  src: string;
  pos = 0;
  #peeked: Token | null = null;

  constructor(src: string) {
    this.src = src;
  }

  peek(): Token {
    this.#peeked ??= this.#read();
    return this.#peeked;
  }

  next(): Token {
    const t = this.peek();
    this.#peeked = null;
    return t;
  }

  #read(): Token {
    const s = this.src;
    while (this.pos < s.length && /\s/.test(s[this.pos])) this.pos++;
    const start = this.pos;
    if (start >= s.length) return { kind: 'eof', pos: s.length, value: '' };
    const c = s[start];
    switch (c) {
      case '(':
      case ')':
      case ',':
      case '!':
        this.pos++;
        return { kind: c, pos: start, value: c };
      case '&':
      case '|':
        if (s[start + 1] !== c) throw new RuleSyntaxError(`unexpected character '${c}', expected '${c}${c}'`, start);
        this.pos += 2;
        return { kind: c === '&' ? '&&' : '||', pos: start, value: c + c };
      case '`': {
        const end = s.indexOf('`', start + 1);
        if (end === -1) throw new RuleSyntaxError('unterminated string', start);
        this.pos = end + 1;
        return { kind: 'string', pos: start, value: s.slice(start + 1, end) };
      }
      case '"':
        return this.#readQuoted(start);
    }
    if (/[A-Za-z_]/.test(c)) {
      let end = start + 1;
      while (end < s.length && /[A-Za-z0-9_]/.test(s[end])) end++;
      this.pos = end;
      return { kind: 'ident', pos: start, value: s.slice(start, end) };
    }
    const shown = JSON.stringify(String.fromCodePoint(s.codePointAt(start)!)).slice(1, -1);
    throw new RuleSyntaxError(`unexpected character '${shown}'`, start);
  }

  /** Double-quoted string with Go escapes (\n, \t, \\, \", \xHH, \uHHHH, \UHHHHHHHH, \ooo). */
  #readQuoted(start: number): StringToken {
    const s = this.src;
    let out = '';
    let i = start + 1;
    for (;;) {
      if (i >= s.length || s[i] === '\n') throw new RuleSyntaxError('unterminated string', start);
      const c = s[i];
      if (c === '"') break;
      if (c !== '\\') {
        out += c;
        i++;
        continue;
      }
      const e = s[i + 1];
      if (e === undefined) throw new RuleSyntaxError('unterminated string', start);
      if (e in SIMPLE_ESCAPES) {
        out += SIMPLE_ESCAPES[e];
        i += 2;
        continue;
      }
      let code = -1;
      let len = 0;
      if (e === 'x' || e === 'u' || e === 'U') {
        const hexLen = e === 'x' ? 2 : e === 'u' ? 4 : 8;
        const hex = s.slice(i + 2, i + 2 + hexLen);
        if (hex.length === hexLen && /^[0-9a-fA-F]+$/.test(hex)) code = parseInt(hex, 16);
        len = 2 + hexLen;
      } else if (e >= '0' && e <= '7') {
        const oct = s.slice(i + 1, i + 4);
        if (/^[0-7]{3}$/.test(oct)) code = parseInt(oct, 8);
        if (code > 0xff) code = -1;
        len = 4;
      }
      if (code < 0 || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) {
        throw new RuleSyntaxError(
          `invalid escape sequence '\\${e}' in string (use a backtick string for regular expressions)`,
          i,
        );
      }
      out += String.fromCodePoint(code);
      i += len;
    }
    this.pos = i + 1;
    return { kind: 'string', pos: start, value: out };
  }
}
