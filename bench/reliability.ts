/**
 * `npm run reliability`: the reliability suite, bounded and loopback only. One embedded stack, one
 * fleet of participants (@azure/web-pubsub-client, catching up on gaps and reconnects as SPEC §7
 * asks), load posted through the API the whole time, and these phases in order:
 *
 *  1. soak     sustained load for --soak-minutes (10) with the services' RSS sampled every 5 s
 *              and the runner's and processor's live heap after a full GC every 15 s (they run
 *              with --expose-gc and answer SIGUSR2, see local/runner/main.ts); after a warm-up
 *              (first fifth, at most 2 min) their post-GC heap may not trend upward beyond
 *              --heap-trend-bound (1 MiB/min) and their RSS must stay under --rss-max-mib (320);
 *              the hub (no probe) is judged on RSS growth and trend as before;
 *  2. throttle Cosmos DB answers 20 %, then 50 % of requests 429 (COSMOS_FAULTS control route);
 *  3. hub      the Web PubSub process is killed under load and restarted 5 s later;
 *  4. runner   the functions runner (HTTP and, run separately as `npm start` does, the change-feed
 *              processor) is killed (SIGKILL) under load and restarted 2 s later;
 *  5. hostile  the hostile-input corpus fired at the meetings under load: each case must get its
 *              4xx as problem+json, and nothing of it may appear in any participant's sequence.
 *
 * After every phase the participants must all hold every event accepted (202) so far, exactly
 * once, in the same gapless order (lost = duplicated = diverging = 0). Exit code 1 if any check
 * fails. Results: bench/results/reliability-<time>.json.
 *
 *   npm run reliability [-- --soak-minutes=10 --rate=200 --meetings=50 --participants=20
 *                          --separate-processor=true --heap-probe-seconds=15]
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { drain } from './e2e';
import { Args } from './lib/args';
import { Crowd } from './lib/crowd';
import { createFleet } from './lib/fleet';
import { summary, type LatencySummary } from './lib/hdr';
import { hostileCases, sendHostile, type HostileOutcome } from './lib/hostile';
import { JsonClient, pool, sleep } from './lib/http';
import { LoadGenerator, type LoadResult } from './lib/load';
import { machineBusy, machineInfo, rssKiB } from './lib/machine';
import { repoRoot, startBenchStack, type HeapProbe } from './lib/stack';
import { renderTable, type Row } from './lib/table';

interface PhaseReport {
  name: string;
  description: string;
  seconds: number;
  load: LoadResult;
  latency: LatencySummary;
  lost: number;
  duplicatedEvents: number;
  divergent: number;
  foreign: number;
  redelivered: number;
  caughtUp: number;
  reconnects: number;
  drainMs: number;
  checks: Array<{ check: string; pass: boolean; detail: string }>;
  extra?: Record<string, unknown>;
}

interface MemorySample {
  t: number;
  runner: number;
  processor?: number;
  cosmos: number;
  webpubsub: number;
  accepted: number;
}

/** Live heap after a full GC (and the process's memory then), per probed service, in KiB. */
interface HeapSample {
  t: number;
  service: 'runner' | 'processor';
  heapUsed: number;
  heapTotal: number;
  rss: number;
  external: number;
  arrayBuffers: number;
}

