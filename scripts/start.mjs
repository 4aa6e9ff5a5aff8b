/**
 * `npm start` / `npm run start:func`: compiles only what the running system needs (functions,
 * lib, the local stack, the client and the web app; not tests or benchmarks), incrementally, so a
 * second start recompiles only what changed; says what it is doing; then starts the stack.
 * Usage: node scripts/start.mjs [stack|func]
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const target = process.argv[2] === 'func' ? 'funcStart' : 'start';
const started = performance.now();
const say = (line) => process.stdout.write(`meetstream: ${line}\n`);

function run(what, args) {
  const result = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) {
    say(`${what} failed (exit ${result.status ?? result.signal}); nothing started.`);
    process.exit(result.status ?? 1);
  }
}

// tsc's incremental state says what is already emitted; if the output is gone (deleted by hand),
// the state is stale and would skip emitting it, so start over.
const buildInfo = join(dist, '.tsbuildinfo-app');
if (existsSync(buildInfo) && !existsSync(join(dist, 'local', `${target}.js`))) rmSync(buildInfo);
const incremental = existsSync(buildInfo);
say(
  `compiling functions, lib, the local stack and the client with tsc (${incremental ? 'incremental: changed files only' : 'first build: about 10–20 s'}) …`,
);
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
run('compiling', [tsc, '-p', join(root, 'tsconfig.app.json')]);

// A function deleted from functions/ must not keep registering from a stale compiled file.
const compiled = join(dist, 'functions');
for (const file of existsSync(compiled) ? readdirSync(compiled) : []) {
  const source = file.replace(/\.js(\.map)?$/, '.ts');
  if (source !== file && !existsSync(join(root, 'functions', source))) rmSync(join(compiled, file));
}

say('bundling the web app …');
run('bundling the web app', [join(root, 'web', 'build.mjs')]);
say(`built in ${((performance.now() - started) / 1000).toFixed(1)} s; starting …`);
// The stack runs as a child so it is the process it always was (its own signal handling and exit
// code); this process only passes signals on and exits with it.
const stack = spawn(process.execPath, [join(dist, 'local', `${target}.js`)], { cwd: root, stdio: 'inherit' });
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => stack.kill(signal));
stack.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
