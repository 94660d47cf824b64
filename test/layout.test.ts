// The house rules a newcomer relies on, checked on the source itself: no file over 400 lines, no line over 120
// characters, no import that runs back up a layer, one home for errors and async helpers.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import t from 'tap';

const ROOT = resolve(import.meta.dirname, '..');
const MAX_LINES = 400;
const MAX_WIDTH = 120;

function files(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory()) out.push(...files(path));
    else if (/\.(ts|js)$/.test(e.name)) out.push(path);
  }
  return out;
}

const sources = [...files('src'), ...files('bench'), ...files('bin')];
const text = new Map(sources.map((f) => [f, readFileSync(join(ROOT, f), 'utf8')]));

/** Relative imports of a file, resolved to paths under ROOT. */
function importsOf(file: string): string[] {
  const out: string[] = [];
  for (const m of text.get(file)!.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+'(\.[^']+)'/gm)) {
    out.push(relative(ROOT, resolve(ROOT, dirname(file), m[1])));
  }
  return out;
}

t.test('no source file over 400 lines, no line over 120 characters', async (t) => {
  t.ok(sources.length > 40, `${sources.length} files checked`);
  for (const [file, body] of text) {
    const lines = body.split('\n');
    t.ok(lines.length - 1 <= MAX_LINES, `${file}: ${lines.length - 1} lines`);
    const wide = lines.map((l, i) => [i + 1, [...l].length] as const).filter(([, n]) => n > MAX_WIDTH);
    t.same(wide, [], `${file}: no line over ${MAX_WIDTH} characters`);
  }
});

t.test('no import runs back up a layer', async (t) => {
  // lower layers first; a file may import from its own layer and the ones below it
  const below: Record<string, string[]> = {
    'src/routing': ['src/routing'],
    'src/config': ['src/config', 'src/routing'],
    'src/middleware': ['src/middleware', 'src/routing', 'src/config'],
    'src/upstream': ['src/upstream', 'src/middleware', 'src/routing', 'src/config'],
    'src/providers': ['src/providers', 'src/upstream', 'src/middleware', 'src/routing', 'src/config'],
    'src/tls': ['src/tls', 'src/config'],
    'src/proxy': ['src/proxy', 'src/tls', 'src/upstream', 'src/middleware', 'src/routing', 'src/config'],
  };
  // shared by every layer: pure helpers that import nothing above them
  const base = ['src/errors.ts', 'src/async.ts', 'src/net.ts', 'src/events.ts', 'src/listen.ts'];
  for (const file of sources) {
    const layer = Object.keys(below).find((l) => file.startsWith(`${l}/`));
    if (layer === undefined) continue;
    for (const target of importsOf(file)) {
      const ok = base.includes(target) || below[layer].some((l) => target.startsWith(`${l}/`));
      t.ok(ok, `${file} → ${target}`);
    }
  }
  for (const file of base) {
    for (const target of importsOf(file)) t.ok(target.startsWith('src/config/'), `${file} → ${target} (base stays low)`);
  }
});

t.test('every error class lives in src/errors.ts; sleep and mapLimit only in src/async.ts', async (t) => {
  for (const [file, body] of text) {
    if (file === 'src/errors.ts' || !file.startsWith('src/')) continue;
    t.notMatch(body, /\bclass\s+\w+\s+extends\s+(?:\w*Error)\b/, `${file} defines no error class`);
    t.notMatch(body, /Object\.assign\(new Error/, `${file} makes no ad-hoc coded error`);
    if (file === 'src/async.ts') continue;
    t.notMatch(body, /function\s+(?:sleep|mapLimit)\b/, `${file} defines no sleep/mapLimit of its own`);
  }
  const errors = text.get('src/errors.ts')!;
  for (const m of errors.matchAll(/export class (\w+) extends (\w+)/g)) {
    if (m[1] === 'BatonError') continue;
    t.match(errors, new RegExp(`class ${m[1]} extends \\w+ \\{\\s*override code = '`), `${m[1]} has a stable code`);
  }
});
