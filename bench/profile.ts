/**
 * Summarises V8 CPU profiles (`node --cpu-prof`, or `npm run bench -- --profile`, which profiles
 * every service): self time per function and per module/package, and inclusive time of the
 * project's own functions. The evidence behind "what bounds the latency" in docs/benchmarks.md.
 *
 *   node dist/bench/profile.js <file.cpuprofile | dir> [--top=25] [--owners] [--callers=<function>]
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Args } from './lib/args';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileSummary {
  file: string;
  totalMs: number;
  /** Share of samples that were not idle / GC / program. */
  busyMs: number;
  topFunctions: Array<{ name: string; where: string; selfMs: number; pct: number }>;
  topModules: Array<{ module: string; selfMs: number; pct: number }>;
  topInclusive: Array<{ name: string; where: string; totalMs: number; pct: number }>;
}

/** node_modules/<pkg> (scoped too), a project path under dist/, node: internals, or the V8 pseudo-frames. */
function moduleOf(url: string, name: string): string {
  if (!url) return name.startsWith('(') ? name : '(native)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 13).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (url.startsWith('node:')) return url.split('/')[0]!.replace(/^node:internal.*/, 'node:internal');
  const dist = url.indexOf('/dist/');
  if (dist >= 0) return url.slice(dist + 6).replace(/\.js$/, '');
  return url;
}

