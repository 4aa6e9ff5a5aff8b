/**
 * `node dist/local/runner/describeApp.js <appDir> [--shuffle=<seed>]`: loads a function app the
 * way the worker does (optionally in a shuffled file order) and prints, as one JSON line, what it
 * registered: every function's metadata as the host would receive it, the hooks, whether HTTP
 * streaming is on, and the host rules it breaks. Used by the host contract test; handy to see
 * exactly what a deploy would register. Settings come from the environment only.
 */
import * as path from 'node:path';
import { registry } from './functionsCore';
import { hostRuleViolations } from './hostRules';
import { loadFunctionApp } from './loader';

/** A small seeded shuffle (mulberry32 + Fisher-Yates): the same seed gives the same order. */
export function shuffled<T>(items: readonly T[], seed: number): T[] {
  let a = seed >>> 0;
  const random = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

async function main(): Promise<void> {
  const appDir = path.resolve(process.argv[2] ?? process.cwd());
  const seedArg = process.argv.find((a) => a.startsWith('--shuffle='));
  const seed = seedArg ? Number(seedArg.slice('--shuffle='.length)) : undefined;
  let order: string[] = [];
  const app = await loadFunctionApp(appDir, (files) => {
    order = seed === undefined ? files : shuffled(files, seed);
    return order;
  });
  const metadata = app.functions.map((f) => f.metadata);
  const description = {
    order: order.map((f) => path.basename(f)),
    functions: metadata,
    hooks: Object.fromEntries([...registry.hooks].map(([name, list]) => [name, list.length])),
    httpStream: Boolean(app.httpStreamUri),
    violations: hostRuleViolations(metadata),
  };
  process.stdout.write(JSON.stringify(description) + '\n');
  // The library's HTTP-stream proxy listens; nothing else is left to do.
  process.exit(0);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
