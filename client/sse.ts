/**
 * A Server-Sent Events reader on fetch streams (Node 20 and every current browser), so the
 * participant token travels in the Authorization header rather than the URL; and an EventSource
 * variant for environments without fetch streams (a 30-second stream ticket then goes as `?ticket=`).
 */

export interface SseMessage {
  event: string;
  data: string;
  id?: string;
}

/** Incremental parser of the text/event-stream format (WHATWG HTML §9.2). */
export class SseParser {
  private buffer = '';
  private data: string[] = [];
  private event = '';
  private id: string | undefined;

  constructor(private readonly onMessage: (message: SseMessage) => void) {}

  push(text: string): void {
    this.buffer += text;
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.buffer);
      if (!match) break;
      // A lone \r at the very end may be the first half of \r\n: wait for more.
      if (match[0] === '\r' && match.index === this.buffer.length - 1) break;
      const line = this.buffer.slice(0, match.index);
      this.buffer = this.buffer.slice(match.index + match[0].length);
      this.line(line);
    }
  }

  private line(line: string): void {
    if (line === '') {
      if (this.data.length > 0) {
        this.onMessage({ event: this.event || 'message', data: this.data.join('\n'), id: this.id });
      }
      this.data = [];
      this.event = '';
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
    else if (field === 'id' && !value.includes('\0')) this.id = value;
  }
}

/**
 * Reads an SSE response body to its end, calling `onMessage` per message. Resolves when the server
 * ends the stream; rejects on network errors, abort, or nothing at all (not even a heartbeat) for
 * `idleMs`, which is how a silently dead connection shows.
 */
export async function readSse(
  body: ReadableStream<Uint8Array>,
  onMessage: (m: SseMessage) => void,
  idleMs = 45_000,
): Promise<void> {
  const parser = new SseParser(onMessage);
  const decoder = new TextDecoder();
  const reader = body.getReader();
  try {
    for (;;) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const idle = new Promise<'idle'>((resolve) => (timer = setTimeout(() => resolve('idle'), idleMs)));
      const next = await Promise.race([reader.read(), idle]).finally(() => clearTimeout(timer));
      if (next === 'idle') {
        void reader.cancel().catch(() => undefined);
        throw new Error(`event stream idle for ${idleMs} ms`);
      }
      if (next.done) break;
      parser.push(decoder.decode(next.value, { stream: true }));
    }
    parser.push(decoder.decode());
  } finally {
    try {
      reader.releaseLock();
    } catch {
      // a read still pending after cancel(): the stream is being torn down anyway
    }
  }
}

/** The subset of the browser's EventSource the client uses. */
export interface EventSourceLike {
  onopen: ((ev: unknown) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: string; lastEventId?: string }) => void) | null;
  addEventListener(type: string, listener: (ev: { data: string }) => void): void;
  close(): void;
  readonly readyState: number;
}

export type EventSourceFactory = (url: string) => EventSourceLike;

/** The global EventSource, when the environment has one. */
export function globalEventSource(): EventSourceFactory | undefined {
  const ctor = (globalThis as { EventSource?: new (url: string) => EventSourceLike }).EventSource;
  return ctor ? (url) => new ctor(url) : undefined;
}
