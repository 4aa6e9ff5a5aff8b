#!/usr/bin/env node
/**
 * `npm run package`: the deployable Function App in `.deploy/`, built here (local build), so the
 * upload is exactly what runs and nothing is compiled on Azure.
 *
 * Why local build: a remote build (Oryx, `azd deploy`'s default for Flex Consumption) runs
 * `npm install` + `npm run build` on the server and needs the TypeScript sources and every dev
 * dependency there; uploading the repository's own node_modules instead ships jest, typescript,
 * the embedded stack's servers and benchmarks (229 MB against 62 MB). Here the package is:
 *   dist/functions, dist/lib   the compiled app (nothing of dist/local, dist/test, dist/bench)
 *   host.json                  the host's configuration
 *   package.json               name, version, main, engines, dependencies only
 *   package-lock.json          so the production install is the tested one
 *   node_modules               `npm ci --omit=dev`
 *   .funcignore                publishing from .deploy uploads everything in it
 * Deploy with `func azure functionapp publish <app> --no-build` from `.deploy/`, or
 * `azd deploy` (azure.yaml points the api service at `.deploy`, with remoteBuild false).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.resolve(root, process.env.PACKAGE_OUT ?? '.deploy');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const run = (cmd, args, cwd) => execFileSync(cmd, args, { cwd, stdio: 'inherit' });

/** The compiled folders the functions need at run time. */
export const SHIPPED_DIST = ['functions', 'lib'];

if (!process.argv.includes('--no-build')) run(npm, ['run', 'build', '--silent'], root);

fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(path.join(out, 'dist'), { recursive: true });
for (const dir of SHIPPED_DIST) {
  fs.cpSync(path.join(root, 'dist', dir), path.join(out, 'dist', dir), {
    recursive: true,
    // Source maps stay behind: they would only make the upload larger.
    filter: (src) => !src.endsWith('.js.map'),
  });
}
fs.copyFileSync(path.join(root, 'host.json'), path.join(out, 'host.json'));
fs.copyFileSync(path.join(root, 'package-lock.json'), path.join(out, 'package-lock.json'));
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const shipped = {
  name: pkg.name,
  version: pkg.version,
  private: true,
  description: pkg.description,
  main: pkg.main,
  engines: pkg.engines,
  dependencies: pkg.dependencies,
};
fs.writeFileSync(path.join(out, 'package.json'), JSON.stringify(shipped, null, 2) + '\n');
fs.writeFileSync(
  path.join(out, '.funcignore'),
  '# Everything in .deploy is the package (scripts/package.mjs); nothing to leave out.\n',
);
run(npm, ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'], out);
console.log(`package ready in ${path.relative(root, out) || '.'}`);
