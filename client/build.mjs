/**
 * Builds the @meetstream/client package into client/dist: one ESM bundle (client code plus the
 * protocol constants it uses, so nothing from the server is needed at run time) and its type
 * declarations (tsc, declarations only, for client/ and the protocol modules it imports). Part of
 * `npm run build`.
 */
import * as esbuild from 'esbuild';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, 'dist');
rmSync(out, { recursive: true, force: true });

await esbuild.build({
  entryPoints: [join(here, 'index.ts')],
  outfile: join(out, 'index.js'),
  bundle: true,
  format: 'esm',
  // Neutral: the same file serves browsers (through the app's bundler) and Node 20+.
  platform: 'neutral',
  target: ['es2022'],
  // The package's own dependency is imported, not inlined, so apps share one copy.
  external: ['@azure/web-pubsub-client'],
  sourcemap: true,
  logLevel: 'warning',
});

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', join(here, 'tsconfig.json')], { stdio: 'inherit' });

// The sources import without extensions (the repo compiles them as CommonJS too); ESM consumers
// resolving with Node's rules need them, so the declarations name the .js each one stands for.
for (const entry of readdirSync(join(out, 'types'), { recursive: true })) {
  const file = join(out, 'types', String(entry));
  if (!file.endsWith('.d.ts')) continue;
  const text = readFileSync(file, 'utf8');
  const fixed = text.replace(/((?:from |import\()['"])(\.{1,2}\/[^'"]+?)(['"])/g, (m, pre, spec, post) =>
    spec.endsWith('.js') ? m : `${pre}${spec}.js${post}`,
  );
  if (fixed !== text) writeFileSync(file, fixed);
}
