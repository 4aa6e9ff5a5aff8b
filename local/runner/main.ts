/**
 * `node dist/local/runner/main.js [appDir]`: runs the function app like `func start`.
 * Settings: local.settings.json (or the sample) merged under the environment. PORT (default
 * 7071), RUNNER_HOST (127.0.0.1; not HOST, which shells and scripts often set to other things), LOCAL_FUNCTION_KEY (enforce function keys), LOCAL_CORS_ORIGINS (browser
 * origins allowed to call the API, `*` or a comma list; else local.settings.json's Host.CORS), RUNNER_INSTANCE_ID,
 * RUNNER_TRIGGERS (which trigger kinds to serve: http, cosmosDB, timer; default all).
 * When ready prints one JSON line `{"service":"runner","ready":true,...}` for supervisors.
 * RUNNER_HEAP_PROBE=1 (local diagnostics, used by `npm run reliability`; start node with
 * --expose-gc): on SIGUSR2 the runner runs a full GC and prints one JSON line
 * `{"heapProbe":true,"gc":true,"heapUsed":…,"heapTotal":…,"rss":…,"external":…,"arrayBuffers":…}`
 * (bytes), so a supervisor can tell live heap from memory the process merely keeps.
 */
import { createHash } from 'node:crypto';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseTriggerKinds, startRunner } from './runner';
import { startErrorText } from '../startError';
import { applySettings, parseCorsOrigins, readLocalSettings } from './settings';

/** See RUNNER_HEAP_PROBE above. Installed first, so an early SIGUSR2 cannot kill the process. */
function installHeapProbe(): void {
  if (process.env.RUNNER_HEAP_PROBE !== '1') return;
  process.on('SIGUSR2', () => {
    const gc = (globalThis as { gc?: () => void }).gc;
    if (gc) gc();
    const m = process.memoryUsage();
    console.log(
      JSON.stringify({
        heapProbe: true,
        gc: Boolean(gc),
        heapUsed: m.heapUsed,
        heapTotal: m.heapTotal,
        rss: m.rss,
        external: m.external,
        arrayBuffers: m.arrayBuffers,
      }),
    );
  });
}

async function main(): Promise<void> {
  installHeapProbe();
  const appDir = path.resolve(process.argv[2] ?? process.cwd());
  const settings = readLocalSettings(appDir);
  applySettings(settings.values);
  const port = Number(process.env.PORT ?? 7071);
  // Stable per machine and app, so a restarted runner takes its own lease back at once.
  const instanceId =
    process.env.RUNNER_INSTANCE_ID ??
    `${os.hostname()}-${createHash('sha256').update(appDir).digest('hex').slice(0, 8)}`;
  const runner = await startRunner({
    appDir,
    port,
    host: runnerHost(),
    functionKey: process.env.LOCAL_FUNCTION_KEY || undefined,
    corsOrigins: parseCorsOrigins(process.env.LOCAL_CORS_ORIGINS ?? settings.cors),
    instanceId,
    triggers: parseTriggerKinds(process.env.RUNNER_TRIGGERS),
  });
  console.log(`Functions runner: ${runner.functions.length} functions loaded from ${appDir}`);
  if (settings.file) console.log(`Settings: ${path.basename(settings.file)}`);
  for (const f of runner.functions) console.log(`  ${f.name}: ${f.trigger} ${f.detail}`);
  console.log(JSON.stringify({ service: 'runner', ready: true, url: runner.url, port: runner.port }));

  let closing = false;
  const shutdown = () => {
    if (closing) return;
    closing = true;
    runner.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

/** The interface to bind: a host name or address, refused with the setting's name otherwise. */
function runnerHost(): string {
  const host = process.env.RUNNER_HOST?.trim() || '127.0.0.1';
  if (!/^[A-Za-z0-9.:-]{1,253}$/.test(host) || host.includes('..')) {
    throw new Error(
      `RUNNER_HOST must be a host name or IP address to listen on (got ${JSON.stringify(host.slice(0, 40))})`,
    );
  }
  return host;
}

main().catch((err: unknown) => {
  console.error(`Runner failed to start: ${startErrorText(err, 'PORT')}`);
  process.exit(1);
});
