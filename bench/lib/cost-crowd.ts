/**
 * A process of lightweight meeting attendees for the cost benchmark: one plain `ws` connection each,
 * speaking `json.webpubsub.azure.v1` to the negotiated Web PubSub URL (the group comes from the
 * token), as a 1,000-person room needs and as `@azure/web-pubsub-client` would cost too much CPU
 * to run a thousand times on a shared 2-core machine. Run with `fork()`; commands over IPC.
 *
 * The attendees never parse the pushes: the processor sends consecutive runs of envelopes, each
 * serialised as `{…,"seq":N,"meetingId":…}` inside the group message's `data` array (the last
 * field of the frame), so the first and last `"seq":` of a message bound the run it carries. That
 * is enough to check, per attendee, that every seq arrives once and in order from the first push
 * on (a gap, a repeat or a step back is counted); the few typed clients beside them
 * (participants.ts) verify content and catch-up.
 */
import WebSocket from 'ws';
import { pool } from './http';

export type CrowdCommand =
  | { cmd: 'connect'; urls: string[] }
  /**
   * Zeroes the counters; with `seq`, every attendee is taken to have everything up to it (the
   * meeting's seq when they all settled), so a push missed after that is counted as missing.
   */
  | { cmd: 'reset'; seq?: number }
  | { cmd: 'status' }
  | { cmd: 'stop' };

export interface CrowdStatus {
  type: 'status';
  connected: number;
  /** Sockets that closed after connecting (the attendee would have lost pushes). */
  closed: number;
  /** Group messages and their bytes (frame text) since the last reset, over all attendees. */
  messages: number;
  bytes: number;
  /** Seqs skipped between consecutive pushes, summed over attendees. */
  missing: number;
  /** Pushes that repeated or went back to a seq already received. */
  repeated: number;
  /** Lowest and highest last seq received over attendees (0 before any push). */
  minLast: number;
  /** Attendees that have received no push yet. */
  silent: number;
  maxLast: number;
  /** Lowest first seq received since the last reset (Infinity → 0 when none). */
  minFirstSinceReset: number;
}

interface Attendee {
  ws: WebSocket;
  last: number;
  open: boolean;
}

const SEQ = Buffer.from('"seq":');
const AFTER = Buffer.from(',"meetingId"');

/** The number after `"seq":` at `at`, if an envelope's seq (followed by its meetingId). */
function seqAt(buf: Buffer, at: number): number | undefined {
  let i = at + SEQ.length;
  let n = 0;
  const start = i;
  while (i < buf.length) {
    const c = buf[i]!;
    if (c < 48 || c > 57) break;
    n = n * 10 + (c - 48);
    i++;
  }
  if (i === start || buf.compare(AFTER, 0, AFTER.length, i, i + AFTER.length) !== 0) return undefined;
  return n;
}

function firstSeq(buf: Buffer): number | undefined {
  for (let at = buf.indexOf(SEQ); at >= 0; at = buf.indexOf(SEQ, at + 1)) {
    const n = seqAt(buf, at);
    if (n !== undefined) return n;
  }
  return undefined;
}

function lastSeq(buf: Buffer): number | undefined {
  for (let at = buf.lastIndexOf(SEQ); at >= 0; at = buf.lastIndexOf(SEQ, at - 1)) {
    const n = seqAt(buf, at);
    if (n !== undefined) return n;
    if (at === 0) break;
  }
  return undefined;
}

function main(): void {
  const attendees: Attendee[] = [];
  let counters = { messages: 0, bytes: 0, missing: 0, repeated: 0, minFirst: Infinity };
  let closed = 0;

  function onMessage(a: Attendee, data: Buffer): void {
    // Only group messages carry envelopes; system frames (connected) and acks are skipped.
    if (data.length < 20 || data.indexOf('"type":"message"') !== 1) return;
    counters.messages++;
    counters.bytes += data.length;
    const first = firstSeq(data);
    const last = lastSeq(data);
    if (first === undefined || last === undefined) return;
    if (first < counters.minFirst) counters.minFirst = first;
    if (a.last > 0) {
      if (first <= a.last) counters.repeated++;
      else if (first > a.last + 1) counters.missing += first - a.last - 1;
    }
    if (last > a.last) a.last = last;
  }

  async function connect(urls: string[]): Promise<void> {
    const t0 = performance.now();
    let failed = 0;
    // Concurrency bounded so the hub's upstream connect calls to the runner do not all time out.
    await pool(urls, 25, async (url) => {
      const ws = new WebSocket(url, 'json.webpubsub.azure.v1', { perMessageDeflate: false });
      const a: Attendee = { ws, last: 0, open: false };
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        if (!isBinary) onMessage(a, data);
      });
      ws.on('error', () => undefined);
      try {
        await new Promise<void>((resolve, reject) => {
          ws.once('open', () => resolve());
          ws.once('error', reject);
          ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
        });
        a.open = true;
        attendees.push(a);
        ws.on('close', () => {
          if (a.open) closed++;
          a.open = false;
        });
      } catch (err) {
        failed++;
        if (failed <= 3) console.error(`attendee: connect failed: ${(err as Error).message}`);
      }
    });
    send({ type: 'connected', count: attendees.length, failed, ms: performance.now() - t0 });
  }

  function status(): CrowdStatus {
    let minLast = Infinity;
    let maxLast = 0;
    for (const a of attendees) {
      if (a.last < minLast) minLast = a.last;
      if (a.last > maxLast) maxLast = a.last;
    }
    return {
      type: 'status',
      connected: attendees.filter((a) => a.open).length,
      closed,
      messages: counters.messages,
      bytes: counters.bytes,
      missing: counters.missing,
      repeated: counters.repeated,
      minLast: Number.isFinite(minLast) ? minLast : 0,
      silent: attendees.filter((a) => a.last === 0).length,
      maxLast,
      minFirstSinceReset: Number.isFinite(counters.minFirst) ? counters.minFirst : 0,
    };
  }

  function send(message: unknown): void {
    process.send?.(message);
  }

  process.on('message', (m: CrowdCommand) => {
    switch (m.cmd) {
      case 'connect':
        connect(m.urls).catch((err: unknown) => {
          console.error(err);
          process.exit(1);
        });
        break;
      case 'reset':
        counters = { messages: 0, bytes: 0, missing: 0, repeated: 0, minFirst: Infinity };
        if (m.seq !== undefined) for (const a of attendees) if (a.last < m.seq) a.last = m.seq;
        send({ type: 'reset' });
        break;
      case 'status':
        send(status());
        break;
      case 'stop':
        for (const a of attendees) {
          a.open = false;
          a.ws.close();
        }
        setTimeout(() => process.exit(0), 100);
        break;
    }
  });
  process.on('disconnect', () => process.exit(0));
}

if (require.main === module) main();
