/**
 * `npm start`: the whole system on this machine with no cloud and no Docker.
 * PORT (7071), COSMOS_PORT (8081), WEBPUBSUB_PORT (8088), MEETSTREAM_DATA_DIR (./.data).
 * The HTTP functions and the change-feed / timer functions run in two runner processes (one core
 * each; docs/benchmarks.md); RUNNER_SEPARATE_PROCESSOR=0 runs them all in one.
 */
import * as path from 'node:path';
import { guardAgainstProduction } from './productionGuard';
import { readLocalSettings } from './runner/settings';
import { startStack } from './stack';

async function main(): Promise<void> {
  const appDir = path.resolve(__dirname, '..', '..');
  const settings = readLocalSettings(appDir);
  const values = { ...settings.values };
  for (const key of Object.keys(values)) if (process.env[key] !== undefined) values[key] = process.env[key]!;
  guardAgainstProduction('npm start', { ...process.env, ...values });
  const dataDir = path.resolve(process.env.MEETSTREAM_DATA_DIR ?? path.join(appDir, '.data'));
  const port = (name: string, fallback: number) => Number(process.env[name] ?? fallback);

  console.log(
    `meetstream: starting the local stack (settings: ${settings.file ? path.basename(settings.file) : 'none'}, data: ${dataDir})`,
  );
  const stack = await startStack({
    appDir,
    dataDir,
    settings: values,
    ports: {
      http: port('PORT', 7071),
      cosmos: port('COSMOS_PORT', 8081),
      webPubSub: port('WEBPUBSUB_PORT', 8088),
    },
    onLine: (service, line) => console.log(`[${service}] ${line}`),
    separateProcessor: process.env.RUNNER_SEPARATE_PROCESSOR !== '0',
  });

  console.log('');
  console.log(
    `  Web app        ${stack.apiUrl.replace(/\/api$/, '')}/   (open it in two windows to hold a meeting)`,
  );
  console.log(`  API            ${stack.apiUrl}   (try: curl ${stack.apiUrl}/health)`);
  console.log(
    `  Cosmos DB      ${stack.cosmos ? stack.cosmos.info.endpoint + '  (embedded)' : 'from settings'}`,
  );
  console.log(
    `  Web PubSub     ${stack.webPubSub ? stack.webPubSub.info.endpoint + '  (embedded)' : 'from settings'}`,
  );
  console.log('  Ctrl-C stops everything; data stays in the data folder.');
  console.log('');

  let stopping = false;
  const stop = (code: number) => {
    if (stopping) return;
    stopping = true;
    console.log('meetstream: stopping…');
    stack.stop().then(
      () => process.exit(code),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => stop(0));
  process.on('SIGTERM', () => stop(0));
  for (const svc of [stack.cosmos, stack.webPubSub, stack.runner, stack.processor]) {
    void svc?.exited.then(async (code) => {
      // Ctrl-C reaches the whole process group at once: a child may exit a moment before our own
      // SIGINT handler runs. Only an exit that is not followed by a stop request is a failure.
      await new Promise((r) => setTimeout(r, 250));
      if (stopping) return;
      console.error(`meetstream: ${svc.name} exited unexpectedly (code ${code}); stopping the stack.`);
      stop(1);
    });
  }
}

main().catch((err: unknown) => {
  console.error(`meetstream: failed to start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