export function summariseProfile(file: string, top = 25): ProfileSummary {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const totalUs = profile.endTime - profile.startTime;
  let idleUs = 0;
  const fnSelf = new Map<string, { name: string; where: string; us: number }>();
  const modSelf = new Map<string, number>();
  const inclusive = new Map<string, { name: string; where: string; us: number }>();
  for (const [id, us] of self) {
    const node = byId.get(id)!;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') {
      idleUs += us;
      continue;
    }
    const name = functionName || '(anonymous)';
    const where = url ? `${moduleOf(url, name)}:${lineNumber + 1}` : '';
    const key = `${name}@${where}`;
    const f = fnSelf.get(key) ?? { name, where, us: 0 };
    f.us += us;
    fnSelf.set(key, f);
    const mod = moduleOf(url, name);
    modSelf.set(mod, (modSelf.get(mod) ?? 0) + us);
    // Inclusive time of project frames (each frame once per sample stack).
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const cf = byId.get(cur)!.callFrame;
      if (!cf.url || cf.url.includes('node_modules') || cf.url.startsWith('node:')) continue;
      const k = `${cf.functionName || '(anonymous)'}@${moduleOf(cf.url, cf.functionName)}:${cf.lineNumber + 1}`;
      if (seen.has(k)) continue;
      seen.add(k);
      const e = inclusive.get(k) ?? {
        name: cf.functionName || '(anonymous)',
        where: `${moduleOf(cf.url, cf.functionName)}:${cf.lineNumber + 1}`,
        us: 0,
      };
      e.us += us;
      inclusive.set(k, e);
    }
  }
  const busyUs = totalUs - idleUs;
  const pct = (us: number) => Math.round((us / busyUs) * 1000) / 10;
  const ms = (us: number) => Math.round(us / 100) / 10;
  return {
    file,
    totalMs: ms(totalUs),
    busyMs: ms(busyUs),
    topFunctions: [...fnSelf.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((f) => ({ name: f.name, where: f.where, selfMs: ms(f.us), pct: pct(f.us) })),
    topModules: [...modSelf.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([module, us]) => ({ module, selfMs: ms(us), pct: pct(us) })),
    topInclusive: [...inclusive.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((f) => ({ name: f.name, where: f.where, totalMs: ms(f.us), pct: pct(f.us) })),
  };
}

/** The heaviest call paths (leaf first, `depth` frames) that end in a function named `name`. */
export function callersOf(
  file: string,
  name: string,
  depth = 8,
  top = 8,
): Array<{ ms: number; path: string }> {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const paths = new Map<string, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    if (byId.get(id)!.callFrame.functionName !== name) continue;
    const chain: string[] = [];
    for (let cur = parent.get(id); cur !== undefined && chain.length < depth; cur = parent.get(cur)) {
      const cf = byId.get(cur)!.callFrame;
      chain.push(
        `${cf.functionName || '(anonymous)'}@${moduleOf(cf.url, cf.functionName)}:${cf.lineNumber + 1}`,
      );
    }
    const key = chain.join(' < ');
    paths.set(key, (paths.get(key) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  return [...paths]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([path, us]) => ({ ms: Math.round(us / 100) / 10, path }));
}

/** Who a sample's work is for: the first frame from the leaf up that belongs to a known owner. */
const OWNERS: Array<[RegExp, string]> = [
  [/@azure\/cosmos|@azure\/core-|@typespec\/ts-http-runtime/, 'Cosmos DB SDK (and its HTTP pipeline)'],
  [/@azure\/web-pubsub|jsonwebtoken/, 'Web PubSub SDK'],
  [/lib\/domain\/validation|zod/, 'request validation (zod)'],
  [/lib\/domain|lib\/analytics|lib\/processing/, 'processor: reducer, analytics, sequencing'],
  [/@azure\/functions|local\/runner/, 'Functions library + local runner (invocation, HTTP host)'],
  [/local\/cosmos|@vercel\/cosmosdb-server|@zeit\/cosmosdb-query/, 'embedded Cosmos DB'],
  [/local\/webpubsub|node_modules\/ws\//, 'embedded Web PubSub'],
  [/^lib\/|functions\//, 'app code (auth, meetings, handlers)'],
];

export function ownersOf(file: string): Array<{ owner: string; ms: number; pct: number }> {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const cache = new Map<number, string>();
  const ownerOf = (id: number): string => {
    const hit = cache.get(id);
    if (hit) return hit;
    const leaf = byId.get(id)!.callFrame;
    let owner: string | undefined;
    for (let cur: number | undefined = id; cur !== undefined && !owner; cur = parent.get(cur)) {
      const cf = byId.get(cur)!.callFrame;
      const mod = moduleOf(cf.url, cf.functionName);
      owner = OWNERS.find(([re]) => re.test(mod) || re.test(cf.url))?.[1];
    }
    owner ??=
      leaf.functionName === '(garbage collector)'
        ? 'garbage collector'
        : leaf.functionName === '(idle)'
          ? '(idle)'
          : 'node HTTP/sockets/timers, not attributable (async)';
    cache.set(id, owner);
    return owner;
  };
  const totals = new Map<string, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const owner = ownerOf(profile.samples[i]!);
    totals.set(owner, (totals.get(owner) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  totals.delete('(idle)');
  const busy = [...totals.values()].reduce((a, b) => a + b, 0);
  return [...totals]
    .sort((a, b) => b[1] - a[1])
    .map(([owner, us]) => ({ owner, ms: Math.round(us / 1000), pct: Math.round((us / busy) * 1000) / 10 }));
}

export function printSummary(s: ProfileSummary, out: (line: string) => void = console.log): void {
  out(`\n${path.basename(s.file)}: ${s.busyMs} ms busy of ${s.totalMs} ms`);
  out('  self time by module:');
  for (const m of s.topModules)
    out(`    ${String(m.pct).padStart(5)} %  ${String(m.selfMs).padStart(9)} ms  ${m.module}`);
  out('  self time by function:');
  for (const f of s.topFunctions)
    out(`    ${String(f.pct).padStart(5)} %  ${String(f.selfMs).padStart(9)} ms  ${f.name}  ${f.where}`);
  out('  inclusive time, project code:');
  for (const f of s.topInclusive)
    out(`    ${String(f.pct).padStart(5)} %  ${String(f.totalMs).padStart(9)} ms  ${f.name}  ${f.where}`);
}

if (require.main === module) {
  const args = new Args();
  const target = process.argv.slice(2).find((a) => !a.startsWith('--'));
  if (!target) {
    console.error('usage: node dist/bench/profile.js <file.cpuprofile | dir> [--top=25]');
    process.exit(2);
  }
  const files = fs.statSync(target).isDirectory()
    ? fs
        .readdirSync(target)
        .filter((f) => f.endsWith('.cpuprofile'))
        .map((f) => path.join(target, f))
    : [target];
  const callers = args.str('callers', '');
  for (const f of files) {
    if (callers) for (const c of callersOf(f, callers)) console.log(`${c.ms} ms  ${callers} < ${c.path}`);
    else if (args.flag('owners')) {
      console.log(`\n${path.basename(f)}: busy time by owner (first known frame from the leaf up)`);
      for (const o of ownersOf(f))
        console.log(`  ${String(o.pct).padStart(5)} %  ${String(o.ms).padStart(8)} ms  ${o.owner}`);
    } else printSummary(summariseProfile(f, args.num('top', 25)));
  }
}
