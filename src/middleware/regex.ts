// Regular expressions in middleware options (redirectRegex, replacePathRegex, stripPrefixRegex, CORS origin
// regexes, ...), written in Go's RE2 syntax as for Traefik, compiled for V8's linear-time engine (the `l` flag):
// matching time grows with the input's length only, whatever the pattern, so no request can make a pattern
// backtrack catastrophically. What the linear engine cannot run (backreferences, lookahead) is refused at config
// time, as RE2 refuses it. Case-insensitive patterns ((?i)) are rewritten into character classes, since the linear
// engine has no `i` flag.
import { setFlagsFromString } from 'node:v8';

/** Longest pattern accepted, and the highest repetition count (RE2's own limit is 1000). */
const MAX_PATTERN = 2000;
const MAX_REPEAT = 1000;

let linearEngine = false;

function enableLinearEngine(): void {
  if (linearEngine) return;
  // Only makes the `l` flag available; every other RegExp behaves as before.
  setFlagsFromString('--enable-experimental-regexp-engine');
  linearEngine = true;
}

/** `x` → `[xX]` for ASCII letters outside classes, and both cases added inside classes. */
function caseFold(src: string): string {
  let out = '';
  let inClass = false;
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (c === '\\') {
      out += src.slice(i, i + 2);
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      const range = /^([a-zA-Z])-([a-zA-Z])/.exec(src.slice(i));
      if (range !== null && range[1].toLowerCase() <= range[2].toLowerCase()) {
        const lo = range[1].toLowerCase();
        const hi = range[2].toLowerCase();
        out += `${lo}-${hi}${lo.toUpperCase()}-${hi.toUpperCase()}`;
        i += 2;
        continue;
      }
      out += /[a-zA-Z]/.test(c) ? c.toLowerCase() + c.toUpperCase() : c;
      continue;
    }
    if (c === '[') {
      inClass = true;
      out += c;
      if (src[i + 1] === '^') out += src[++i];
      continue;
    }
    if (c === '(' && src.startsWith('(?<', i)) {
      // a group name is not matched text
      const end = src.indexOf('>', i);
      out += src.slice(i, end + 1);
      i = end;
      continue;
    }
    if (c === '{') {
      const end = src.indexOf('}', i);
      out += src.slice(i, end + 1);
      i = end === -1 ? src.length : end;
      continue;
    }
    out += /[a-zA-Z]/.test(c) ? `[${c.toLowerCase()}${c.toUpperCase()}]` : c;
  }
  return out;
}

const POSIX: Record<string, string> = {
  alnum: '0-9A-Za-z',
  alpha: 'A-Za-z',
  ascii: '\\x00-\\x7F',
  blank: '\\t ',
  cntrl: '\\x00-\\x1F\\x7F',
  digit: '0-9',
  graph: '!-~',
  lower: 'a-z',
  print: ' -~',
  punct: '!-\\/:-@[-`{-~',
  space: '\\t\\n\\v\\f\\r ',
  upper: 'A-Z',
  word: '0-9A-Za-z_',
  xdigit: '0-9A-Fa-f',
};

/** RE2 escapes and classes JS spells otherwise (or not at all): rewritten, or a message for what cannot be. */
function re2Forms(body: string): string {
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === '[' && body.startsWith('[:', i)) {
      const m = /^\[:(\^?)([a-z]+):\]/.exec(body.slice(i));
      if (m === null || POSIX[m[2]] === undefined) throw new Error(`unknown character class ${body.slice(i, i + 10)}`);
      if (m[1] === '^') throw new Error('negated POSIX classes ([[:^alpha:]]) are not supported');
      out += POSIX[m[2]];
      i += m[0].length - 1;
      continue;
    }
    if (c !== '\\') {
      out += c;
      continue;
    }
    const n = body[i + 1];
    if (n === 'A') out += '^';
    else if (n === 'z') out += '$';
    else if (n === 'Q') {
      const end = body.indexOf('\\E', i + 2);
      const literal = body.slice(i + 2, end === -1 ? body.length : end);
      out += literal.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
      i = end === -1 ? body.length : end + 1;
      continue;
    } else if (n === 'x' && body[i + 2] === '{') {
      const m = /^\{([0-9A-Fa-f]{1,4})\}/.exec(body.slice(i + 2));
      if (m === null) throw new Error('\\x{...} beyond U+FFFF is not supported');
      out += `\\u${m[1].padStart(4, '0')}`;
      i += 2 + m[0].length - 1;
      continue;
    } else if (n === 'p' || n === 'P') throw new Error('Unicode classes (\\pL, \\p{Greek}) are not supported');
    else if (n === 'C') throw new Error('\\C is not supported');
    else out += c + (n ?? '');
    i++;
  }
  return out;
}

