/**
 * End-to-end latency and throughput at a fixed offered load (SPEC §9): M meetings × P participants
 * connected with @azure/web-pubsub-client, events posted over HTTP at `rate` per second for
 * `seconds`, every delivery to every participant timed. The baseline, measured in the same run on
 * the same stack, is the same pipeline at a light load (1 event/s per meeting), i.e. the latency
 * floor the system has when nothing queues.
 */
import { Crowd, type CrowdReport } from './lib/crowd';
import { createFleet } from './lib/fleet';
import { histogram, recordUs, summary, type LatencySummary } from './lib/hdr';
import { JsonClient, sleep } from './lib/http';
import { LoadGenerator, type LoadResult } from './lib/load';
import { CpuMeter, machineBusy, rssKiB } from './lib/machine';
import { startBenchStack, type BenchStack } from './lib/stack';

export interface E2eOptions {
  meetings: number;
  participants: number;
  rate: number;
  seconds: number;
  baselineSeconds: number;
  warmupSeconds: number;
  clientProcesses: number;
  profileDir?: string;
  settings?: Record<string, string>;
  /** Change-feed / timer functions in their own runner process (local/stack.ts). */
  separateProcessor?: boolean;
  log: (line: string) => void;
}

export interface PhaseResult {
  rate: number;
  load: LoadResult;
  /** Per delivery: HTTP accepted (server stamp) → received by the participant. */
  acceptedToDelivered: LatencySummary;
  /** Per event: accepted → received by the last of its meeting's participants. */
  acceptedToAllDelivered: LatencySummary;
  acceptedToProcessed: LatencySummary;
  processedToDelivered: LatencySummary;
  /** Client clocks only: the poster's send → received (includes the HTTP request). */
  sentToDelivered: LatencySummary;
  /** The poster's send → 202 (the API's Cosmos DB write included). */
  sentToAccepted: LatencySummary;
  deliveries: number;
  expectedDeliveries: number;
  pushesPerParticipantPerSecond: number;
  lost: number;
  duplicatedEvents: number;
  divergent: number;
  redelivered: number;
  caughtUp: number;
  drainMs: number;
  /** Cores used per process while the phase ran (machine = all processes, other users' included). */
  cores: Record<string, number>;
}

export interface E2eResult {
  meetings: number;
  participants: number;
  setupMs: number;
  connectMs: number;
  baseline: PhaseResult;
  measured: PhaseResult;
  memory: {
    hubRssPerParticipantKiB: number;
    runnerRssPerMeetingKiB: number;
    cosmosRssPerMeetingKiB: number;
    rssKiB: Record<string, { idle: number; connected: number; afterLoad: number }>;
  };
}

