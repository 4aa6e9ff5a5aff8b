/**
 * Embedded Cosmos DB benchmark: query engine before/after the O(N²) fix, end-to-end query times at
 * 50k items through the SDK, and point write/read throughput.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/cosmos-query.js [--before-max=20000] [--items=50000]
 *
 * The "before" (unpatched upstream engine) runs are skipped above --before-max items because they
 * take tens of seconds (pass --before-max=50000 to measure them anyway).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { type Container, CosmosClient, type OperationInput } from '@azure/cosmos';
import { installUpstreamPatches } from '../local/cosmos/patches';

interface CompiledQuery {
  exec(docs: unknown[], opts: { parameters?: { name: string; value: unknown }[] }): { result: unknown[] };
}

const args = new Map(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k ?? '', v ?? ''];
  }),
);
const ITEMS = Number(args.get('items') || 50_000);
const BEFORE_MAX = Number(args.get('before-max') || 20_000);
const PARTITIONS = 50;

const PK_QUERY = 'SELECT * FROM c WHERE c.meetingId = @m';
const EVENT_QUERY = "SELECT * FROM c WHERE c.meetingId = @m AND c.type = 'event' ORDER BY c._ts";

function makeDocs(n: number): Record<string, unknown>[] {
  const docs: Record<string, unknown>[] = [];
  for (let i = 0; i < n; i += 1) {
    docs.push({
      id: `d${i}`,
      meetingId: `m${i % PARTITIONS}`,
      type: i % 5 === 0 ? 'participant' : 'event',
      n: i,
      _rid: `rid${String(i).padStart(8, '0')}`,
      _ts: 1_700_000_000 + i,
    });
  }
  return docs;
}

function time<T>(fn: () => T): [number, T] {
  const t0 = process.hrtime.bigint();
  const r = fn();
  return [Number(process.hrtime.bigint() - t0) / 1e6, r];
}

async function timeAsync<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = process.hrtime.bigint();
  const r = await fn();
  return [Number(process.hrtime.bigint() - t0) / 1e6, r];
}

const fmt = (ms: number): string => `${ms.toFixed(1)} ms`;

function engineRuns(label: string, sizes: number[]): void {
  const req = createRequire(require.resolve('@vercel/cosmosdb-server/package.json'));
  const compile = (req('@zeit/cosmosdb-query') as { default: (sql: string) => CompiledQuery }).default;
  for (const n of sizes) {
    const docs = makeDocs(n);
    const params = [{ name: '@m', value: 'm7' }];
    // A fresh compile per run: the generated code is cached per Query object.
    const [pkMs, pk] = time(() => compile(PK_QUERY).exec(docs, { parameters: params }));
    const [evMs, ev] = time(() => compile(EVENT_QUERY).exec(docs, { parameters: params }));
    console.log(
      `engine ${label.padEnd(6)} ${String(n).padStart(6)} items: pk query ${fmt(pkMs)} (${pk.result.length} rows), ` +
        `event query ${fmt(evMs)} (${ev.result.length} rows)`,
    );
  }
}

async function startChild(dataRoot: string): Promise<{ child: ChildProcess; endpoint: string }> {
  const child = spawn(process.execPath, [path.join(__dirname, '../local/cosmos/main.js')], {
    env: { ...process.env, COSMOS_PORT: '0', MEETSTREAM_DATA_DIR: dataRoot },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const endpoint = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`cosmos exited with ${code}`)));
    lines.once('line', (line) => resolve((JSON.parse(line) as { endpoint: string }).endpoint));
  });
  return { child, endpoint };
}

async function load(container: Container, n: number): Promise<void> {
  const byPartition = new Map<string, OperationInput[]>();
  for (const doc of makeDocs(n)) {
    const { _rid: _r, _ts: _t, ...body } = doc;
    const m = body.meetingId as string;
    const ops = byPartition.get(m) ?? [];
    ops.push({ operationType: 'Create', resourceBody: body as never });
    byPartition.set(m, ops);
  }
  const batches: [string, OperationInput[]][] = [];
  for (const [m, ops] of byPartition)
    for (let i = 0; i < ops.length; i += 100) batches.push([m, ops.slice(i, i + 100)]);
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < batches.length) {
        const [m, ops] = batches[next++] as [string, OperationInput[]];
        const res = await container.items.batch(ops, m);
        if (res.code !== 200) throw new Error(`batch failed: ${res.code}`);
      }
    }),
  );
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function endToEnd(): Promise<void> {
  const dataRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'cosmos-bench-'));
  const { child, endpoint } = await startChild(dataRoot);
  const client = new CosmosClient({ endpoint, key: 'bench' });
  try {
    const { database } = await client.databases.createIfNotExists({ id: 'bench' });
    const { container } = await database.containers.createIfNotExists({
      id: 'items',
      partitionKey: { paths: ['/meetingId'] },
    });
    const [loadMs] = await timeAsync(() => load(container, ITEMS));
    console.log(`sdk    loaded ${ITEMS} items in ${fmt(loadMs)} (transactional batches of 100, 8 in flight)`);
    const parameters = [{ name: '@m', value: 'm7' }];
    for (const [label, query, partitionKey] of [
      ['pk query, partitionKey option', PK_QUERY, 'm7'],
      ['event ORDER BY _ts, partitionKey option', EVENT_QUERY, 'm7'],
      ['event ORDER BY _ts, cross-partition', EVENT_QUERY, undefined],
    ] as const) {
      const runs: number[] = [];
      let rows = 0;
      for (let i = 0; i < 5; i += 1) {
        const [ms, res] = await timeAsync(() =>
          container.items.query({ query, parameters }, partitionKey ? { partitionKey } : {}).fetchAll(),
        );
        runs.push(ms);
        rows = res.resources.length;
      }
      runs.sort((a, b) => a - b);
      console.log(`sdk    ${ITEMS} items: ${label}: median ${fmt(percentile(runs, 50))} (${rows} rows)`);
    }

    // Point writes, 32 in flight.
    const writes = 6000;
    let w = 0;
    const [writeMs] = await timeAsync(() =>
      Promise.all(
        Array.from({ length: 32 }, async () => {
          while (w < writes) {
            const i = w++;
            await container.items.create({
              id: `w${i}`,
              meetingId: `m${i % PARTITIONS}`,
              type: 'event',
              n: i,
            });
          }
        }),
      ),
    );
    console.log(`sdk    point creates, 32 in flight: ${Math.round(writes / (writeMs / 1000))}/s`);

    const seqWrites = 1000;
    const [seqMs] = await timeAsync(async () => {
      for (let i = 0; i < seqWrites; i += 1) {
        await container.items.upsert({ id: `s${i}`, meetingId: `m${i % PARTITIONS}`, type: 'event', n: i });
      }
    });
    console.log(`sdk    point upserts, sequential: ${Math.round(seqWrites / (seqMs / 1000))}/s`);

    const lat: number[] = [];
    for (let i = 0; i < 2000; i += 1) {
      const id = `w${i}`;
      const [ms] = await timeAsync(() => container.item(id, `m${i % PARTITIONS}`).read());
      lat.push(ms);
    }
    lat.sort((a, b) => a - b);
    console.log(
      `sdk    point reads, sequential: p50 ${fmt(percentile(lat, 50))}, p99 ${fmt(percentile(lat, 99))}`,
    );
  } finally {
    client.dispose();
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    fs.rmSync(dataRoot, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const sizes = [10_000, 20_000, ITEMS].filter((n, i, a) => a.indexOf(n) === i);
  engineRuns(
    'before',
    sizes.filter((n) => n <= BEFORE_MAX),
  );
  installUpstreamPatches();
  engineRuns('after', sizes);
  await endToEnd();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
