/**
 * Bundles the web app (web/src) with esbuild into dist/web and checks the bundle budget: the
 * gzipped JavaScript a browser downloads for the room must stay within BUDGET_GZIP_BYTES. Part of
 * `npm run build` (after tsc, which type-checks web/src with everything else).
 */
import * as esbuild from 'esbuild';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

/** The room's whole JavaScript, gzipped (the app has one bundle: lobby, room and summary). */
export const BUDGET_GZIP_BYTES = 80 * 1024;

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, '..', 'dist', 'web');
mkdirSync(out, { recursive: true });

await esbuild.build({
  entryPoints: [join(here, 'src', 'main.ts')],
  outfile: join(out, 'app.js'),
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2022'],
  minify: true,
  sourcemap: 'linked',
  legalComments: 'linked',
  logLevel: 'warning',
  define: { 'process.env.NODE_ENV': '"production"' },
});
for (const file of ['index.html', 'style.css']) copyFileSync(join(here, file), join(out, file));

const gzipped = (file) => gzipSync(readFileSync(join(out, file)), { level: 9 }).length;
const size = {
  jsBytes: readFileSync(join(out, 'app.js')).length,
  jsGzipBytes: gzipped('app.js'),
  cssGzipBytes: gzipped('style.css'),
  budgetGzipBytes: BUDGET_GZIP_BYTES,
};
writeFileSync(join(out, 'bundle-size.json'), `${JSON.stringify(size)}\n`);
const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
const line =
  `web: app.js ${kb(size.jsBytes)} minified, ${kb(size.jsGzipBytes)} gzipped ` +
  `(budget ${kb(BUDGET_GZIP_BYTES)}), style.css ${kb(size.cssGzipBytes)} gzipped`;
if (size.jsGzipBytes > BUDGET_GZIP_BYTES) {
  console.error(`${line}: over budget`);
  process.exit(1);
}
console.log(line);