export async function runE2E(opts: E2eOptions): Promise<E2eResult> {
  const stack = await startBenchStack({
    profileDir: opts.profileDir,
    settings: opts.settings,
    separateProcessor: opts.separateProcessor,
  });
  let crowd: Crowd | undefined;
  const api = new JsonClient(stack.apiUrl, 128);
  try {
    await sleep(500);
    const idle = rssAll(stack);
    opts.log(`stack up; creating ${opts.meetings} meetings × ${opts.participants} participants`);
    const fleet = await createFleet(api, opts.meetings, opts.participants);
    opts.log(`fleet ready in ${Math.round(fleet.setupMs)} ms; connecting participants`);
    const prefix = `bench-${Date.now().toString(36)}-`;
    const started = await Crowd.start(stack.apiUrl, fleet.participants.flat(), opts.clientProcesses, prefix);
    crowd = started.crowd;
    if (started.failed > 0) throw new Error(`${started.failed} participants failed to connect`);
    opts.log(
      `${fleet.participants.flat().length} participants connected in ${Math.round(started.connectMs)} ms`,
    );
    await sleep(1000);
    const connected = rssAll(stack);

    const load = new LoadGenerator(api, fleet.participants);
    const pids = () => ({
      ...stack.pids(),
      driver: process.pid,
      ...Object.fromEntries(crowd!.pids.map((pid, i) => [`clients${i}`, pid])),
    });
    if (opts.warmupSeconds > 0) {
      opts.log(`warm-up: ${opts.rate} events/s for ${opts.warmupSeconds} s`);
      await load.run({ rate: opts.rate, seconds: opts.warmupSeconds, prefix: `${prefix}w` });
      await drain(crowd, load.accepted, 20_000);
    }
    const phase = async (rate: number, seconds: number, label: string): Promise<PhaseResult> => {
      opts.log(`${label}: ${rate} events/s for ${seconds} s`);
      await crowd!.reset();
      const before = new Map([...load.accepted].map(([m, ids]) => [m, ids.length]));
      load.sentToAccepted.reset();
      const meter = new CpuMeter(pids);
      const busy = machineBusy();
      meter.begin();
      const result = await load.run({ rate, seconds, prefix: `${prefix}${label[0]}` });
      const cores = meter.end();
      cores.machine = busy();
      const t0 = performance.now();
      const verified = await drain(crowd!, load.accepted, 20_000);
      const drainMs = Math.round(performance.now() - t0);
      const report = await crowd!.report();
      const phaseAccepted = [...load.accepted].reduce(
        (a, [m, ids]) => a + ids.length - (before.get(m) ?? 0),
        0,
      );
      return phaseResult(rate, result, report, load, verified, drainMs, cores, phaseAccepted, opts);
    };
    const baseline = await phase(opts.meetings, opts.baselineSeconds, 'baseline');
    opts.log(
      `baseline: accepted→delivered p50 ${baseline.acceptedToDelivered.p50} ms p99 ${baseline.acceptedToDelivered.p99} ms`,
    );
    const measured = await phase(opts.rate, opts.seconds, 'measured');
    opts.log(
      `measured: accepted→delivered p50 ${measured.acceptedToDelivered.p50} ms p99 ${measured.acceptedToDelivered.p99} ms, lost ${measured.lost}`,
    );
    const afterLoad = rssAll(stack);
    const total = opts.meetings * opts.participants;
    const rss: E2eResult['memory']['rssKiB'] = {};
    for (const k of Object.keys(idle))
      rss[k] = { idle: idle[k]!, connected: connected[k]!, afterLoad: afterLoad[k]! };
    return {
      meetings: opts.meetings,
      participants: opts.participants,
      setupMs: Math.round(fleet.setupMs),
      connectMs: Math.round(started.connectMs),
      baseline,
      measured,
      memory: {
        hubRssPerParticipantKiB: round1((connected.webpubsub! - idle.webpubsub!) / total),
        runnerRssPerMeetingKiB: round1((afterLoad.runner! - idle.runner!) / opts.meetings),
        cosmosRssPerMeetingKiB: round1((afterLoad.cosmos! - idle.cosmos!) / opts.meetings),
        rssKiB: rss,
      },
    };
  } catch (err) {
    console.error(stack.logs.slice(-40).join('\n'));
    throw err;
  } finally {
    await crowd?.stop();
    api.close();
    await stack.cleanup();
  }
}

function rssAll(stack: BenchStack): Record<string, number> {
  return Object.fromEntries(Object.entries(stack.pids()).map(([k, pid]) => [k, rssKiB(pid)]));
}

/**
 * Waits until every accepted event reached every participant. A backlog (the system fell behind
 * the offered load) may take long to drain, so the wait goes on while deliveries still progress
 * (some arrived in the last `stallMs`), up to `capMs`; what is missing after that is reported as lost.
 */
export async function drain(crowd: Crowd, accepted: Map<string, string[]>, stallMs: number, capMs = 900_000) {
  const t0 = performance.now();
  let best = Infinity;
  let progressAt = t0;
  for (;;) {
    const v = await crowd.verify(accepted);
    const now = performance.now();
    if (v.lost < best) {
      best = v.lost;
      progressAt = now;
    }
    if (v.lost === 0 || now - progressAt > stallMs || now - t0 > capMs) return v;
    await sleep(v.lost > 10_000 ? 2000 : 250);
  }
}

function phaseResult(
  rate: number,
  load: LoadResult,
  report: CrowdReport,
  gen: LoadGenerator,
  verified: Awaited<ReturnType<typeof drain>>,
  drainMs: number,
  cores: Record<string, number>,
  phaseAccepted: number,
  opts: { meetings: number; participants: number },
): PhaseResult {
  const perMeeting = opts.participants;
  const all = histogram();
  for (const e of report.events.values()) if (e.n === perMeeting) recordUs(all, e.last - e.accepted * 1000);
  return {
    rate,
    load,
    acceptedToDelivered: summary(report.hist.acceptedToDelivered),
    acceptedToAllDelivered: summary(all),
    acceptedToProcessed: summary(report.hist.acceptedToProcessed),
    processedToDelivered: summary(report.hist.processedToDelivered),
    sentToDelivered: summary(report.hist.sentToDelivered),
    sentToAccepted: summary(gen.sentToAccepted),
    deliveries: report.deliveries,
    expectedDeliveries: phaseAccepted * perMeeting,
    pushesPerParticipantPerSecond: round1(report.messages / load.seconds / (opts.meetings * perMeeting)),
    lost: verified.lost,
    duplicatedEvents: verified.duplicatedEvents,
    divergent: verified.divergent,
    redelivered: verified.redelivered,
    caughtUp: verified.caughtUp,
    drainMs,
    cores,
  };
}

const round1 = (x: number) => Math.round(x * 10) / 10;
