/**
 * `npm run bench [-- --quick]`: the benchmark suite against the embedded stack on loopback.
 * Prints a table (each figure beside a baseline measured in the same run) and writes JSON with
 * machine info to bench/results/. See docs/benchmarks.md.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runE2E } from './e2e';
import { Args } from './lib/args';
import { machineInfo } from './lib/machine';
import { repoRoot } from './lib/stack';

async function main(): Promise<void> {
  const args = new Args();
  const quick = args.flag('quick');
  const log = (line: string) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}`);
  const results: Record<string, unknown> = { machine: machineInfo(), quick, argv: process.argv.slice(2) };
  const profileDir = args.flag('profile')
    ? path.join(repoRoot, 'bench', 'results', 'profiles', new Date().toISOString().replace(/[:.]/g, '-'))
    : undefined;
  results.e2e = await runE2E({
    meetings: args.num('meetings', quick ? 10 : 50),
    participants: args.num('participants', quick ? 10 : 20),
    rate: args.num('rate', quick ? 200 : 1000),
    seconds: args.num('seconds', quick ? 8 : 60),
    baselineSeconds: args.num('baseline-seconds', quick ? 4 : 15),
    warmupSeconds: args.num('warmup-seconds', quick ? 2 : 5),
    clientProcesses: args.num('client-processes', 2),
    profileDir,
    log,
  });
  const dir = path.join(repoRoot, 'bench', 'results');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(file, JSON.stringify(results, null, 2) + '\n');
  console.log(JSON.stringify(results, null, 2));
  log(`results: ${path.relative(repoRoot, file)}`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
