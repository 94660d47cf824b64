// The web dashboard on the admin listener: a fixed list of static files (the page, its ES modules, its style
// sheet, and htm's bundled Preact from node_modules), read once at first use and served with a strict
// Content-Security-Policy. No build step, no CDN, nothing but these files: any other path is a 404. The files
// themselves need no token; every call the page makes to /api does (it asks for the token and sends it as a
// bearer header).
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { NotFoundError } from '../errors.ts';

/** What every dashboard answer carries: the page runs only its own scripts and styles and talks only to its own
 *  origin, may not be framed, and leaks no referrer. */
export const DASHBOARD_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cache-control': 'no-cache',
};

const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  mjs: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
};

const dir = (name: string) => fileURLToPath(new URL(`./dashboard/${name}`, import.meta.url));

/** URL path → file on disk. The page's own modules are listed one by one: nothing else under the folder is served. */
function fileList(): Map<string, string> {
  const own = [
    'app.js',
    'api.js',
    'store.js',
    'format.js',
    'ui.js',
    'services.js',
    'deploys.js',
    'certificates.js',
    'events.js',
    'style.css',
    'icon.svg',
  ];
  // the page only at `/`: its relative URLs (dashboard/app.js, api/services) resolve from there
  const files = new Map<string, string>([['/', dir('index.html')]]);
  for (const name of own) files.set(`/dashboard/${name}`, dir(name));
  // htm's Preact build: one self-contained ES module (no imports of its own)
  files.set('/dashboard/vendor/preact-htm.js', fileURLToPath(import.meta.resolve('htm/preact/standalone')));
  return files;
}

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

let assets: Promise<Map<string, Asset>> | null = null;

async function load(): Promise<Map<string, Asset>> {
  const out = new Map<string, Asset>();
  for (const [path, file] of fileList()) {
    const body = await readFile(file);
    const ext = file.slice(file.lastIndexOf('.') + 1);
    const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
    out.set(path, { body, type: TYPES[ext] ?? 'application/octet-stream', etag });
  }
  return out;
}

/** The files, read on first use (a failed read is retried on the next request). */
function loaded(): Promise<Map<string, Asset>> {
  assets ??= load().catch((err: unknown) => {
    assets = null;
    throw err;
  });
  return assets;
}

/** Answers GET or HEAD of `path` (the URL's pathname) with the dashboard file it names; NotFoundError otherwise. */
export async function serveDashboard(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
  const asset = (await loaded()).get(path);
  if (asset === undefined) throw new NotFoundError(`no such dashboard file: ${path}`);
  const headers: Record<string, string | number> = { ...DASHBOARD_HEADERS, etag: asset.etag };
  const tags = (req.headers['if-none-match'] ?? '').split(',').map((tag) => tag.trim());
  if (tags.includes(asset.etag)) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  headers['content-type'] = asset.type;
  headers['content-length'] = asset.body.length;
  res.writeHead(200, headers);
  res.end(req.method === 'HEAD' ? undefined : asset.body);
}