async function main(): Promise<void> {
  const args = new Args();
  const soakMinutes = args.num('soak-minutes', 10);
  const rate = args.num('rate', 200);
  const meetings = args.num('meetings', 50);
  const perMeeting = args.num('participants', 20);
  /** Allowed RSS growth of the hub after warm-up (MiB), and its trend (MiB/min). */
  const boundMiB = args.num('rss-bound-mib', 64);
  const trendBound = args.num('rss-trend-bound', 2);
  /**
   * The runner and processor: allowed trend of the live heap after a full GC once warm (MiB/min),
   * and the RSS they must stay under throughout the soak (MiB). See docs/benchmarks.md.
   */
  const heapTrendBound = args.num('heap-trend-bound', 1);
  const rssMaxMiB = args.num('rss-max-mib', 320);
  const heapProbeSeconds = args.num('heap-probe-seconds', 15);
  const started = performance.now();
  const busy = machineBusy();
  const log = (line: string) =>
    console.error(`[reliability ${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}`);

  const separateProcessor = args.str('separate-processor', 'true') !== 'false';
  const stack = await startBenchStack({ settings: {}, separateProcessor, heapProbe: true });
  const api = new JsonClient(stack.apiUrl, 64);
  let crowd: Crowd | undefined;
  const phases: PhaseReport[] = [];
  const memory: MemorySample[] = [];
  const heap: HeapSample[] = [];
  let sampler: NodeJS.Timeout | undefined;
  let heapSampler: NodeJS.Timeout | undefined;
  let stopped = false;
  let load: LoadGenerator | undefined;
  try {
    log(`stack up; fleet of ${meetings} × ${perMeeting}`);
    const fleet = await createFleet(api, meetings, perMeeting);
    const prefix = `bench-${Date.now().toString(36)}-`;
    const started_ = await Crowd.start(stack.apiUrl, fleet.participants.flat(), 2, prefix);
    crowd = started_.crowd;
    if (started_.failed) throw new Error(`${started_.failed} participants failed to connect`);
    log(`${meetings * perMeeting} participants connected`);
    load = new LoadGenerator(api, fleet.participants);
    const gen = load;
    const accepted = () => [...gen.accepted.values()].reduce((a, ids) => a + ids.length, 0);
    const t0 = performance.now();
    sampler = setInterval(() => {
      const pids = stack.pids();
      memory.push({
        t: Math.round((performance.now() - t0) / 1000),
        runner: rssKiB(pids.runner),
        ...(pids.processor ? { processor: rssKiB(pids.processor) } : {}),
        cosmos: rssKiB(pids.cosmos),
        webpubsub: rssKiB(pids.webpubsub),
        accepted: accepted(),
      });
    }, 5000);
    // One probe at a time (a full GC takes tens of ms); a missing answer is just a missing sample.
    const kib = (b: number) => Math.round(b / 1024);
    const probeHeaps = async () => {
      for (const service of ['runner', ...(separateProcessor ? ['processor' as const] : [])] as const) {
        const t = Math.round((performance.now() - t0) / 1000);
        const p: HeapProbe | undefined = await stack.probeHeap(service);
        if (!p) continue;
        if (!p.gc) throw new Error(`${service} heap probe ran without --expose-gc`);
        heap.push({
          t,
          service,
          heapUsed: kib(p.heapUsed),
          heapTotal: kib(p.heapTotal),
          rss: kib(p.rss),
          external: kib(p.external),
          arrayBuffers: kib(p.arrayBuffers),
        });
      }
      if (!stopped)
        heapSampler = setTimeout(() => void probeHeaps().catch(onProbeError), heapProbeSeconds * 1000);
    };
    let probeError: unknown;
    const onProbeError = (err: unknown) => (probeError = err);
    void probeHeaps().catch(onProbeError);

    let phaseNo = 0;
    const seen = { caughtUp: 0, reconnects: 0, redelivered: 0 };
    const phase = async (
      name: string,
      description: string,
      seconds: number,
      during: () => Promise<Record<string, unknown> | void>,
      extraChecks: (r: PhaseReport) => PhaseReport['checks'] = () => [],
    ): Promise<void> => {
      log(`phase ${name}: ${description} (${seconds} s at ${rate} events/s)`);
      await crowd!.reset();
      const letter = String.fromCharCode(97 + phaseNo++);
      const running = gen.run({ rate, seconds, prefix: `${prefix}${letter}`, retryForMs: 120_000 });
      const extra = (await during()) ?? undefined;
      const result = await running;
      const d0 = performance.now();
      const v = await drain(crowd!, gen.accepted, 60_000);
      const drainMs = Math.round(performance.now() - d0);
      const report = await crowd!.report();
      const r: PhaseReport = {
        name,
        description,
        seconds,
        load: result,
        latency: summary(report.hist.acceptedToDelivered),
        lost: v.lost,
        duplicatedEvents: v.duplicatedEvents,
        divergent: v.divergent,
        foreign: v.foreign,
        // Per phase (the participants count from the start).
        redelivered: v.redelivered - seen.redelivered,
        caughtUp: v.caughtUp - seen.caughtUp,
        reconnects: v.reconnects - seen.reconnects,
        drainMs,
        checks: [],
        extra: extra || undefined,
      };
      r.checks.push(
        { check: 'nothing lost', pass: v.lost === 0, detail: `${v.lost} missing deliveries` },
        {
          check: 'nothing duplicated',
          pass: v.duplicatedEvents === 0,
          detail: `${v.duplicatedEvents} events at two seqs`,
        },
        {
          check: 'same sequence everywhere',
          pass: v.divergent === 0,
          detail: `${v.divergent} diverging participants`,
        },
        { check: 'nothing foreign stored', pass: v.foreign === 0, detail: `${v.foreign} unexpected events` },
        {
          check: 'load accepted',
          pass: result.abandoned === 0 && result.accepted === result.sent,
          detail: `${result.accepted}/${result.sent} accepted, ${result.retries} retries, statuses ${JSON.stringify(result.statuses)}`,
        },
        ...extraChecks(r),
      );
      Object.assign(seen, { caughtUp: v.caughtUp, reconnects: v.reconnects, redelivered: v.redelivered });
      phases.push(r);
      const failed = r.checks.filter((c) => !c.pass);
      log(
        `phase ${name}: ${failed.length ? `FAILED ${failed.map((c) => `${c.check} (${c.detail})`).join('; ')}` : 'ok'}; ` +
          `accepted→delivered p50 ${r.latency.p50} ms p99 ${r.latency.p99} ms, drained in ${drainMs} ms`,
      );
    };

    // 1. soak
    const soakSeconds = Math.round(soakMinutes * 60);
    await phase(
      'soak',
      `sustained load for ${soakMinutes} min, RSS sampled every 5 s, post-GC heap every ${heapProbeSeconds} s`,
      soakSeconds,
      async () => undefined,
      () => {
        const warm = Math.min(120, soakSeconds / 5);
        const after = memory.filter((s) => s.t >= warm);
        const checks: PhaseReport['checks'] = [];
        if (after.length < 3) return [{ check: 'memory bounded', pass: true, detail: 'too short to judge' }];
        if (probeError) throw probeError;
        const mib = (kibValue: number) => kibValue / 1024;
        // The runner and processor: live heap after a full GC must not trend upward (a leak keeps
        // objects alive), and RSS, which V8 and malloc may keep for reuse, must stay under a
        // ceiling. The RSS growth and trend are reported for information.
        for (const svc of ['runner', ...(separateProcessor ? ['processor' as const] : [])] as const) {
          const h = heap.filter((s) => s.service === svc && s.t >= warm);
          const rssOf = (s: MemorySample) => s[svc] ?? NaN;
          const rssAfter = after.map(rssOf).filter((v) => !Number.isNaN(v));
          const rssMax = mib(Math.max(...rssAfter));
          const rssGrowth = rssMax - mib(rssAfter[0] ?? NaN);
          const rssTrend = slope(
            after.filter((s) => !Number.isNaN(rssOf(s))).map((s) => [s.t / 60, mib(rssOf(s))]),
          );
          if (h.length < 3) {
            checks.push({
              check: `${svc} live heap after GC bounded`,
              pass: false,
              detail: `only ${h.length} heap probes after warm-up`,
            });
            continue;
          }
          const heapTrend = slope(h.map((s) => [s.t / 60, mib(s.heapUsed)]));
          const heaps = h.map((s) => mib(s.heapUsed));
          checks.push({
            check: `${svc} live heap after GC bounded`,
            pass: heapTrend <= heapTrendBound,
            detail:
              `${heaps[0]!.toFixed(1)} → ${heaps[heaps.length - 1]!.toFixed(1)} MiB (min ${Math.min(...heaps).toFixed(1)}, ` +
              `max ${Math.max(...heaps).toFixed(1)}, ${h.length} probes), trend ${heapTrend.toFixed(2)} MiB/min (bound ${heapTrendBound})`,
          });
          checks.push({
            check: `${svc} RSS under ceiling`,
            pass: rssMax <= rssMaxMiB,
            detail:
              `max ${rssMax.toFixed(0)} MiB (bound ${rssMaxMiB}); for information: +${rssGrowth.toFixed(1)} MiB after warm-up, ` +
              `trend ${rssTrend.toFixed(2)} MiB/min`,
          });
        }
        for (const svc of ['webpubsub'] as const) {
          const rss = (s: MemorySample) => s[svc] ?? NaN;
          const first = rss(after[0]!);
          const max = Math.max(...after.map(rss));
          const growthMiB = (max - first) / 1024;
          const trend = slope(after.map((s) => [s.t / 60, rss(s) / 1024]));
          checks.push({
            check: `${svc} RSS bounded`,
            pass: growthMiB <= boundMiB && trend <= trendBound,
            detail: `+${growthMiB.toFixed(1)} MiB after warm-up (bound ${boundMiB}), trend ${trend.toFixed(2)} MiB/min (bound ${trendBound})`,
          });
        }
        const c0 = after[0]!;
        const c1 = after[after.length - 1]!;
        const perEvent = ((c1.cosmos - c0.cosmos) * 1024) / Math.max(1, c1.accepted - c0.accepted);
        checks.push({
          check: 'cosmos RSS per stored event',
          pass: perEvent <= 8192,
          detail: `${Math.round(perEvent)} B per accepted event (it keeps every document in memory; bound 8 KiB)`,
        });
        return checks;
      },
    );

    // 2. throttling
    const faults = async (throttle: number) => {
      const res = await fetch(`http://127.0.0.1:${stack.cosmos!.info.port}/_embedded/faults`, {
        method: 'POST',
        body: JSON.stringify({ throttle, retryAfterMs: 20 }),
      });
      return (await res.json()) as { throttled: number; requests: number };
    };
    await phase(
      'throttle',
      'Cosmos DB answers 20 % of requests 429 for 20 s, then 50 % for 10 s',
      40,
      async () => {
        await sleep(5000);
        const before = await faults(0.2);
        await sleep(20_000);
        await faults(0.5);
        await sleep(10_000);
        const after = await faults(0);
        return { throttledRequests: after.throttled - before.throttled };
      },
    );

    // 3. hub outage
    await phase('hub', 'Web PubSub killed under load, restarted 5 s later', 30, async () => {
      await sleep(8000);
      await stack.webPubSub!.kill();
      const down = performance.now();
      await sleep(5000);
      await stack.startWebPubSub();
      return { hubDownMs: Math.round(performance.now() - down) };
    });

    // 4. runner crash
    await phase(
      'runner',
      `functions runner${separateProcessor ? ' and processor' : ''} killed (SIGKILL) under load, restarted 2 s later`,
      30,
      async () => {
        await sleep(8000);
        await Promise.all([stack.runner.kill(), stack.processor?.kill()]);
        const down = performance.now();
        await sleep(2000);
        await stack.startRunner(); // starts the processor too when it runs separately
        return { runnerDownMs: Math.round(performance.now() - down) };
      },
    );

    // 5. hostile input under load
    let outcomes: HostileOutcome[] = [];
    await phase(
      'hostile',
      'hostile-input corpus fired at the meetings under load',
      30,
      async () => {
        await sleep(3000);
        const tag = Date.now().toString(36);
        const cases = hostileCases(tag);
        const jobs = Array.from({ length: 3 }, (_, round) =>
          cases.map((c, i) => ({ c, k: round * cases.length + i })),
        ).flat();
        outcomes = await pool(jobs, 4, ({ c, k }) => {
          const m = k % meetings;
          // Attendees only (p ≥ 1), rotating so no one nears their rate limit.
          const target = fleet.participants[m]![1 + (k % (perMeeting - 1))]!;
          const other = fleet.participants[(m + 1) % meetings]![1]!;
          return sendHostile(stack.apiUrl, c, {
            meetingId: target.meetingId,
            token: target.token,
            otherToken: other.token,
          });
        });
        return { hostileRequests: outcomes.length, cases: cases.length };
      },
      () => {
        const wrong = outcomes.filter((o) => o.status !== o.expected || !o.problemJson);
        const byName = [
          ...new Set(
            wrong.map(
              (o) =>
                `${o.name}: ${o.status} (expected ${o.expected}${o.problemJson ? '' : ', not problem+json'})`,
            ),
          ),
        ];
        return [
          {
            check: 'hostile input refused with its 4xx as problem+json',
            pass: wrong.length === 0,
            detail: wrong.length
              ? byName.slice(0, 10).join('; ')
              : `${outcomes.length} requests, all as expected`,
          },
          {
            check: 'no 5xx for hostile input',
            pass: outcomes.every((o) => o.status > 0 && o.status < 500),
            detail: `${outcomes.filter((o) => o.status >= 500 || o.status === 0).length} server errors or resets`,
          },
        ];
      },
    );
  } catch (err) {
    console.error(stack.logs.slice(-40).join('\n'));
    throw err;
  } finally {
    clearInterval(sampler);
    stopped = true;
    clearTimeout(heapSampler);
    await crowd?.stop();
    api.close();
    await stack.cleanup();
  }

  const pass = phases.every((p) => p.checks.every((c) => c.pass));
  const results = {
    machine: machineInfo(),
    command: `npm run reliability -- ${process.argv.slice(2).join(' ')}`.trim(),
    rate,
    meetings,
    participants: perMeeting,
    durationSeconds: Math.round((performance.now() - started) / 1000),
    machineBusyCores: busy(),
    pass,
    phases,
    memory,
    heap,
  };
  const dir = path.join(repoRoot, 'bench', 'results');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `reliability-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(file, JSON.stringify(results, null, 2) + '\n');

  const rows: Row[] = [];
  for (const p of phases) {
    rows.push([
      p.name,
      `${p.load.accepted}/${p.load.sent} (${p.load.retries} retries)`,
      `${p.latency.p50} / ${p.latency.p99} / ${p.latency.max}`,
      `${p.lost} / ${p.duplicatedEvents} / ${p.divergent} / ${p.foreign}`,
      `${p.caughtUp} / ${p.reconnects}`,
      p.checks.every((c) => c.pass) ? 'pass' : 'FAIL',
    ]);
    for (const c of p.checks)
      if (!c.pass || c.check.includes('RSS') || c.check.includes('heap') || c.check.includes('hostile'))
        rows.push([`  ${c.check}`, c.detail, '', '', '', c.pass ? 'pass' : 'FAIL']);
  }
  console.log(
    `\nmeetstream reliability — ${results.command}\n${rate} events/s over ${meetings} × ${perMeeting}, ${results.durationSeconds} s\n`,
  );
  console.log(
    renderTable(
      [
        'phase',
        'accepted / sent',
        'accepted→delivered p50 / p99 / max ms',
        'lost / dup / diverging / foreign',
        'caught up / reconnects',
        'result',
      ],
      rows,
    ),
  );
  console.log(`\nresults: ${path.relative(repoRoot, file)}`);
  process.exit(pass ? 0 : 1);
}

/** Least-squares slope of y over x. */
function slope(points: Array<[number, number]>): number {
  const n = points.length;
  const mx = points.reduce((a, p) => a + p[0], 0) / n;
  const my = points.reduce((a, p) => a + p[1], 0) / n;
  const num = points.reduce((a, p) => a + (p[0] - mx) * (p[1] - my), 0);
  const den = points.reduce((a, p) => a + (p[0] - mx) ** 2, 0);
  return den === 0 ? 0 : num / den;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
