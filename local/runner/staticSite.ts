/**
 * Serves the browser app (the bundle `npm run build` writes to dist/web) at `/` beside the API,
 * so `npm start` gives one origin for the page and the routes it calls. Only GET and HEAD, only
 * files inside the site folder, never anything under the route prefix (the API answers those).
 * The app routes with the URL fragment, so `/` (index.html) is its only page; the join code
 * travels in the fragment, which browsers never send, so it never reaches this server or its logs.
 */
import * as fs from 'node:fs';
import type * as http from 'node:http';
import * as path from 'node:path';

/** dist/local/runner/staticSite.js → dist/web. */
export const DEFAULT_SITE_DIR = path.resolve(__dirname, '..', '..', 'web');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

/** Headers every page response carries: the app loads nothing from other origins. */
const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; " +
    "connect-src 'self' ws: wss: http: https:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
};

/**
 * Answers the request from the site folder when it is a page request (true), or leaves it alone
 * (false) so the host can answer 404/405 as before.
 */
export function serveStatic(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  pathname: string,
  routePrefix: string,
  siteDir = DEFAULT_SITE_DIR,
): boolean {
  const method = (req.method ?? 'GET').toUpperCase();
  if (method !== 'GET' && method !== 'HEAD') return false;
  const prefix = routePrefix.replace(/^\/+|\/+$/g, '');
  if (prefix && (pathname === `/${prefix}` || pathname.startsWith(`/${prefix}/`))) return false;
  let relative: string;
  try {
    relative = decodeURIComponent(pathname);
  } catch {
    return false;
  }
  if (relative.includes('\0')) return false;
  const root = path.resolve(siteDir);
  let file = path.resolve(root, `.${path.posix.normalize(`/${relative}`)}`);
  if (file !== root && !file.startsWith(root + path.sep)) return false;
  if (isDirectory(file)) file = path.join(file, 'index.html');
  if (!isFile(file)) return false;
  const stat = fs.statSync(file);
  const type = TYPES[path.extname(file)] ?? 'application/octet-stream';
  const html = type.startsWith('text/html');
  res.writeHead(200, {
    'content-type': type,
    'content-length': stat.size,
    // The bundle's name does not change between builds, so browsers revalidate every time.
    'cache-control': html ? 'no-store' : 'no-cache',
    ...SECURITY_HEADERS,
  });
  if (method === 'HEAD') res.end();
  else fs.createReadStream(file).pipe(res);
  return true;
}

function isFile(file: string): boolean {
  try {
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function isDirectory(file: string): boolean {
  try {
    return fs.statSync(file).isDirectory();
  } catch {
    return false;
  }
}
