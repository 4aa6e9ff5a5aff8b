/**
 * Processor CPU per event (SPEC §9: ≤ 20 µs): folds 200,000 fixture-like events through the pure
 * reducer the way the change-feed processor does — per meeting, in batches of 50: applyEvent for
 * each event, one flushAnalytics, one JSON serialisation of the model (the state document it
 * persists). Meetings are interleaved batch by batch like a feed covering many meetings. CPU time
 * is measured with process.cpuUsage (user + system); event generation is not measured.
 *
 * Run: npm run build && node dist/bench/processor-cpu.js [events] [meetings]
 * Prints one line and writes bench/results/processor-cpu.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { applyEvent, flushAnalytics, initialModel, type MeetingModel } from '../lib/domain/meeting';
import type { EventDocument } from '../lib/protocol';
import { generateMeeting } from '../test/fixtures/meetingScript';

const TOTAL = Number(process.argv[2] ?? 200_000);
const MEETINGS = Number(process.argv[3] ?? 20);
const BATCH = 50;
const TARGET_US = 20;

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
    }).slice(0, per),
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

function run(streams: EventDocument[][], serialiseEnvelopes: boolean): RunResult {
  const models: MeetingModel[] = streams.map(() => initialModel());
  const offsets = streams.map(() => 0);
  let events = 0;
  let batches = 0;
  let envelopes = 0;
  let modelBytes = 0;
  let envelopeBytes = 0;
  const wall = process.hrtime.bigint();
  const cpu = process.cpuUsage();
  for (let active = streams.length; active > 0;) {
    active = 0;
    for (let m = 0; m < streams.length; m++) {
      const stream = streams[m]!;
      const from = offsets[m]!;
      if (from >= stream.length) continue;
      active++;
      const model = models[m]!;
      const to = Math.min(from + BATCH, stream.length);
      const now = stream[to - 1]!.receivedAt + 20;
      for (let i = from; i < to; i++) {
        const out = applyEvent(model, stream[i]!, now);
        envelopes += out.length;
        if (serialiseEnvelopes) for (const env of out) envelopeBytes += JSON.stringify(env).length;
      }
      const analytics = flushAnalytics(model, now);
      envelopes += analytics.length;
      if (serialiseEnvelopes) for (const env of analytics) envelopeBytes += JSON.stringify(env).length;
      modelBytes += JSON.stringify(model).length;
      events += to - from;
      batches++;
      offsets[m] = to;
    }
  }
  const used = process.cpuUsage(cpu);
  return {
    events,
    batches,
    envelopes,
    cpuUs: used.user + used.system,
    wallMs: Number(process.hrtime.bigint() - wall) / 1e6,
    modelBytes,
    envelopeBytes,
  };
}

function main(): void {
  // Warm up the JIT on other meetings so the measured run is steady state.
  run(makeStreams(20_000, MEETINGS, 1000), true);
  const streams = makeStreams(TOTAL, MEETINGS, 1);
  const base = run(streams, false);
  const withEnvelopes = run(streams, true);
  const perEvent = base.cpuUs / base.events;
  const perEventWithEnvelopes = withEnvelopes.cpuUs / withEnvelopes.events;
  const result = {
    benchmark: 'processor-cpu',
    node: process.version,
    events: base.events,
    meetings: MEETINGS,
    batchSize: BATCH,
    /** applyEvent + flushAnalytics every 50 events + JSON.stringify(model) per batch. */
    cpuMicrosPerEvent: round(perEvent),
    /** The same plus JSON.stringify of every envelope (the processor sizes pages that way). */
    cpuMicrosPerEventWithEnvelopeJson: round(perEventWithEnvelopes),
    wallMs: round(base.wallMs),
    envelopesPerEvent: round(base.envelopes / base.events),
    avgModelJsonBytes: Math.round(base.modelBytes / base.batches),
    avgEnvelopeJsonBytes: Math.round(withEnvelopes.envelopeBytes / withEnvelopes.envelopes),
    targetMicrosPerEvent: TARGET_US,
    pass: perEvent <= TARGET_US,
  };
  console.log(
    `processor CPU: ${result.cpuMicrosPerEvent} µs/event (${result.cpuMicrosPerEventWithEnvelopeJson} with envelope JSON; ` +
      `target ≤ ${TARGET_US}) over ${result.events} events in ${MEETINGS} meetings, batches of ${BATCH}, ` +
      `model ≈ ${(result.avgModelJsonBytes / 1024).toFixed(1)} kB, ${result.envelopesPerEvent} envelopes/event`,
  );
  const dir = path.resolve(__dirname, '../../bench/results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'processor-cpu.json'), JSON.stringify(result, null, 2) + '\n');
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

main();
