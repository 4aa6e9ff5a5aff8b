/**
 * The local runner's HTTP streaming mode (app.setup({ enableHttpStream: true })), against a small
 * function app written to a temp folder and run by the real runner process, once with streaming
 * and once without: same answers either way, streamed bodies arrive as they are written, the host
 * answers for handlers that throw or return nothing, and the added latency is measured.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnService, type ChildService } from '../../local/supervisor';

const repoRoot = path.resolve(__dirname, '..', '..', '..');

const APP = `
const { app } = require(${JSON.stringify(path.join(repoRoot, 'node_modules', '@azure', 'functions'))});
if (process.env.FIXTURE_STREAM === '1') app.setup({ enableHttpStream: true });

app.http('echo', {
  route: 'echo/{name}', methods: ['POST'], authLevel: 'anonymous',
  handler: async (req) => {
    const body = await req.text();
    return { status: 201, headers: { 'x-echo': req.headers.get('x-in') || '' },
      jsonBody: { method: req.method, name: req.params.name, q: req.query.get('q'), body, length: body.length } };
  },
});
app.http('ping', { route: 'ping', methods: ['GET'], authLevel: 'anonymous', handler: async () => ({ body: 'pong' }) });
app.http('whoami', { route: 'whoami', methods: ['GET'], authLevel: 'anonymous',
  handler: async (req) => ({ body: req.headers.get('x-forwarded-for') || '' }) });
app.http('throws', { route: 'throws', methods: ['GET'], authLevel: 'anonymous', handler: async () => { throw new Error('boom'); } });
app.http('nothing', { route: 'nothing', methods: ['GET'], authLevel: 'anonymous', handler: async () => undefined });
app.http('drip', {
  route: 'drip', methods: ['GET'], authLevel: 'anonymous',
  handler: async () => {
    let n = 0;
    const body = new ReadableStream({
      async pull(controller) {
        if (n > 0) await new Promise((r) => setTimeout(r, 300));
        if (n === 3) return controller.close();
        controller.enqueue(new TextEncoder().encode('chunk' + n++ + '\\n'));
      },
    }, { highWaterMark: 0 });
    return { headers: { 'content-type': 'text/plain' }, body };
  },
});
`;

interface RunningApp {
  url: string;
  runner: ChildService;
  logs: string[];
}

async function startApp(dir: string, stream: boolean): Promise<RunningApp> {
  const logs: string[] = [];
  const runner = await spawnService({
    name: 'runner',
    script: path.join(repoRoot, 'dist', 'local', 'runner', 'main.js'),
    args: [dir],
    env: { ...process.env, PORT: '0', FIXTURE_STREAM: stream ? '1' : '0' },
    onLine: (line) => logs.push(line),
  });
  return { url: `http://127.0.0.1:${runner.info.port}/api`, runner, logs };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function latencies(url: string, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const res = await fetch(url);
    await res.text();
    out.push(performance.now() - t0);
  }
  return out.sort((a, b) => a - b);
}

describe('local runner with and without HTTP streaming', () => {
  let dir: string;
  const apps: Record<'stream' | 'buffered', RunningApp> = {} as never;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meetstream-runner-'));
    fs.mkdirSync(path.join(dir, 'functions'));
    fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ main: 'functions/*.js' }));
    fs.writeFileSync(path.join(dir, 'host.json'), JSON.stringify({ version: '2.0' }));
    fs.writeFileSync(path.join(dir, 'functions', 'app.js'), APP);
    [apps.stream, apps.buffered] = await Promise.all([startApp(dir, true), startApp(dir, false)]);
  });

  afterAll(async () => {
    await Promise.all(Object.values(apps).map((a) => a?.runner.stop()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test.each(['stream', 'buffered'] as const)(
    '%s mode: request body, route params, query, headers and status come through unchanged',
    async (mode) => {
      const body = 'x'.repeat(300_000);
      const res = await fetch(`${apps[mode].url}/echo/ann?q=1`, {
        method: 'POST',
        headers: { 'x-in': 'hello', 'content-type': 'text/plain' },
        body,
      });
      expect(res.status).toBe(201);
      expect(res.headers.get('x-echo')).toBe('hello');
      expect(await res.json()).toEqual({ method: 'POST', name: 'ann', q: '1', body, length: 300_000 });
    },
  );

  test('X-Forwarded-For is replaced by the peer the host proxy saw in stream mode, appended to otherwise', async () => {
    const headers = { 'x-forwarded-for': '198.51.100.7' };
    const streamed = await (await fetch(`${apps.stream.url}/whoami`, { headers })).text();
    expect(streamed).toMatch(/^(127\.0\.0\.1|::1|::ffff:127\.0\.0\.1)$/);
    const buffered = await (await fetch(`${apps.buffered.url}/whoami`, { headers })).text();
    expect(buffered).toMatch(/^198\.51\.100\.7, (127\.0\.0\.1|::1|::ffff:127\.0\.0\.1)$/);
  });

  test.each(['stream', 'buffered'] as const)(
    '%s mode: a handler that throws gets a 500 problem, one that returns nothing a 204',
    async (mode) => {
      const thrown = await fetch(`${apps[mode].url}/throws`);
      expect(thrown.status).toBe(500);
      expect(thrown.headers.get('content-type')).toContain('application/problem+json');
      await thrown.text();
      const nothing = await fetch(`${apps[mode].url}/nothing`);
      expect(nothing.status).toBe(204);
      // And the host still serves the next request normally.
      expect(await (await fetch(`${apps[mode].url}/ping`)).text()).toBe('pong');
    },
  );

  test('stream mode delivers a streamed body chunk by chunk, as it is written', async () => {
    const t0 = Date.now();
    const res = await fetch(`${apps.stream.url}/drip`);
    const reader = res.body!.getReader();
    const first = await reader.read();
    const firstAt = Date.now() - t0;
    let text = new TextDecoder().decode(first.value);
    for (let r = await reader.read(); !r.done; r = await reader.read())
      text += new TextDecoder().decode(r.value);
    const total = Date.now() - t0;
    expect(text).toBe('chunk0\nchunk1\nchunk2\n');
    // The first chunk arrived well before the last one was written (2 × 300 ms later).
    expect(total - firstAt).toBeGreaterThanOrEqual(450);
  });

  test('a client that goes away mid-stream does not disturb the host', async () => {
    const controller = new AbortController();
    const res = await fetch(`${apps.stream.url}/drip`, { signal: controller.signal });
    await res.body!.getReader().read();
    controller.abort();
    expect(await (await fetch(`${apps.stream.url}/ping`)).text()).toBe('pong');
    expect(apps.stream.logs.join('\n')).not.toMatch(/HTTP host error/);
  });

  test('stream mode adds little latency per request (measured against buffered mode)', async () => {
    await latencies(`${apps.stream.url}/ping`, 50);
    await latencies(`${apps.buffered.url}/ping`, 50);
    const stream = await latencies(`${apps.stream.url}/ping`, 300);
    const buffered = await latencies(`${apps.buffered.url}/ping`, 300);
    const summary = {
      bufferedP50: percentile(buffered, 50),
      streamP50: percentile(stream, 50),
      bufferedP99: percentile(buffered, 99),
      streamP99: percentile(stream, 99),
    };
    console.log(
      `runner latency per request (ms): buffered p50 ${summary.bufferedP50.toFixed(2)} p99 ${summary.bufferedP99.toFixed(2)}; ` +
        `stream p50 ${summary.streamP50.toFixed(2)} p99 ${summary.streamP99.toFixed(2)}; ` +
        `added p50 ${(summary.streamP50 - summary.bufferedP50).toFixed(2)}`,
    );
    // A loose bound (a shared 2-core machine): one extra loopback hop, not a redesign.
    expect(summary.streamP50 - summary.bufferedP50).toBeLessThan(10);
  });
});
