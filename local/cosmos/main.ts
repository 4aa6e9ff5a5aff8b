/**
 * Runs the embedded Cosmos DB as its own process.
 *   COSMOS_PORT          default 8081 (0 = ephemeral)
 *   COSMOS_HOST          default 127.0.0.1
 *   MEETSTREAM_DATA_DIR  data is kept under <dir>/cosmos; unset = in memory only
 *   COSMOS_PARTITION_RANGES  physical partition key ranges per container (ranges.ts), default 1
 *   COSMOS_FAULTS        fault injection for tests, e.g. `throttle=0.2,retryAfterMs=20` (faults.ts); off by default
 *   COSMOS_TLS_CERT_FILE, COSMOS_TLS_KEY_FILE  PEM files: serve https (as Azure and the emulator do)
 * When listening it prints exactly one JSON line to stdout:
 *   {"service":"cosmos","ready":true,"endpoint":"http://127.0.0.1:PORT/","port":PORT}
 * SIGINT/SIGTERM close it cleanly (journal flushed, lock released) and exit 0.
 */
import * as fs from 'node:fs';
import { startErrorText } from '../startError';
import * as path from 'node:path';
import { parseFaults } from './faults';
import { startEmbeddedCosmos } from './server';

async function main(): Promise<void> {
  const portText = process.env.COSMOS_PORT || '8081';
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid COSMOS_PORT ${portText}`);
  const dataRoot = process.env.MEETSTREAM_DATA_DIR;
  const cosmos = await startEmbeddedCosmos({
    port,
    host: process.env.COSMOS_HOST || undefined,
    dataDir: dataRoot ? path.join(path.resolve(dataRoot), 'cosmos') : undefined,
    faults: parseFaults(process.env.COSMOS_FAULTS),
    partitionRanges: Number(process.env.COSMOS_PARTITION_RANGES || 1),
    ...(process.env.COSMOS_TLS_CERT_FILE && process.env.COSMOS_TLS_KEY_FILE
      ? {
          tls: {
            cert: fs.readFileSync(process.env.COSMOS_TLS_CERT_FILE, 'utf8'),
            key: fs.readFileSync(process.env.COSMOS_TLS_KEY_FILE, 'utf8'),
          },
        }
      : {}),
  });
  process.stdout.write(
    `${JSON.stringify({ service: 'cosmos', ready: true, endpoint: cosmos.endpoint, port: cosmos.port })}\n`,
  );
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    cosmos.close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error('embedded cosmos: close failed', err);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((err: unknown) => {
  console.error(`embedded cosmos: ${startErrorText(err, 'COSMOS_PORT')}`);
  process.exit(1);
});
