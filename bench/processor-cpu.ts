/**
 * Processor CPU per event (SPEC §9: ≤ 20 µs), analytics included. Three figures, same events,
 * same process, one after the other:
 *  - reducer: what SPEC §9 bounds — events folded the way the change-feed processor does, per
 *    meeting in batches of 50: applyEvent for each, one flushAnalytics, one JSON serialisation of
 *    the model (the state document it persists);
 *  - processor: the whole MeetingProcessor (sequencing, pages, commit and push bookkeeping) over
 *    in-memory stores that keep references (no I/O, no copies);
 *  - baseline: JSON.parse + JSON.stringify of the same event documents — what merely receiving
 *    them from the change feed costs, the floor under any processor.
 * Meetings are interleaved batch by batch like a feed covering many meetings. CPU time is
 * process.cpuUsage (user + system); generating the events is not measured.
 *
 * Run alone: node dist/bench/processor-cpu.js [events] [meetings] (writes bench/results/processor-cpu.json)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { StateStore, StoredState } from '../lib/ports';
import { applyEvent, flushAnalytics, initialModel, type MeetingModel } from '../lib/domain/meeting';
import { MeetingProcessor, type ProcessorState } from '../lib/processing/processor';
import type { EventDocument, PageDocument } from '../lib/protocol';
import { generateMeeting } from '../test/fixtures/meetingScript';

const BATCH = 50;
export const TARGET_US = 20;

function makeStreams(total: number, meetings: number, seedBase: number): EventDocument[][] {
  const per = Math.ceil(total / meetings);
  return Array.from({ length: meetings }, (_, m) =>
    // 20 participants, ~20 events/s per meeting (1,000 events/s over 50 meetings in the e2e bench).
    generateMeeting({
      seed: seedBase + m,
      steps: per,
      participants: 20,
      meanGapMs: 50,
      end: false,
      pollEvery: 400,
      meetingId: `m${m}`,
    })
      .slice(0, per)
      .map((e, i) => ({ ...e, _lsn: i + 1 })),
  );
}

interface RunResult {
  events: number;
  batches: number;
  envelopes: number;
  cpuUs: number;
  wallMs: number;
  modelBytes: number;
  envelopeBytes: number;
}

/** Visits the streams batch by batch, meetings interleaved; `fold` gets one meeting's batch. */
function interleave(streams: EventDocument[][], fold: (m: number, batch: EventDocument[]) => void): void {
  const offsets = streams.map(() => 0);
  for (let active = streams.length; active > 0;) {
    active = 0;
    for (let m = 0; m < streams.length; m++) {
      const stream = streams[m]!;
      const from = offsets[m]!;
      if (from >= stream.length) continue;
      active++;
      const to = Math.min(from + BATCH, stream.length);
      fold(m, stream.slice(from, to));
      offsets[m] = to;
    }
  }
}

function timed(work: () => void): { cpuUs: number; wallMs: number } {
  const wall = process.hrtime.bigint();
  const cpu = process.cpuUsage();
  work();
  const used = process.cpuUsage(cpu);
  return { cpuUs: used.user + used.system, wallMs: Number(process.hrtime.bigint() - wall) / 1e6 };
}

function runReducer(streams: EventDocument[][], serialiseEnvelopes: boolean): RunResult {
  const models: MeetingModel[] = streams.map(() => initialModel());
  const r = { events: 0, batches: 0, envelopes: 0, modelBytes: 0, envelopeBytes: 0 };
  const t = timed(() =>
    interleave(streams, (m, batch) => {
      const model = models[m]!;
      const now = batch[batch.length - 1]!.receivedAt + 20;
      for (const e of batch) {
        const out = applyEvent(model, e, now);
        r.envelopes += out.length;
        if (serialiseEnvelopes) for (const env of out) r.envelopeBytes += JSON.stringify(env).length;
      }
      const analytics = flushAnalytics(model, now);
      r.envelopes += analytics.length;
      if (serialiseEnvelopes) for (const env of analytics) r.envelopeBytes += JSON.stringify(env).length;
      r.modelBytes += JSON.stringify(model).length;
      r.events += batch.length;
      r.batches++;
    }),
  );
  return { ...r, ...t };
}

/** Stores that keep references: the processor's own work, none of an adapter's. */
class NullStore implements StateStore<ProcessorState> {
  private readonly states = new Map<string, ProcessorState>();
  async load(meetingId: string): Promise<StoredState<ProcessorState> | undefined> {
    const state = this.states.get(meetingId);
    return state ? { state, etag: 'e' } : undefined;
  }
  async commit(meetingId: string, state: ProcessorState): Promise<string> {
    this.states.set(meetingId, state);
    return 'e';
  }
  async pagesAfter(): Promise<PageDocument[]> {
    return [];
  }
  async park(): Promise<void> {
    throw new Error('the benchmark parks nothing');
  }
}

