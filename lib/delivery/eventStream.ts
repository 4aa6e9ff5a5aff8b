/**
 * The Server-Sent Events body: one SSE message per envelope (`id:` = seq, so a reconnecting
 * EventSource resumes with `Last-Event-ID`), comment heartbeats while idle, and an end after a
 * bounded lifetime (the function cannot see a client that went away, so an abandoned stream costs
 * at most that long; clients simply reconnect). Pull-based: the next read starts only when the
 * previous chunk was taken, so a slow client never makes the function buffer without bound.
 */
import { ReadableStream } from 'node:stream/web';
import type { Envelope } from '../protocol';
import { RetentionGapError, type ReadResult } from './eventLog';

export interface EventStreamOptions {
  after: number;
  /** Epoch ms at which the stream ends (lifetime, or the token's expiry if sooner). */
  endAt: number;
  heartbeatMs: number;
  read(after: number): Promise<ReadResult>;
  wait(after: number, timeoutMs: number): Promise<boolean>;
  clock?: () => number;
  log?: (message: string) => void;
  /**
   * The stream ends right after an envelope this accepts (e.g. the reader's own removal): it is
   * delivered, nothing after it is. Removal reaches every instance through the log itself, so a
   * stream on any instance ends as soon as the removal is sequenced.
   */
  endsAfter?: (envelope: Envelope) => boolean;
}

/** Reconnect delay suggested to EventSource clients. */
export const SSE_RETRY_MS = 1000;

export function sseMessage(envelope: Envelope): string {
  // JSON.stringify never emits raw line breaks, so one `data:` line carries the whole envelope.
  return `id: ${envelope.seq}\ndata: ${JSON.stringify(envelope)}\n\n`;
}

export function createEventStream(opts: EventStreamOptions): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  const clock = opts.clock ?? Date.now;
  let cursor = opts.after;
  let started = false;
  let cancelled = false;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        if (!started) {
          // Sent at once so the response headers (and the stream) reach the client immediately.
          started = true;
          controller.enqueue(encoder.encode(`retry: ${SSE_RETRY_MS}\n: after ${cursor}\n\n`));
          return;
        }
        for (;;) {
          if (cancelled) return;
          const remaining = opts.endAt - clock();
          if (remaining <= 0) return controller.close();
          let page: ReadResult;
          try {
            page = await opts.read(cursor);
          } catch (err) {
            if (err instanceof RetentionGapError) {
              // What the client asked for is gone for good: say so, and carry on from what is left.
              const skipped = { after: cursor, firstAvailableSeq: err.firstAvailableSeq };
              cursor = err.firstAvailableSeq - 1;
              controller.enqueue(encoder.encode(`event: expired\ndata: ${JSON.stringify(skipped)}\n\n`));
              return;
            }
            // Storage trouble: end the stream; the client reconnects from its last seq.
            opts.log?.(`event stream read failed: ${err instanceof Error ? err.message : String(err)}`);
            return controller.close();
          }
          if (cancelled) return;
          if (page.items.length > 0) {
            const last = opts.endsAfter ? page.items.findIndex(opts.endsAfter) : -1;
            const items = last >= 0 ? page.items.slice(0, last + 1) : page.items;
            cursor = items[items.length - 1]!.seq;
            controller.enqueue(encoder.encode(items.map(sseMessage).join('')));
            if (last >= 0) controller.close();
            return;
          }
          const advanced = await opts.wait(cursor, Math.min(opts.heartbeatMs, remaining));
          if (!advanced && !cancelled && clock() < opts.endAt) {
            controller.enqueue(encoder.encode(': keep-alive\n\n'));
            return;
          }
        }
      },
      cancel() {
        cancelled = true;
      },
    },
    { highWaterMark: 0 },
  );
}