/** Go syntax → a JS source: `(?P<name>` → `(?<name>`; a leading `(?flags)` group read off. */
function translate(src: string): { body: string; flags: string } | string {
  let flags = '';
  let body = src;
  // a leading flag group, also right after the anchor (`^(?i)/downloads`: Go applies it from there on)
  const lead = /^(\^?)\(\?([imsU]+)\)/.exec(body);
  if (lead !== null) {
    if (lead[2].includes('U')) return "flag 'U' is not supported";
    flags = lead[2];
    body = lead[1] + body.slice(lead[0].length);
  }
  if (/\(\?[imsU-]+[:)]/.test(body)) {
    return 'flags are supported only at the very start of the pattern, e.g. (?i)^/path (not (?i:...) or mid-pattern)';
  }
  body = body.replace(/\(\?P</g, '(?<');
  try {
    body = re2Forms(body);
  } catch (err) {
    return (err as Error).message;
  }
  for (const m of body.matchAll(/\{(\d+)(?:,(\d*))?\}/g)) {
    if (Number(m[1]) > MAX_REPEAT || (m[2] !== undefined && m[2] !== '' && Number(m[2]) > MAX_REPEAT)) {
      return `repetition counts are at most ${MAX_REPEAT}`;
    }
  }
  return { body, flags };
}

/**
 * A Go (RE2) pattern compiled to run in linear time, or a message saying why it cannot be: for a middleware's
 * option, checked once when the config is read. `extraFlags` e.g. 'g'.
 */
export function linearRegExp(src: string, extraFlags = ''): RegExp | string {
  if (src.length > MAX_PATTERN) return `the pattern is longer than ${MAX_PATTERN} characters`;
  const t = translate(src);
  if (typeof t === 'string') return t;
  let body = t.body;
  let flags = `l${extraFlags}`;
  if (t.flags.includes('i')) body = caseFold(body);
  if (t.flags.includes('m')) flags += 'm';
  if (t.flags.includes('s')) flags += 's';
  enableLinearEngine();
  try {
    return new RegExp(body, flags);
  } catch (err) {
    const why = err instanceof Error ? err.message.replace(/^Invalid regular expression: \/.*\/\w*: /s, '') : '';
    if (/linear time/.test(why)) {
      return (
        'the pattern needs backtracking (backreferences, lookahead: not in RE2 either) or its nested repetitions are ' +
        'too large to match in linear time'
      );
    }
    return `invalid regular expression: ${why || String(err)}`;
  }
}

/**
 * Go's regexp Expand for replacement templates (`$1`, `${1}`, `$name`, `${name}`, `$$`): a name is the longest run
 * of letters, digits and '_' (so `$1x` is the group named "1x", empty when there is none), as in Go.
 */
export function expandGo(template: string, m: RegExpExecArray): string {
  let out = '';
  for (let i = 0; i < template.length; i++) {
    const c = template[i];
    if (c !== '$' || i === template.length - 1) {
      out += c;
      continue;
    }
    const next = template[i + 1];
    if (next === '$') {
      out += '$';
      i++;
      continue;
    }
    let name: string;
    if (next === '{') {
      const end = template.indexOf('}', i + 2);
      if (end === -1) {
        out += c;
        continue;
      }
      name = template.slice(i + 2, end);
      i = end;
    } else {
      const run = /^[A-Za-z0-9_]+/.exec(template.slice(i + 1));
      if (run === null) {
        out += c;
        continue;
      }
      name = run[0];
      i += name.length;
    }
    const v = /^\d+$/.test(name) ? m[Number(name)] : m.groups?.[name];
    out += v ?? '';
  }
  return out;
}