async function runProcessor(streams: EventDocument[][]): Promise<RunResult> {
  let now = streams[0]![0]!.receivedAt;
  const processor = new MeetingProcessor({
    store: new NullStore(),
    publisher: { publish: async () => undefined },
    clock: () => now,
    retentionSeconds: 86_400,
    log: () => undefined,
  });
  const batches: EventDocument[][] = [];
  interleave(streams, (_, batch) => batches.push(batch));
  let events = 0;
  let envelopes = 0;
  const wall = process.hrtime.bigint();
  const cpu = process.cpuUsage();
  for (const batch of batches) {
    now = batch[batch.length - 1]!.receivedAt + 20;
    const report = await processor.processBatch(batch);
    events += report.applied;
    envelopes += report.envelopes;
  }
  const used = process.cpuUsage(cpu);
  return {
    events,
    batches: batches.length,
    envelopes,
    cpuUs: used.user + used.system,
    wallMs: Number(process.hrtime.bigint() - wall) / 1e6,
    modelBytes: 0,
    envelopeBytes: 0,
  };
}

function runJsonBaseline(streams: EventDocument[][]): RunResult {
  const texts = streams.map((s) => s.map((e) => JSON.stringify(e)));
  let events = 0;
  let bytes = 0;
  const t = timed(() => {
    for (const list of texts)
      for (const text of list) {
        bytes += JSON.stringify(JSON.parse(text)).length;
        events++;
      }
  });
  return { events, batches: 0, envelopes: 0, modelBytes: 0, envelopeBytes: bytes, ...t };
}

/**
 * Heap one live meeting's model keeps (what the processor caches per meeting), after a full GC:
 * the streams folded into fresh models, heap measured before and after.
 */
function heapPerMeetingKiB(streams: EventDocument[][]): number {
  setFlagsFromString('--expose_gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  const before = process.memoryUsage().heapUsed;
  const models = streams.map((stream) => {
    const model = initialModel();
    for (const e of stream) applyEvent(model, e, e.receivedAt);
    flushAnalytics(model, stream[stream.length - 1]!.receivedAt + 20);
    return model;
  });
  gc();
  const after = process.memoryUsage().heapUsed;
  return Math.round(((after - before) / models.length / 1024) * 10) / 10;
}

export interface ProcessorCpuResult {
  benchmark: 'processor-cpu';
  node: string;
  events: number;
  meetings: number;
  batchSize: number;
  /** applyEvent + flushAnalytics every 50 events + JSON.stringify(model) per batch. */
  cpuMicrosPerEvent: number;
  /** The same plus JSON.stringify of every envelope (the processor sizes pages that way). */
  cpuMicrosPerEventWithEnvelopeJson: number;
  /** MeetingProcessor.processBatch over reference-keeping stores. */
  processorMicrosPerEvent: number;
  /** JSON.parse + JSON.stringify of each event document. */
  baselineJsonMicrosPerEvent: number;
  wallMs: number;
  envelopesPerEvent: number;
  avgModelJsonBytes: number;
  avgEnvelopeJsonBytes: number;
  /** V8 heap retained per live meeting model (after GC). */
  heapPerMeetingKiB: number;
  targetMicrosPerEvent: number;
  pass: boolean;
}

export async function runProcessorCpu(total = 200_000, meetings = 20): Promise<ProcessorCpuResult> {
  // Warm up the JIT on other meetings so the measured runs are steady state.
  const warm = makeStreams(Math.min(20_000, total), meetings, 1000);
  runReducer(warm, true);
  await runProcessor(warm);
  runJsonBaseline(warm);
  const streams = makeStreams(total, meetings, 1);
  const base = runReducer(streams, false);
  const withEnvelopes = runReducer(streams, true);
  const processor = await runProcessor(streams);
  const json = runJsonBaseline(streams);
  const heap = heapPerMeetingKiB(streams);
  const perEvent = base.cpuUs / base.events;
  return {
    benchmark: 'processor-cpu',
    node: process.version,
    events: base.events,
    meetings,
    batchSize: BATCH,
    cpuMicrosPerEvent: round(perEvent),
    cpuMicrosPerEventWithEnvelopeJson: round(withEnvelopes.cpuUs / withEnvelopes.events),
    processorMicrosPerEvent: round(processor.cpuUs / processor.events),
    baselineJsonMicrosPerEvent: round(json.cpuUs / json.events),
    wallMs: round(base.wallMs),
    envelopesPerEvent: round(base.envelopes / base.events),
    avgModelJsonBytes: Math.round(base.modelBytes / base.batches),
    avgEnvelopeJsonBytes: Math.round(withEnvelopes.envelopeBytes / withEnvelopes.envelopes),
    heapPerMeetingKiB: heap,
    targetMicrosPerEvent: TARGET_US,
    pass: perEvent <= TARGET_US,
  };
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

async function main(): Promise<void> {
  const result = await runProcessorCpu(Number(process.argv[2] ?? 200_000), Number(process.argv[3] ?? 20));
  console.log(
    `processor CPU: ${result.cpuMicrosPerEvent} µs/event (${result.cpuMicrosPerEventWithEnvelopeJson} with envelope JSON, ` +
      `${result.processorMicrosPerEvent} through MeetingProcessor; JSON round-trip baseline ${result.baselineJsonMicrosPerEvent}; ` +
      `target ≤ ${TARGET_US}) over ${result.events} events in ${result.meetings} meetings, batches of ${BATCH}, ` +
      `model ≈ ${(result.avgModelJsonBytes / 1024).toFixed(1)} kB, ${result.envelopesPerEvent} envelopes/event`,
  );
  const dir = path.resolve(__dirname, '../../bench/results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'processor-cpu.json'), JSON.stringify(result, null, 2) + '\n');
}

if (require.main === module)
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
